import NIOCore
import NIOSSL

/// A TLS peer check that accepts exactly the pinned keys: the leaf certificate's key must
/// have one of the fingerprints; chains, names and dates do not matter (RFC 7469's idea,
/// for two roles that pair once).
public enum PinnedPeers {
    /// The fingerprint of the leaf certificate's key, or nil when it cannot be read.
    public static func fingerprint(of certificate: NIOSSLCertificate) -> Fingerprint? {
        guard let spki = try? certificate.extractPublicKey().toSPKIBytes() else { return nil }
        return Fingerprint(spki: spki)
    }

    /// A NIOSSL custom verification callback (`NIOSSLCustomVerificationCallback`): `pins()` is asked at every handshake (pins
    /// change when pairing or rotating); `refused` hears the fingerprints it turned away.
    public static func verifier(
        pins: @escaping @Sendable () -> Set<Fingerprint>,
        refused: @escaping @Sendable (Fingerprint?) -> Void = { _ in }
    ) -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void {
        { certificates, promise in
            let leaf = certificates.first.flatMap(fingerprint(of:))
            if let leaf, pins().contains(leaf) {
                promise.succeed(.certificateVerified)
            } else {
                refused(leaf)
                promise.succeed(.failed)
            }
        }
    }
}

import SwiftASN1
import X509

extension Fingerprint {
    /// The fingerprint of a certificate's key (SHA-256 over its DER SubjectPublicKeyInfo).
    public init(certificate: Certificate) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        self.init(spki: serializer.serializedBytes)
    }
}
