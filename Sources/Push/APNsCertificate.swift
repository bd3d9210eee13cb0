import Foundation
import NIOSSL
import SwiftASN1
import X509

/// APNs certificate authentication: the TLS client certificate Apple issues per app
/// ("Establishing a certificate-based connection to APNs"). Its subject's UID is the app's
/// bundle id; the connection may then push to that topic (and `.voip` for VoIP Services
/// certificates) without a provider token.
public struct APNsCertificate: Sendable {
    public let chain: [NIOSSLCertificate]
    public let key: NIOSSLPrivateKey
    /// The bundle id in the certificate's subject (UID).
    public let bundleID: String
    public let notValidAfter: Date

    /// From a PKCS#12 file (what Keychain Access exports) or PEM certificate + key.
    public init(p12: [UInt8], passphrase: String?, now: Date = Date()) throws(PushError) {
        let bundle: NIOSSLPKCS12Bundle
        do {
            bundle = try NIOSSLPKCS12Bundle(buffer: p12, passphrase: passphrase.map { Array($0.utf8) })
        } catch {
            throw PushError(.configuration, "apns.certificate_file: not a PKCS#12 file, or the passphrase is wrong (\(error))")
        }
        try self.init(chain: bundle.certificateChain, key: bundle.privateKey, now: now)
    }

    public init(certificatePEM: [UInt8], keyPEM: [UInt8], now: Date = Date()) throws(PushError) {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificatePEM)
        } catch {
            throw PushError(.configuration, "apns.certificate_file: no PEM certificate in it (\(error))")
        }
        do {
            key = try NIOSSLPrivateKey(bytes: keyPEM, format: .pem)
        } catch {
            throw PushError(.configuration, "apns.certificate_key_file: not a PEM private key (\(error))")
        }
        try self.init(chain: chain, key: key, now: now)
    }

    init(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, now: Date) throws(PushError) {
        guard let leaf = chain.first, let der = try? leaf.toDERBytes(), let cert = try? Certificate(derEncoded: der) else {
            throw PushError(.configuration, "apns.certificate_file: holds no readable certificate")
        }
        guard let uid = Self.uid(of: cert) else {
            throw PushError(
                .configuration, "apns.certificate_file: the certificate's subject has no UID (the bundle id); is it an APNs certificate?")
        }
        guard cert.notValidAfter > now else {
            throw PushError(.configuration, "apns.certificate_file: the certificate for \(uid) expired on \(cert.notValidAfter)")
        }
        var check = TLSConfiguration.makeClientConfiguration()
        check.certificateChain = chain.map { .certificate($0) }
        check.privateKey = .privateKey(key)
        guard (try? NIOSSLContext(configuration: check)) != nil else {
            throw PushError(.configuration, "apns.certificate_key_file: the key does not belong to the certificate for \(uid)")
        }
        self.chain = chain
        self.key = key
        self.bundleID = uid
        self.notValidAfter = cert.notValidAfter
    }

    /// OID 0.9.2342.19200300.100.1.1 (userId), where Apple puts the bundle id.
    static let uidOID: ASN1ObjectIdentifier = [0, 9, 2342, 19_200_300, 100, 1, 1]

    static func uid(of cert: Certificate) -> String? {
        for rdn in cert.subject {
            for attribute in rdn where attribute.type == uidOID {
                if let text = String(attribute.value), !text.isEmpty { return text }
            }
        }
        return nil
    }
}

/// How the server authenticates to APNs: a provider token (.p8) or the app's certificate.
public enum APNsAuth: Sendable {
    case token(APNsCredentials)
    case certificate(APNsCertificate)
}
