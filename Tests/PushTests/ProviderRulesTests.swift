import AsyncHTTPClient
import Crypto
import CryptoExtras
import Foundation
import NIOCore
import NIOSSL
import PushEmulator
import Testing

@testable import Push
@testable import PushPayload

/// The providers' rules as the emulators enforce them, and the sender's answers to them:
/// bad provider tokens, refused service accounts, retries that would outlive the ring, the
/// hosts per environment, outcomes that must not empty the directory.
@Suite("Push: provider rules", .serialized)
struct ProviderRulesTests {
    static let token = String(repeating: "0f", count: 32)
    static let notice = CallNotice(kind: .call, callID: "c-5", caller: "Alice", gateway: "wss://gw", sentAt: 1)

    struct Keys {
        let apns = P256.Signing.PrivateKey()
        let rsa: _RSA.Signing.PrivateKey
    }

    static func emulator(_ k: Keys) async throws -> ProviderEmulator {
        try await ProviderEmulator(
            apnsKey: k.apns.publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
            fcmKey: k.rsa.publicKey, fcmProject: "p", fcmEmail: "push@p.iam.gserviceaccount.com",
            tokenURI: { "https://oauth2.googleapis.com:\($0)/token" })
    }

    /// POSTs a VoIP push with this provider token straight to the emulator; returns (status, reason).
    static func apnsWith(jwt: String, _ e: ProviderEmulator) async throws -> (Int, String) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try e.ca.nioRoot])
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.dnsOverride = ["api.push.apple.com": "127.0.0.1"]
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        var req = HTTPClientRequest(url: "https://api.push.apple.com:\(e.port)/3/device/\(token)")
        req.method = .POST
        req.headers.add(name: "authorization", value: "bearer \(jwt)")
        req.headers.add(name: "apns-push-type", value: "voip")
        req.headers.add(name: "apns-topic", value: "com.example.phone.voip")
        req.headers.add(name: "apns-expiration", value: "0")
        req.body = .bytes(ByteBuffer(string: #"{"trabant":{"v":1,"kid":"k","enc":"e","ct":"c"}}"#))
        let response = try await client.execute(req, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 4096))
        try await client.shutdown()
        let reason = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["reason"] as? String ?? ""
        return (Int(response.status.code), reason)
    }

    struct Claims: Encodable {
        let iss: String
        let iat: Int
    }

    @Test func theAPNsEmulatorRefusesBadProviderTokens() async throws {
        let k = Keys(rsa: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let e = try await Self.emulator(k)
        defer { e.stop() }
        let now = Int(Date().timeIntervalSince1970)
        let good = try JWT.es256(kid: "KEY1234567", claims: Claims(iss: "TEAM123456", iat: now), key: k.apns)
        #expect(try await Self.apnsWith(jwt: good, e) == (200, ""))
        let cases: [(String, String, String)] = [
            ("another key id", try JWT.es256(kid: "OTHER12345", claims: Claims(iss: "TEAM123456", iat: now), key: k.apns), "InvalidProviderToken"),
            ("another team", try JWT.es256(kid: "KEY1234567", claims: Claims(iss: "OTHER12345", iat: now), key: k.apns), "InvalidProviderToken"),
            ("another key", try JWT.es256(kid: "KEY1234567", claims: Claims(iss: "TEAM123456", iat: now), key: P256.Signing.PrivateKey()),
             "InvalidProviderToken"),
            ("from the future", try JWT.es256(kid: "KEY1234567", claims: Claims(iss: "TEAM123456", iat: now + 3600), key: k.apns),
             "InvalidProviderToken"),
            ("older than an hour", try JWT.es256(kid: "KEY1234567", claims: Claims(iss: "TEAM123456", iat: now - 3700), key: k.apns),
             "ExpiredProviderToken"),
            ("not a JWT", "garbage", "InvalidProviderToken"),
        ]
        for (what, jwt, reason) in cases {
            let (status, got) = try await Self.apnsWith(jwt: jwt, e)
            #expect(status == 403 && got == reason, "\(what): \(status) \(got)")
        }
        #expect(e.accepted == 1)
    }

    @Test func aRefusedServiceAccountIsAConfigurationErrorNotRetried() async throws {
        let k = Keys(rsa: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let e = try await Self.emulator(k)
        defer { e.stop() }
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let account = try FCMServiceAccount(json: try JSONSerialization.data(withJSONObject: [
            "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": other.pemRepresentation,
            "client_email": "push@p.iam.gserviceaccount.com", "token_uri": e.tokenURI,
        ]))
        let s = try PushSender(settings: PushSettings(
            fcm: .init(account: account, baseURL: "https://fcm.googleapis.com:\(e.port)"), trustRoots: [try e.ca.nioRoot],
            dnsOverride: Dictionary(uniqueKeysWithValues: ProviderEmulator.names.map { ($0, "127.0.0.1") }),
            retry: RetryPolicy(attempts: 3, base: 0.01, cap: 0.02)))
        let r = await s.send(Self.notice, to: .fcm(token: "fcm:x"), key: DevicePushKey(id: "d", publicKey: Curve25519.KeyAgreement.PrivateKey().publicKey))
        try await s.shutdown()
        guard case .rejected(_, let reason) = r.outcome else { Issue.record("expected a refusal, got \(r)"); return }
        #expect(reason.contains("invalid_grant") && reason.contains("fcm.service_account_file"), "\(reason)")
        #expect(r.attempts == 1)
        #expect(e.state.withLock { $0.tokenRequests } == 0, "no token was issued")
    }

    /// Retry-After longer than the ring: the call push gives up at once instead of arriving late.
    @Test func aCallPushDoesNotWaitPastTheRingTime() async throws {
        let k = Keys(rsa: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let e = try await Self.emulator(k)
        defer { e.stop() }
        let s = try PushSender(settings: PushSettings(
            apns: .init(
                credentials: try APNsCredentials(p8: k.apns.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                environment: .production, bundleID: "com.example.phone", baseURL: "https://api.push.apple.com:\(e.port)"),
            trustRoots: [try e.ca.nioRoot], dnsOverride: ["api.push.apple.com": "127.0.0.1"], ringTime: 45,
            retry: RetryPolicy(attempts: 5, base: 0.01, cap: 0.02)))
        let key = DevicePushKey(id: "d", publicKey: Curve25519.KeyAgreement.PrivateKey().publicKey)
        e.force(429, #"{"reason":"TooManyRequests"}"#, retryAfter: "60")
        let started = Date()
        let r = await s.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key)
        #expect(Date().timeIntervalSince(started) < 10, "did not sleep out the Retry-After")
        #expect(r.attempts == 1)
        if case .retry(_, let after) = r.outcome { #expect(after == 60) } else { Issue.record("got \(r)") }
        #expect(s.counters["apns.gave_up"] == 1)
        // A 503 with a short Retry-After is retried (the same apns-id each time) and delivered.
        e.force(503, #"{"reason":"ServiceUnavailable"}"#, retryAfter: "1")
        let again = await s.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key)
        #expect(again == PushResult(outcome: .delivered, attempts: 2))
        // An ExpiredProviderToken for a token younger than 20 minutes is not answered with a
        // new token (APNs would say TooManyProviderTokenUpdates): reported, one token only.
        e.force(403, #"{"reason":"ExpiredProviderToken"}"#)
        let expired = await s.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key)
        #expect(expired == PushResult(outcome: .authentication(reason: "ExpiredProviderToken"), attempts: 1))
        #expect(e.state.withLock { $0.apnsTokensSeen.count } == 1)
        try await s.shutdown()
    }

    @Test func environmentsPickAppleHostsAndConfigurationMistakesDoNotKillTokens() throws {
        let creds = try APNsCredentials(p8: P256.Signing.PrivateKey().pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456")
        #expect(PushSettings.APNs(credentials: creds, environment: .sandbox, bundleID: "b").url == "https://api.sandbox.push.apple.com")
        #expect(PushSettings.APNs(credentials: creds, environment: .production, bundleID: "b").url == "https://api.push.apple.com")
        func apns(_ status: Int, _ reason: String) -> PushOutcome {
            APNsRequest.outcome(status: status, body: Array("{\"reason\":\"\(reason)\"}".utf8), retryAfter: nil)
        }
        #expect(apns(400, "DeviceTokenNotForTopic") == .rejected(status: 400, reason: "DeviceTokenNotForTopic"))
        #expect(apns(502, "BadGateway") == .retry(reason: "BadGateway", after: nil))
        let mismatch = #"{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"errorCode":"SENDER_ID_MISMATCH"}]}}"#
        guard case .rejected = FCMRequest.outcome(status: 403, body: Array(mismatch.utf8), retryAfter: nil) else {
            Issue.record("SENDER_ID_MISMATCH taken as a dead token")
            return
        }
        guard case .rejected = FCMRequest.outcome(status: 404, body: Array(#"{"error":{"status":"NOT_FOUND"}}"#.utf8), retryAfter: nil) else {
            Issue.record("a bare 404 taken as a dead token")
            return
        }
        #expect(FCMRequest.outcome(status: 502, body: [], retryAfter: "3") == .retry(reason: "HTTP 502", after: 3))
    }

    /// APNs refuses a new provider token within 20 minutes of the last: a second process (or a
    /// restart) with the same key must reuse the token, which the push state directory keeps.
    @Test func aRestartReusesTheProviderTokenInsteadOfRenewingIt() async throws {
        let k = Keys(rsa: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let e = try await Self.emulator(k)
        defer { e.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("push-state-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func sender(state: String?) throws -> PushSender {
            var settings = PushSettings(
                apns: .init(
                    credentials: try APNsCredentials(p8: k.apns.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                    environment: .production, bundleID: "com.example.phone", baseURL: "https://api.push.apple.com:\(e.port)"),
                trustRoots: [try e.ca.nioRoot], dnsOverride: ["api.push.apple.com": "127.0.0.1"], retry: RetryPolicy(attempts: 1))
            settings.stateDirectory = state
            return try PushSender(settings: settings)
        }
        let key = DevicePushKey(id: "d", publicKey: Curve25519.KeyAgreement.PrivateKey().publicKey)
        let first = try sender(state: dir)
        #expect(await first.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key).outcome == .delivered)
        try await first.shutdown()
        var st = stat()
        #expect(stat(dir + "/apns-token.json", &st) == 0 && st.st_mode & 0o777 == 0o600)
        // A second second later (the token's iat must differ), a "restart" with the state: same token, delivered.
        try await Task.sleep(for: .milliseconds(1100))
        let restarted = try sender(state: dir)
        #expect(await restarted.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key).outcome == .delivered)
        try await restarted.shutdown()
        #expect(e.state.withLock { $0.apnsTokensSeen.count } == 1, "one token across the restart")
        // Without the state: a new token within 20 minutes, refused by APNs, named, not retried.
        let forgetful = try sender(state: nil)
        let r = await forgetful.send(Self.notice, to: .apns(token: Self.token, type: .voip), key: key)
        try await forgetful.shutdown()
        guard case .rejected(429, let reason) = r.outcome else { Issue.record("expected TooManyProviderTokenUpdates, got \(r)"); return }
        #expect(reason.contains("TooManyProviderTokenUpdates") && reason.contains("state directory"), "\(reason)")
        #expect(r.attempts == 1)
    }
}
