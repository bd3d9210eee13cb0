import Foundation
import MediaRelay
import SRTP

/// `trabant demo`: a short SRTP call through a real relay on loopback, with an injection
/// attempt and a check that every port closed.
public enum MediaDemo {
    public struct Report: Sendable, Codable {
        public var relayHost: String
        public var portRange: String
        public var legs: [LegReport]
        public var injectionAttempts: [String]
        public var injectionDropped: [String: UInt64]
        public var injectionDelivered: Int
        public var portsClosed: Bool
        public var ok: Bool
    }

    public struct LegReport: Sendable, Codable {
        public var name: String
        public var port: UInt16
        public var suite: String
        public var sent: Int
        public var receivedByPeer: Int
        public var toneSent: Double
        public var toneHeardByPeer: Double?
        public var drops: [String: UInt64]
    }

    /// Runs the demo. `say` gets one line of plain words at a time.
    public static func run(
        portRange: ClosedRange<UInt16> = 40000...49999, packets: Int = 50, say: (String) -> Void
    ) async throws -> Report {
        let relay = try MediaRelay(configuration: RelayConfiguration(bindHost: "127.0.0.1", portRange: portRange, threads: 2))
        say("Trabant media demo: an SRTP call through the media relay on 127.0.0.1")
        say("")
        say("relay    listening on 127.0.0.1, media ports \(portRange.lowerBound)-\(portRange.upperBound), allocated per call")

        let suites: [SRTPProfile] = [.aeadAES128GCM, .aesCM128HmacSHA1_80]
        let names = ["mobile", "lan"]
        let tones = [440.0, 880.0]
        let phones = try suites.map { _ in try UDPEndpoint(host: "127.0.0.1") }
        let phoneKeys = suites.map { SRTPParameters.random($0) }
        let request = CallRequest(
            id: "demo-call",
            legs: (0..<2).map { LegRequest(name: names[$0], remote: phones[$0].local, remoteCrypto: phoneKeys[$0]) })
        let info = try await relay.createCall(request)
        let callPorts = info.legs.flatMap { [$0.local.port] + ($0.localRTCP.map { [$0.port] } ?? []) }
        for (i, leg) in info.legs.enumerated() {
            say(
                "call     leg \"\(leg.name)\": phone at \(phones[i].local) talks to relay port \(leg.local.port) "
                    + "with \(leg.localCrypto!.profile)")
        }
        say("         each leg has its own keys: the relay decrypts with the sender's and re-encrypts with the receiver's")

        let tx = try (0..<2).map { try SRTPContext(profile: suites[$0], keyingMaterial: phoneKeys[$0].keyingMaterial) }
        let rx = try info.legs.map {
            try SRTPContext(profile: $0.localCrypto!.profile, keyingMaterial: $0.localCrypto!.keyingMaterial)
        }
        var captured: [UInt8] = []
        for n in 0..<packets {
            for i in 0..<2 {
                let payload = Tone.packet(frequency: tones[i], index: n)
                let seq = UInt16(1000 + n)
                let rtp: [UInt8] =
                    [0x80, 0x00, UInt8(seq >> 8), UInt8(seq & 0xFF)] + be32(UInt32(n * 160)) + be32(UInt32(0x1000 + i))
                    + payload
                let protected = try tx[i].protectRTP(rtp).get()
                if i == 0 && n == packets / 2 { captured = protected }
                phones[i].send(protected, to: info.legs[i].local)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        var heard: [[UInt8]] = [[], []]
        var counts = [0, 0]
        for i in 0..<2 {
            for datagram in await phones[i].drain(timeout: 0.3) {
                if case .success(let plain) = rx[i].unprotectRTP(datagram) {
                    counts[i] += 1
                    heard[i] += plain[12...]
                }
            }
        }
        // phone 1 hears what phone 0 sent and the other way round
        let heardTone = [Tone.dominant(tones, in: heard[1]), Tone.dominant(tones, in: heard[0])]
        for i in 0..<2 {
            say(
                "media    phone \"\(names[i])\" sent \(packets) packets of a tone at \(Int(tones[i])) Hz; phone "
                    + "\"\(names[1 - i])\" received \(counts[1 - i]) and heard "
                    + (heardTone[i].map { "\(Int($0)) Hz" } ?? "nothing"))
        }

        // An outsider tries to inject into the mobile leg.
        let outsider = try UDPEndpoint(host: "127.0.0.1")
        let forger = try SRTPContext(profile: suites[0], keyingMaterial: SRTPParameters.random(suites[0]).keyingMaterial)
        let target = info.legs[0].local
        let fake: [UInt8] = [0x80, 0x00, 0x10, 0x00] + be32(0) + be32(0x1000) + Tone.packet(frequency: 1000, index: 0)
        let attempts: [(String, [UInt8])] = [
            ("a forged SRTP packet with a guessed key", try forger.protectRTP(fake).get()),
            ("a replay of a captured packet", captured),
            ("plain unencrypted RTP", fake),
            ("a datagram that is not RTP", Array("GET / HTTP/1.1\r\n\r\n".utf8)),
        ]
        let before = try await relay.statistics(callID: "demo-call").legs[0].stats
        for (_, bytes) in attempts { outsider.send(bytes, to: target) }
        let leaked = await phones[1].drain(timeout: 0.3).count + (await outsider.drain(timeout: 0.1)).count
        let after = try await relay.statistics(callID: "demo-call").legs[0].stats
        var dropped: [String: UInt64] = [:]
        for r in RelayDropReason.allCases where after.drops(r) > before.drops(r) {
            dropped[r.description] = after.drops(r) - before.drops(r)
        }
        say("attack   an outsider sent \(attempts.count) datagrams to the mobile leg's port: "
            + attempts.map(\.0).joined(separator: "; "))
        say(
            "         \(dropped.values.reduce(0, +)) of \(attempts.count) dropped ("
                + dropped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + "); \(leaked == 0 ? "nothing reached the phone and nothing went back to the outsider" : "\(leaked) datagrams leaked")")

        let openBefore = OpenUDPPorts.current().intersection(callPorts)
        let final = try await relay.closeCall("demo-call")
        let openAfter = OpenUDPPorts.current().intersection(callPorts)
        let relayed = final.legs.map(\.stats.packetsSent).reduce(0, +)
        let drops = final.legs.map(\.stats.totalDrops).reduce(0, +)
        say("hang-up  call closed: \(relayed) packets relayed, \(drops) dropped")
        say(
            "ports    relay ports \(callPorts.map(String.init).joined(separator: ", ")): open during the call "
                + "\(openBefore.count)/\(callPorts.count), open after hang-up \(openAfter.count) (read from /proc/net/udp)")
        await relay.shutdown()

        let legs = (0..<2).map { i in
            LegReport(
                name: names[i], port: info.legs[i].local.port, suite: suites[i].rawValue, sent: packets,
                receivedByPeer: counts[1 - i], toneSent: tones[i], toneHeardByPeer: heardTone[i],
                drops: Dictionary(
                    uniqueKeysWithValues: RelayDropReason.allCases.filter { final.legs[i].stats.drops($0) > 0 }.map {
                        ($0.description, final.legs[i].stats.drops($0))
                    }))
        }
        let ok =
            legs.allSatisfy { $0.receivedByPeer == packets && $0.toneHeardByPeer == $0.toneSent }
            && dropped.values.reduce(0, +) == UInt64(attempts.count) && leaked == 0
            && openBefore.count == callPorts.count && openAfter.isEmpty
        say("result   \(ok ? "OK" : "FAILED")")
        return Report(
            relayHost: "127.0.0.1", portRange: "\(portRange.lowerBound)-\(portRange.upperBound)", legs: legs,
            injectionAttempts: attempts.map(\.0), injectionDropped: dropped, injectionDelivered: leaked,
            portsClosed: openAfter.isEmpty, ok: ok)
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
