import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A role's own key pair and self-signed certificate (P-256, ECDSA-SHA256). Peers trust it
/// by pinning its key's fingerprint, not through a CA.
public struct Identity: Sendable {
    public let privateKey: P256.Signing.PrivateKey
    public let certificate: Certificate
    /// SHA-256 over the DER SubjectPublicKeyInfo of the key.
    public let fingerprint: Fingerprint
    public let certificatePEM: String
    /// PKCS#8 ("BEGIN PRIVATE KEY").
    public let privateKeyPEM: String

    /// The name in the certificate's subject alternative names: a client that checks host
    /// names (grpcio) is told to expect it (`grpc.ssl_target_name_override`).
    public static func hostName(role: String) -> String { "\(role).trabant.invalid" }

    /// A fresh key and a certificate valid for 20 years (the pin, not the dates, is what peers
    /// trust; a long validity keeps clients that check dates working).
    public static func generate(role: String, now: Date = Date()) throws(PKIError) -> Identity {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let fingerprint = Fingerprint(spki: key.publicKey.derRepresentation)
        do {
            let name = try DistinguishedName {
                OrganizationName("Trabant")
                CommonName("trabant \(role) \(fingerprint.shortCode)")
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(20 * 365 * 86400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames([.dnsName(hostName(role: role))])
                },
                issuerPrivateKey: Certificate.PrivateKey(key))
            return try Identity(certificatePEM: certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
        } catch let e as PKIError {
            throw e
        } catch {
            throw PKIError(.badCertificate, "could not make a self-signed certificate: \(error)")
        }
    }

    /// From PEM texts; the key must be a P-256 key and belong to the certificate.
    public init(certificatePEM: String, privateKeyPEM: String) throws(PKIError) {
        let key: P256.Signing.PrivateKey
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw PKIError(.badKey, "the private key is not a PEM P-256 key (PKCS#8 or SEC1): \(error)")
        }
        let cert: Certificate
        do {
            cert = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw PKIError(.badCertificate, "the certificate is not a PEM X.509 certificate: \(error)")
        }
        guard cert.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw PKIError(.badKey, "the private key does not belong to the certificate")
        }
        privateKey = key
        certificate = cert
        fingerprint = Fingerprint(spki: key.publicKey.derRepresentation)
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    public func nioCertificate() throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)
    }

    public func nioPrivateKey() throws -> NIOSSLPrivateKey {
        try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
    }
}
