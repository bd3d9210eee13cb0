import Crypto
import Foundation
import Testing

@testable import Push
@testable import PushPayload

/// The hand-written encoders on the push path say exactly what Foundation's would.
@Suite("Push: fast encoders agree with Foundation")
struct FastEncodingTests {
    @Test func base64URLMatchesFoundationForEveryLengthMod3() {
        var rng = SystemRandomNumberGenerator()
        for n in 0..<100 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let reference = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(FastEncoding.base64URL(bytes) == reference, "length \(n)")
            #expect(Data(base64URL: FastEncoding.base64URL(bytes)) == Data(bytes))
        }
    }

    @Test func quotedStringsParseBackToTheSameString() throws {
        let nasty = ["", "plain", "quote \" backslash \\ slash /", "tab\tnew\nline\r", "\u{0}\u{1}\u{1f}\u{7f}", "Ünïcödé ☎️ 📞", "</script>"]
        for s in nasty {
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(FastEncoding.quoted(s))]".utf8)) as? [String]
            #expect(parsed == [s], "\(s.debugDescription)")
        }
    }

    @Test func noticeJSONDecodesAsTheNotice() throws {
        for sentAt in [0, 1_790_000_000, 1_790_000_000.25, -3.5, 1e300] {
            let n = CallNotice(kind: .cancel, callID: "c\"1\\", caller: "Bob \u{1}<+1>", gateway: "wss://g/", sentAt: sentAt)
            #expect(try JSONDecoder().decode(CallNotice.self, from: n.json()) == n)
        }
        let bad = CallNotice(kind: .call, callID: "c", caller: "x", gateway: "g", sentAt: .nan)
        #expect(throws: PushPayloadError.self) { try bad.json() }
    }

    @Test func providerBodiesEqualJSONEncoderSortedKeys() throws {
        let sealed = SealedNotice(v: 1, kid: "dev-1", enc: "ZW5j", ct: "Y3Q")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct VoIP: Encodable { let trabant: SealedNotice }
        let voip = try APNsRequest(deviceToken: String(repeating: "a", count: 64), type: .voip, bundleID: "b", expiration: 1, sealed: sealed)
        #expect(voip.body == Array(try encoder.encode(VoIP(trabant: sealed))))
        let alert = try APNsRequest(deviceToken: String(repeating: "a", count: 64), type: .alert, bundleID: "b", expiration: 1, sealed: sealed)
        let a = try JSONSerialization.jsonObject(with: Data(alert.body)) as? [String: Any]
        #expect(((a?["aps"] as? [String: Any])?["mutable-content"] as? Int) == 1)
        #expect(((a?["trabant"] as? [String: Any])?["kid"] as? String) == "dev-1")
        let fcm = try FCMRequest(registrationToken: "tok:1", isCall: true, ttlSeconds: 45, sealed: sealed)
        struct Message: Encodable {
            struct Inner: Encodable {
                struct Android: Encodable { let priority: String; let ttl: String }
                let android: Android
                let data: [String: String]
                let token: String
            }
            let message: Inner
        }
        let reference = Message(message: .init(
            android: .init(priority: "high", ttl: "45s"), data: ["v": "1", "kid": "dev-1", "enc": "ZW5j", "ct": "Y3Q"], token: "tok:1"))
        #expect(fcm.body == Array(try encoder.encode(reference)))
    }
}
