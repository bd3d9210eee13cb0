import Crypto
import CryptoExtras
import Foundation
import TestSupport
import Testing

@testable import Push
@testable import PushPayload

@Suite("Push: provider tokens, requests and outcomes")
struct TokenTests {
    static let teamID = "TEAM123456"
    static let keyID = "KEY1234567"

    static func apns() throws -> APNsCredentials {
        try APNsCredentials(p8: P256.Signing.PrivateKey().pemRepresentation, keyID: keyID, teamID: teamID)
    }

    @Test func apnsTokensAreReusedForFortyMinutesAndNeverRenewedWithinTwenty() throws {
        var cache = APNsTokenCache(credentials: try Self.apns())
        let t0 = try cache.current(now: 1000)
        #expect(try cache.current(now: 1000 + 39 * 60) == t0, "reused")
        let t1 = try cache.current(now: 1000 + 40 * 60)
        #expect(t1 != t0, "renewed at 40 minutes")
        #expect(cache.issued == 2)
        // A rejection right after a renewal does not renew again (APNs would answer 429).
        #expect(try cache.renewAfterRejection(now: 1000 + 45 * 60) == nil)
        #expect(try cache.renewAfterRejection(now: 1000 + 61 * 60) != nil)
        #expect(cache.issued == 3)
    }

    @Test func badAPNsCredentialsSayWhat() {
        let pem = P256.Signing.PrivateKey().pemRepresentation
        #expect((#expect(throws: PushError.self) { try APNsCredentials(p8: pem, keyID: "short", teamID: Self.teamID) })?
            .message.contains("apns.key_id") == true)
        #expect((#expect(throws: PushError.self) { try APNsCredentials(p8: "nope", keyID: Self.keyID, teamID: Self.teamID) })?
            .message.contains(".p8") == true)
    }

    @Test func apnsVoIPRequest() throws {
        let sealed = SealedNotice(v: 1, kid: "dev-1", enc: "ZW5j", ct: "Y3Q")
        let token = String(repeating: "ab", count: 32)
        let r = try APNsRequest(
            deviceToken: token.uppercased(), type: .voip, bundleID: "com.example.phone", expiration: 1_790_000_030,
            collapseID: "c-42", sealed: sealed)
        #expect(r.path == "/3/device/\(token)")
        let h = Dictionary(r.headers(token: "JWT"), uniquingKeysWith: { a, _ in a })
        #expect(h["apns-push-type"] == "voip")
        #expect(h["apns-topic"] == "com.example.phone.voip")
        #expect(h["apns-priority"] == "10")
        #expect(h["apns-expiration"] == "1790000030")
        #expect(h["authorization"] == "bearer JWT")
        #expect(h["apns-collapse-id"] == "c-42")
        #expect(UUID(uuidString: h["apns-id"] ?? "") != nil)
        let body = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        #expect((body?["trabant"] as? [String: Any])?["kid"] as? String == "dev-1")
        #expect(body?["aps"] == nil, "a VoIP payload carries only the sealed notice")
        #expect(throws: PushError.self) {
            try APNsRequest(deviceToken: "xyz", type: .voip, bundleID: "b", expiration: 0, sealed: sealed)
        }
    }

    @Test func apnsAnswersAreClassified() {
        func body(_ reason: String) -> [UInt8] { Array("{\"reason\":\"\(reason)\"}".utf8) }
        #expect(APNsRequest.outcome(status: 200, body: [], retryAfter: nil) == .delivered)
        #expect(APNsRequest.outcome(status: 410, body: body("Unregistered"), retryAfter: nil) == .deadToken(reason: "Unregistered"))
        #expect(APNsRequest.outcome(status: 400, body: body("BadDeviceToken"), retryAfter: nil) == .deadToken(reason: "BadDeviceToken"))
        #expect(APNsRequest.outcome(status: 403, body: body("ExpiredProviderToken"), retryAfter: nil)
            == .authentication(reason: "ExpiredProviderToken"))
        #expect(APNsRequest.outcome(status: 429, body: body("TooManyRequests"), retryAfter: "7")
            == .retry(reason: "TooManyRequests", after: 7))
        #expect(APNsRequest.outcome(status: 503, body: body("ServiceUnavailable"), retryAfter: nil)
            == .retry(reason: "ServiceUnavailable", after: nil))
        #expect(APNsRequest.outcome(status: 400, body: body("PayloadTooLarge"), retryAfter: nil)
            == .rejected(status: 400, reason: "PayloadTooLarge"))
    }

    static func serviceAccount() throws -> (json: Data, key: _RSA.Signing.PrivateKey) {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let json = try JSONSerialization.data(withJSONObject: [
            "type": "service_account", "project_id": "trabant-test", "private_key_id": "kid-1",
            "private_key": key.pemRepresentation, "client_email": "push@trabant-test.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        ])
        return (json, key)
    }

    @Test func fcmServiceAccountAndTokenCache() throws {
        let (json, _) = try Self.serviceAccount()
        let account = try FCMServiceAccount(json: json)
        #expect(account.projectID == "trabant-test")
        let body = try account.tokenRequestBody(now: 1000)
        #expect(body.hasPrefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="))
        var cache = FCMTokenCache()
        #expect(cache.valid(now: 1000) == nil)
        let t = try cache.store(response: Data(#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#.utf8), now: 1000)
        #expect(t == "ya29.x")
        #expect(cache.valid(now: 1000 + 3599 - 301) == "ya29.x")
        #expect(cache.valid(now: 1000 + 3599 - 299) == nil, "renewed five minutes before it expires")
        let refused = #expect(throws: PushError.self) {
            try cache.store(response: Data(#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.utf8), now: 1)
        }
        #expect(refused?.message.contains("invalid_grant") == true)
        let notAccount = #expect(throws: PushError.self) { try FCMServiceAccount(json: Data(#"{"type":"user"}"#.utf8)) }
        #expect(notAccount?.message.contains("service_account") == true)
    }

    @Test func fcmRequestAndAnswers() throws {
        let sealed = SealedNotice(v: 1, kid: "dev-1", enc: "ZW5j", ct: "Y3Q")
        let call = try FCMRequest(registrationToken: "fcm-token:abc", isCall: true, ttlSeconds: 45, sealed: sealed)
        let m = try JSONSerialization.jsonObject(with: Data(call.body)) as? [String: [String: Any]]
        let android = m?["message"]?["android"] as? [String: String]
        #expect(android == ["priority": "high", "ttl": "45s"])
        #expect((m?["message"]?["data"] as? [String: String])?["ct"] == "Y3Q")
        #expect(m?["message"]?["notification"] == nil, "data only")
        let other = try FCMRequest(registrationToken: "t", isCall: false, ttlSeconds: 3600, sealed: sealed)
        #expect(String(decoding: other.body, as: UTF8.self).contains("\"priority\":\"normal\""))
        #expect(FCMRequest.path(project: "p1") == "/v1/projects/p1/messages:send")

        let unregistered = #"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#
        #expect(FCMRequest.outcome(status: 404, body: Array(unregistered.utf8), retryAfter: nil) == .deadToken(reason: "UNREGISTERED"))
        let quota = #"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}"#
        #expect(FCMRequest.outcome(status: 429, body: Array(quota.utf8), retryAfter: "3") == .retry(reason: "QUOTA_EXCEEDED", after: 3))
        #expect(FCMRequest.outcome(status: 401, body: [], retryAfter: nil) == .authentication(reason: "HTTP 401"))
    }

    @Test func retriesBackOffWithJitterAndHonourRetryAfter() {
        let p = RetryPolicy(attempts: 4, base: 0.5, cap: 3)
        #expect(p.delay(beforeRetry: 1, retryAfter: nil, random: 1) == 0.5)
        #expect(p.delay(beforeRetry: 3, retryAfter: nil, random: 1) == 2)
        #expect(p.delay(beforeRetry: 3, retryAfter: nil, random: 0.5) == 1)
        #expect(p.delay(beforeRetry: 2, retryAfter: 10, random: 1) == 10, "Retry-After wins")
        #expect(p.delay(beforeRetry: 4, retryAfter: nil) == nil, "no attempt left")
        #expect(RetryPolicy.seconds("120") == 120)
        let date = RetryPolicy.seconds("Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 1_445_412_470))
        #expect(date == 10)
        #expect(RetryPolicy.seconds("soon") == nil)
    }

    /// The JWTs verify with an independent implementation (Python cryptography).
    @Test func jwtsVerifyElsewhere() async throws {
        guard let python = try NoticeSealTests.python() else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let credentials = try Self.apns()
        var cache = APNsTokenCache(credentials: credentials)
        let es = try cache.current(now: 1_790_000_000)
        let ecPEM = dir.appendingPathComponent("ec.pem").path
        try credentials.key.publicKey.pemRepresentation.write(toFile: ecPEM, atomically: true, encoding: .utf8)
        let r1 = try await NoticeSealTests.run(python, ["verify-jwt", "--alg", "ES256", "--public-key-pem", ecPEM], stdin: es)
        #expect(r1.status == 0, "\(r1.output)")
        let j1 = try JSONSerialization.jsonObject(with: Data(r1.output.utf8)) as? [String: [String: Any]]
        #expect(j1?["header"]?["alg"] as? String == "ES256")
        #expect(j1?["header"]?["kid"] as? String == Self.keyID)
        #expect(j1?["claims"]?["iss"] as? String == Self.teamID)
        #expect(j1?["claims"]?["iat"] as? Int == 1_790_000_000)

        let (json, key) = try Self.serviceAccount()
        let rs = try FCMServiceAccount(json: json).assertion(now: 1_790_000_000)
        let rsaPEM = dir.appendingPathComponent("rsa.pem").path
        try key.publicKey.pemRepresentation.write(toFile: rsaPEM, atomically: true, encoding: .utf8)
        let r2 = try await NoticeSealTests.run(python, ["verify-jwt", "--alg", "RS256", "--public-key-pem", rsaPEM], stdin: rs)
        #expect(r2.status == 0, "\(r2.output)")
        let j2 = try JSONSerialization.jsonObject(with: Data(r2.output.utf8)) as? [String: [String: Any]]
        #expect(j2?["claims"]?["scope"] as? String == "https://www.googleapis.com/auth/firebase.messaging")
        #expect(j2?["claims"]?["exp"] as? Int == 1_790_003_600)
        #expect(j2?["header"]?["kid"] as? String == "kid-1")
    }
}
