import Crypto
import CryptoExtras
import Foundation
import NIOSSL
import PushEmulator
import Testing

@testable import Push
@testable import PushPayload

/// Pushes over HTTP/2 + TLS to emulators of APNs, Google's OAuth2 endpoint and FCM, with
/// certificate verification on (a private CA the sender is told to trust).
@Suite("Push: HTTP/2 to the provider emulators", .serialized)
struct PushTransportTests {
    /// The world of one test: keys, an emulator, a sender pointed at it by name.
    struct World {
        let emulator: ProviderEmulator
        let sender: PushSender
        let device: Curve25519.KeyAgreement.PrivateKey
        var key: DevicePushKey { DevicePushKey(id: "dev-1", publicKey: device.publicKey) }
        static let apnsToken = String(repeating: "0f", count: 32)

        static func make(
            trustEmulator: Bool = true, proxy: PushSettings.Proxy? = nil, dnsOverride: Bool = true,
            retry: RetryPolicy = RetryPolicy(attempts: 3, base: 0.05, cap: 0.2), requestTimeout: Double = 20
        ) async throws -> World {
            let apnsKey = P256.Signing.PrivateKey()
            let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let emulator = try await ProviderEmulator(
                apnsKey: apnsKey.publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
                fcmKey: rsa.publicKey, fcmProject: "trabant-test", fcmEmail: "push@trabant-test.iam.gserviceaccount.com",
                tokenURI: { "https://oauth2.googleapis.com:\($0)/token" })
            let account = try FCMServiceAccount(
                json: try JSONSerialization.data(withJSONObject: [
                    "type": "service_account", "project_id": "trabant-test", "private_key_id": "k1",
                    "private_key": rsa.pemRepresentation, "client_email": "push@trabant-test.iam.gserviceaccount.com",
                    "token_uri": emulator.tokenURI,
                ]))
            let port = emulator.port
            var settings = PushSettings(
                apns: .init(
                    credentials: try APNsCredentials(p8: apnsKey.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                    environment: .production, bundleID: "com.example.phone", baseURL: "https://api.push.apple.com:\(port)"),
                fcm: .init(account: account, baseURL: "https://fcm.googleapis.com:\(port)"), proxy: proxy,
                trustRoots: trustEmulator ? [try emulator.ca.nioRoot] : nil,
                dnsOverride: dnsOverride ? Dictionary(uniqueKeysWithValues: ProviderEmulator.names.map { ($0, "127.0.0.1") }) : [:],
                ringTime: 45, retry: retry)
            settings.requestTimeout = requestTimeout
            return World(emulator: emulator, sender: try PushSender(settings: settings), device: Curve25519.KeyAgreement.PrivateKey())
        }

        func stop() async {
            try? await sender.shutdown()
            emulator.stop()
        }
    }

    static let notice = CallNotice(kind: .call, callID: "c-1", caller: "Alice", gateway: "wss://gw.example.com", sentAt: 1)

    @Test func aVoIPPushReachesAPNsSealed() async throws {
        let w = try await World.make()
        let before = Date().timeIntervalSince1970
        let r = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        let after = Date().timeIntervalSince1970
        #expect(r == PushResult(outcome: .delivered, attempts: 1))
        let push = try #require(w.emulator.pushes.first)
        #expect(push.headers["apns-topic"] == "com.example.phone.voip")
        #expect(push.headers["apns-push-type"] == "voip")
        let expiration = Double(push.headers["apns-expiration"] ?? "0") ?? 0
        // Sent between `before` and `after`: it expires 45 s (the ring time) after that.
        #expect(expiration >= (before + 45).rounded(.down) && expiration <= after + 45, "expires within the ring time")
        // What APNs saw opens only with the device's key.
        let sealed = try JSONDecoder().decode(SealedNotice.self, from: JSONSerialization.data(withJSONObject: push.body["trabant"]!))
        #expect(try NoticeSeal.open(sealed, with: w.device) == Self.notice)
        #expect(!String(decoding: push.bytes, as: UTF8.self).contains("Alice"))
        // One provider token for many pushes.
        for _ in 0..<5 { _ = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key) }
        #expect(w.emulator.state.withLock { $0.apnsTokensSeen.count } == 1)
        await w.stop()
    }

    @Test func anFCMCallMessageWithOAuth2() async throws {
        let w = try await World.make()
        for _ in 0..<3 {
            let r = await w.sender.send(Self.notice, to: .fcm(token: "fcm:device-1"), key: w.key)
            #expect(r.outcome == .delivered)
        }
        #expect(w.emulator.state.withLock { $0.tokenRequests } == 1, "the access token is cached")
        let push = try #require(w.emulator.pushes.first)
        let android = (push.body["message"] as? [String: Any])?["android"] as? [String: String]
        #expect(android == ["priority": "high", "ttl": "45s"])
        #expect(w.sender.counters["fcm.delivered"] == 3)
        await w.stop()
    }

    @Test func deadTokensAreReportedNotRetried() async throws {
        let w = try await World.make()
        w.emulator.state.withLock { $0.deadTokens = [World.apnsToken, "fcm:gone"] }
        let a = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        #expect(a == PushResult(outcome: .deadToken(reason: "Unregistered"), attempts: 1))
        let f = await w.sender.send(Self.notice, to: .fcm(token: "fcm:gone"), key: w.key)
        #expect(f == PushResult(outcome: .deadToken(reason: "UNREGISTERED"), attempts: 1))
        #expect(w.sender.counters["apns.dead_token"] == 1 && w.sender.counters["fcm.dead_token"] == 1)
        await w.stop()
    }

    @Test func overloadIsRetriedHonouringRetryAfterThenGivenUp() async throws {
        let w = try await World.make()
        w.emulator.force(429, #"{"reason":"TooManyRequests"}"#, retryAfter: "0", times: 2)
        let r = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        #expect(r == PushResult(outcome: .delivered, attempts: 3))
        w.emulator.force(503, #"{"reason":"ServiceUnavailable"}"#, times: 3)
        let gaveUp = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        #expect(gaveUp.attempts == 3)
        #expect(gaveUp.outcome == .retry(reason: "ServiceUnavailable", after: nil))
        #expect(w.sender.counters["apns.gave_up"] == 1)
        await w.stop()
    }

    @Test func aProviderWithAnUntrustedCertificateFailsClosed() async throws {
        let w = try await World.make(trustEmulator: false)
        let r = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        guard case .rejected(_, let reason) = r.outcome else {
            Issue.record("expected a refused TLS handshake, got \(r.outcome)")
            return
        }
        #expect(r.attempts == 1, "not retried: a certificate that does not verify stays so")
        #expect(reason.contains("CERTIFICATE_VERIFY_FAILED"), "\(reason)")
        #expect(w.emulator.pushes.isEmpty, "nothing reached the emulator")
        await w.stop()
    }
}
