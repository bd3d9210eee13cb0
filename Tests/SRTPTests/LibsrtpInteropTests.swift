import Foundation
import Testing

@testable import SRTP

/// libsrtp as the reference peer, through pylibsrtp (`Tests/Interop/srtp_peer.py`):
/// what libsrtp protects, Trabant unprotects, and the other way round, for every suite both
/// have, RTP and RTCP, across a sequence-number wrap (rollover).
/// AES_256_CM_HMAC_SHA1_80, which pylibsrtp has no constant for, is set on libsrtp's policy
/// through the library's own `srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80` (the script
/// checks the policy it got and its self-test checks libsrtp's published vector).
@Suite("SRTP interop with libsrtp", .enabled(if: LibSRTP.usable, LibSRTP.unusableReason))
struct LibsrtpInteropTests {
    static let profiles: [SRTPProfile] = SRTPProfile.allCases
    static let cases = profiles.flatMap { p in SRTPCryptoEngine.available.map { (p, $0) } }

    /// RTP packets from seq 65500 on: 100 packets cross the wrap, so the ROC becomes 1.
    static func rtpStream(count: Int = 100, ssrc: UInt32 = 0xCAFE_F00D) -> [[UInt8]] {
        (0..<count).map { i in
            TestPackets.rtp(seq: UInt16(truncatingIfNeeded: 65500 + i), timestamp: UInt32(i * 160), ssrc: ssrc)
        }
    }

    static func rtcpStream(count: Int = 20) -> [[UInt8]] {
        (0..<count).map { TestPackets.rtcpSenderReport(ssrc: 0xCAFE_F00D, ntp: UInt64($0) << 32) }
    }

    @Test(arguments: cases)
    func libsrtpProtectsTrabantUnprotects(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 42)
        let plain = Self.rtpStream()
        let fromLibsrtp = try LibSRTP.run(profile: profile, key: key, op: "protect", rtcp: false, packets: plain)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        for (p, protected) in zip(plain, fromLibsrtp) {
            #expect(try rx.unprotectRTP(try #require(protected)).get() == p)
        }
        #expect(rx.rolloverCounter(ssrc: 0xCAFE_F00D) == 1)

        let rtcp = Self.rtcpStream()
        let rtcpFromLibsrtp = try LibSRTP.run(profile: profile, key: key, op: "protect", rtcp: true, packets: rtcp)
        for (p, protected) in zip(rtcp, rtcpFromLibsrtp) {
            #expect(try rx.unprotectRTCP(try #require(protected)).get() == p)
        }
        // what libsrtp sent once is a replay the second time
        #expect(rx.unprotectRTP(try #require(fromLibsrtp.last ?? nil)) == .failure(.replay))
    }

    @Test(arguments: cases)
    func trabantProtectsLibsrtpUnprotects(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 43)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let plain = Self.rtpStream()
        let protected = try plain.map { try tx.protectRTP($0).get() }
        let back = try LibSRTP.run(profile: profile, key: key, op: "unprotect", rtcp: false, packets: protected)
        #expect(back == plain.map { Optional($0) })

        let rtcp = Self.rtcpStream()
        let rtcpProtected = try rtcp.map { try tx.protectRTCP($0).get() }
        let rtcpBack = try LibSRTP.run(profile: profile, key: key, op: "unprotect", rtcp: true, packets: rtcpProtected)
        #expect(rtcpBack == rtcp.map { Optional($0) })

        // libsrtp refuses what Trabant would refuse: a flipped bit, a replay
        var tampered = try tx.protectRTP(TestPackets.rtp(seq: 100, ssrc: 0xCAFE_F00D)).get()
        tampered[20] ^= 1
        let refused = try LibSRTP.run(profile: profile, key: key, op: "unprotect", rtcp: false, packets: [protected[0], protected[0], tampered])
        #expect(refused[0] != nil && refused[1] == nil && refused[2] == nil)
    }
}

/// Runs Tests/Interop/srtp_peer.py.
enum LibSRTP {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/srtp_peer.py")

    static let installed: Bool = {
        (try? python(["-c", "import pylibsrtp"], input: Data()).status) == 0
    }()

    /// In CI a missing peer is a failure, not a skip: the tests run and fail.
    static var usable: Bool { installed || ProcessInfo.processInfo.environment["CI"] == "true" }
    static let unusableReason: Comment = "pylibsrtp is not installed (python3 -m pip install pylibsrtp)"

    static func python(_ args: [String], input: Data) throws -> (status: Int32, out: Data, err: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, out, err)
    }

    struct Reply: Decodable {
        let results: [String?]
        let errors: [String?]
    }

    static func run(profile: SRTPProfile, key: [UInt8], op: String, rtcp: Bool, packets: [[UInt8]]) throws -> [[UInt8]?] {
        let request: [String: Any] = [
            "profile": profile.rawValue, "key": key.hex, "op": op, "rtcp": rtcp, "packets": packets.map(\.hex),
        ]
        let r = try python([script.path], input: try JSONSerialization.data(withJSONObject: request))
        guard r.status == 0 else {
            throw InteropError(message: "srtp_peer.py exited \(r.status): \(String(decoding: r.err, as: UTF8.self))")
        }
        let reply = try JSONDecoder().decode(Reply.self, from: r.out)
        return reply.results.map { $0.map { [UInt8](hex: $0) } }
    }

    struct InteropError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

@Suite("libsrtp peer self-test", .enabled(if: LibSRTP.usable, LibSRTP.unusableReason))
struct LibsrtpPeerSelfTest {
    /// The reference peer itself: 70,000 packets per suite across two sequence wraps,
    /// libsrtp's published vectors, replay and tamper refusals.
    @Test func peerPassesItsSelfTest() throws {
        let r = try LibSRTP.python([LibSRTP.script.path, "--selftest"], input: Data())
        #expect(r.status == 0, "\(String(decoding: r.out + r.err, as: UTF8.self))")
    }
}
