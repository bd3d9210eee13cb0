import Crypto
import CryptoExtras
import Foundation
import NIOSSL
import PushEmulator
import TestSupport
import Testing

@testable import Push
@testable import PushPayload

/// APNs certificate authentication: the app's client certificate instead of a provider
/// token; the emulator, like APNs, checks the chain and the certificate's topic (UID).
@Suite("Push: APNs certificate authentication", .serialized)
struct APNsCertificateTests {
    static let token = String(repeating: "0f", count: 32)
    static let notice = CallNotice(kind: .call, callID: "c-9", caller: "Alice", gateway: "wss://gw.example.com", sentAt: 1)

    static func emulator() async throws -> ProviderEmulator {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return try await ProviderEmulator(
            apnsKey: P256.Signing.PrivateKey().publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
            fcmKey: rsa.publicKey, fcmProject: "p", fcmEmail: "e@p.iam.gserviceaccount.com", tokenURI: { "https://oauth2.googleapis.com:\($0)/token" })
    }

    static func sender(_ e: ProviderEmulator, _ certificate: APNsCertificate) throws -> PushSender {
        try PushSender(settings: PushSettings(
            apns: .init(auth: .certificate(certificate), environment: .sandbox, bundleID: "com.example.phone",
                baseURL: "https://api.sandbox.push.apple.com:\(e.port)"),
            trustRoots: [try e.ca.nioRoot], dnsOverride: ["api.sandbox.push.apple.com": "127.0.0.1"],
            retry: RetryPolicy(attempts: 1)))
    }

    @Test func aCertificateAuthenticatesWithoutAProviderToken() async throws {
        let e = try await Self.emulator()
        defer { e.stop() }
        let issued = try e.ca.issue(uid: "com.example.phone")
        let cert = try APNsCertificate(certificatePEM: Array(issued.certificatePEM.utf8), keyPEM: Array(issued.keyPEM.utf8))
        #expect(cert.bundleID == "com.example.phone")
        let s = try Self.sender(e, cert)
        let device = Curve25519.KeyAgreement.PrivateKey()
        let key = DevicePushKey(id: "d", publicKey: device.publicKey)
        #expect(await s.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key).outcome == .delivered)
        #expect(await s.send(Self.notice, to: .apns(token: Self.token, type: .alert), key: key).outcome == .delivered)
        #expect(e.state.withLock { $0.certificatePushes } == 2)
        #expect(e.pushes.allSatisfy { $0.headers["authorization"] == nil }, "no provider token with a certificate")
        try await s.shutdown()
    }

    @Test func anotherAppsCertificateOrAnUntrustedOneIsRefused() async throws {
        let e = try await Self.emulator()
        defer { e.stop() }
        // Another app's certificate: APNs answers TopicDisallowed.
        let other = try e.ca.issue(uid: "com.other.app")
        let s1 = try Self.sender(e, try APNsCertificate(certificatePEM: Array(other.certificatePEM.utf8), keyPEM: Array(other.keyPEM.utf8)))
        let key = DevicePushKey(id: "d", publicKey: Curve25519.KeyAgreement.PrivateKey().publicKey)
        #expect(await s1.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key).outcome
            == .rejected(status: 400, reason: "TopicDisallowed"))
        try await s1.shutdown()
        // A certificate Apple did not issue: the TLS handshake fails, nothing is pushed.
        let stranger = try TestCA(names: ["x"]).issue(uid: "com.example.phone")
        let s2 = try Self.sender(e, try APNsCertificate(certificatePEM: Array(stranger.certificatePEM.utf8), keyPEM: Array(stranger.keyPEM.utf8)))
        let r = await s2.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key)
        try await s2.shutdown()
        // The server's TLS alert refuses our certificate: not retried, named for the operator.
        guard case .rejected(0, let reason) = r.outcome else { Issue.record("expected a refusal, got \(r)"); return }
        #expect(reason.contains("TLS with api.sandbox.push.apple.com failed: TLSV1_ALERT") && reason.contains("com.example.phone"), "\(reason)")
        #expect(r.attempts == 1)
        #expect(e.accepted == 0)
    }

    @Test func badCertificateFilesGetClearErrors() throws {
        let ca = try TestCA(names: ["x"])
        let expired = try ca.issue(uid: "com.example.phone", days: -0.5)
        do {
            _ = try APNsCertificate(certificatePEM: Array(expired.certificatePEM.utf8), keyPEM: Array(expired.keyPEM.utf8))
            Issue.record("an expired certificate was taken")
        } catch { #expect(error.message.contains("expired")) }
        let server = try ca.issue(names: ["relay.example"])
        do {
            _ = try APNsCertificate(certificatePEM: Array(server.certificatePEM.utf8), keyPEM: Array(server.keyPEM.utf8))
            Issue.record("a certificate without UID was taken")
        } catch { #expect(error.message.contains("UID")) }
        let another = try ca.issue(uid: "com.example.phone")
        let valid = try ca.issue(uid: "com.example.phone")
        do {
            _ = try APNsCertificate(certificatePEM: Array(valid.certificatePEM.utf8), keyPEM: Array(another.keyPEM.utf8))
            Issue.record("a key of another certificate was taken")
        } catch { #expect(error.message.contains("does not belong"), "\(error)") }
        do {
            _ = try APNsCertificate(certificatePEM: Array("not pem".utf8), keyPEM: [])
            Issue.record("garbage was taken")
        } catch { #expect(error.message.contains("apns.certificate_file")) }
    }

    /// What Keychain Access exports: a PKCS#12 file with a passphrase (made here by openssl).
    @Test func aPKCS12FileWithItsPassphrase() async throws {
        guard let openssl = try requireTool("openssl") else { return }
        let ca = try TestCA(names: ["x"])
        let issued = try ca.issue(uid: "com.example.phone")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p12-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try issued.certificatePEM.write(toFile: dir + "/c.pem", atomically: true, encoding: .utf8)
        try issued.keyPEM.write(toFile: dir + "/k.pem", atomically: true, encoding: .utf8)
        let run = try await External.run(openssl, ["pkcs12", "-export", "-in", dir + "/c.pem", "-inkey", dir + "/k.pem",
            "-out", dir + "/a.p12", "-passout", "pass:s3cret"], timeout: 20)
        #expect(run.status == 0, "\(run.output)")
        let p12 = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.p12")))
        #expect(try APNsCertificate(p12: p12, passphrase: "s3cret").bundleID == "com.example.phone")
        do {
            _ = try APNsCertificate(p12: p12, passphrase: "wrong")
            Issue.record("a wrong passphrase was taken")
        } catch { #expect(error.message.contains("passphrase")) }
    }
}
