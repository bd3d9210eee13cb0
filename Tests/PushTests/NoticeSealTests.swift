import Crypto
import Foundation
import TestSupport
import Testing

@testable import PushPayload

/// The notice travels sealed to the device's key; pyhpke (an independent RFC 9180
/// implementation) opens what we seal and seals what we open.
@Suite("Push: sealed notices (HPKE)")
struct NoticeSealTests {
    static let notice = CallNotice(
        kind: .call, callID: "c-42", caller: "Alice <+49 30 1234>", gateway: "wss://gw.example.com/v1", sentAt: 1_790_000_000)

    @Test func sealAndOpenRoundTripAndNothingLeaks() throws {
        let device = Curve25519.KeyAgreement.PrivateKey()
        let key = DevicePushKey(id: "dev-1", publicKey: device.publicKey)
        let sealed = try NoticeSeal.seal(Self.notice, to: key)
        #expect(sealed.kid == "dev-1")
        #expect(try NoticeSeal.open(sealed, with: device) == Self.notice)
        let wire = String(decoding: try JSONEncoder().encode(sealed), as: UTF8.self)
        for secret in ["Alice", "1234", "c-42", "gw.example.com"] { #expect(!wire.contains(secret), "\(secret) leaks") }
        // Two seals of the same notice differ (fresh encapsulation each time).
        #expect(try NoticeSeal.seal(Self.notice, to: key).ct != sealed.ct)
    }

    @Test func wrongKeyChangedKeyIDOrTamperingDoNotOpen() throws {
        let device = Curve25519.KeyAgreement.PrivateKey()
        let sealed = try NoticeSeal.seal(Self.notice, to: DevicePushKey(id: "dev-1", publicKey: device.publicKey))
        #expect(throws: PushPayloadError.self) { try NoticeSeal.open(sealed, with: Curve25519.KeyAgreement.PrivateKey()) }
        var otherID = sealed
        otherID.kid = "dev-2"
        #expect(throws: PushPayloadError.self) { try NoticeSeal.open(otherID, with: device) }
        var flipped = sealed
        var ct = Data(base64URL: flipped.ct)!
        ct[3] ^= 1
        flipped.ct = ct.base64URL
        #expect(throws: PushPayloadError.self) { try NoticeSeal.open(flipped, with: device) }
        var v2 = sealed
        v2.v = 2
        let e = #expect(throws: PushPayloadError.self) { try NoticeSeal.open(v2, with: device) }
        #expect(e?.message.contains("version 2") == true)
    }

    @Test func registrationKeysAreChecked() throws {
        let raw = Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation
        #expect(try DevicePushKey(id: "a_1-B", base64url: raw.base64URL).publicKey.rawRepresentation == raw)
        #expect(throws: PushPayloadError.self) { try DevicePushKey(id: "", base64url: raw.base64URL) }
        #expect(throws: PushPayloadError.self) { try DevicePushKey(id: "bad id", base64url: raw.base64URL) }
        let short = #expect(throws: PushPayloadError.self) { try DevicePushKey(id: "k", base64url: "AAAA") }
        #expect(short?.message.contains("32 bytes") == true)
    }

    static func python() throws -> String? {
        guard let p = External.onPath("python3") else {
            _ = try requireTool("python3")
            return nil
        }
        return p
    }

    static var script: String { interopDirectory + "/push/hpke_peer.py" }

    static func run(_ python: String, _ args: [String], stdin: String) async throws -> External.Result {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-hpke-\(UUID().uuidString)")
        try stdin.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let quoted = ([python, script] + args).map { "'\($0)'" }.joined(separator: " ")
        return try await External.run("/bin/sh", ["-c", "\(quoted) < '\(file.path)'"], timeout: 30)
    }

    @Test func pyhpkeOpensWhatWeSealAndWeOpenWhatItSeals() async throws {
        guard let python = try Self.python() else { return }
        // Ours → pyhpke.
        let device = Curve25519.KeyAgreement.PrivateKey()
        let sealed = try NoticeSeal.seal(Self.notice, to: DevicePushKey(id: "dev-7", publicKey: device.publicKey))
        let opened = try await Self.run(
            python, ["open", "--private-key=" + device.rawRepresentation.base64URL],
            stdin: String(decoding: try JSONEncoder().encode(sealed), as: UTF8.self))
        #expect(opened.status == 0, "\(opened.output)")
        let notice = try JSONDecoder().decode(CallNotice.self, from: Data(opened.output.utf8))
        #expect(notice == Self.notice)

        // pyhpke → ours.
        let plain = String(decoding: try JSONEncoder().encode(Self.notice), as: UTF8.self)
        let theirs = try await Self.run(
            python, ["seal", "--public-key=" + device.publicKey.rawRepresentation.base64URL, "--kid", "dev-7"], stdin: plain)
        #expect(theirs.status == 0, "\(theirs.output)")
        let fromPython = try JSONDecoder().decode(SealedNotice.self, from: Data(theirs.output.utf8))
        #expect(try NoticeSeal.open(fromPython, with: device) == Self.notice)
    }
}
