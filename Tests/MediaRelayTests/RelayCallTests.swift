import Demo
import Foundation
import Testing

@testable import MediaRelay
@testable import SRTP

/// Live tests: a real relay on loopback, real UDP sockets, real SRTP.
@Suite("Media relay: calls through real sockets")
struct RelayCallTests {
    static func relay(slot: Int, _ tweak: (inout RelayConfiguration) -> Void = { _ in }) throws -> MediaRelay {
        var config = RelayConfiguration(bindHost: "127.0.0.1", portRange: TestPorts.range(slot), threads: 1)
        tweak(&config)
        return try MediaRelay(configuration: config)
    }

    static func call(
        _ relay: MediaRelay, _ a: Phone, _ b: Phone, id: String = "call-1", mux: Bool = true
    ) async throws -> CallInfo {
        let info = try await relay.createCall(CallRequest(id: id, legs: [a.request("a", mux: mux), b.request("b", mux: mux)]))
        try a.connect(info.legs[0])
        try b.connect(info.legs[1])
        return info
    }

    @Test(arguments: SRTPProfile.allCases)
    func mediaFlowsBothWaysReencryptedPerLeg(profile: SRTPProfile) async throws {
        let relay = try Self.relay(slot: 0 + SRTPProfile.allCases.firstIndex(of: profile)!)
        let a = try Phone(profile: profile, ssrc: 0xA)
        let b = try Phone(profile: profile, ssrc: 0xB)
        let info = try await Self.call(relay, a, b)

        // Per-leg keys: the relay's key for each leg is its own, and not the phones' keys.
        let keys = [a.keys, b.keys, info.legs[0].localCrypto!, info.legs[1].localCrypto!].map(\.keyingMaterial)
        #expect(Set(keys).count == 4)

        var sentA: [[UInt8]] = []
        var sentB: [[UInt8]] = []
        for _ in 0..<20 {
            sentA.append(try a.sendRTP())
            sentB.append(try b.sendRTP())
        }
        let rtcpA = try a.sendRTCP()
        let atB = await b.receiveAll()
        let atA = await a.receiveAll()
        #expect(atB.rtp == sentA)
        #expect(atA.rtp == sentB)
        #expect(atB.rtcp == [rtcpA])
        #expect(atA.undecryptable == 0 && atB.undecryptable == 0)

        let stats = try await relay.statistics(callID: "call-1")
        #expect(stats.legs[0].stats.packetsReceived == 20)
        #expect(stats.legs[1].stats.packetsSent == 20)
        #expect(stats.legs[0].stats.rtcpReceived == 1)
        #expect(stats.legs.allSatisfy { $0.stats.totalDrops == 0 })
        #expect(stats.legs[0].stats.lossRatio == 0)
        try await relay.closeCall("call-1")
        await relay.shutdown()
    }

    @Test func everyOtherDatagramIsDroppedAndCountedPerReason() async throws {
        let relay = try Self.relay(slot: 5)
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        _ = try await Self.call(relay, a, b)
        let attacker = try UDPEndpoint()
        let target = a.relayAddress!

        // One good packet first, captured for a replay.
        let good = try a.tx.protectRTP(Phone.rtp(seq: 5000, ssrc: 0xA)).get()
        a.socket.send(good, to: target)
        #expect(await b.receiveAll().rtp.count == 1)

        attacker.send(Array("INVITE sip:x SIP/2.0\r\n".utf8), to: target)  // not RTP
        attacker.send([0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42], to: target)  // STUN-like
        attacker.send([0x80, 0x00, 0x00], to: target)  // truncated
        let forger = try SRTPContext(profile: .aesCM128HmacSHA1_80, keyingMaterial: SRTPParameters.random(.aesCM128HmacSHA1_80).keyingMaterial)
        attacker.send(try forger.protectRTP(Phone.rtp(seq: 5001, ssrc: 0xA)).get(), to: target)  // wrong key
        attacker.send(good, to: target)  // replay from another address
        a.socket.send(good, to: target)  // replay from the right address
        var tampered = try a.tx.protectRTP(Phone.rtp(seq: 5002, ssrc: 0xA)).get()
        tampered[30] ^= 1
        a.socket.send(tampered, to: target)  // corrupted

        let atB = await b.receiveAll()
        #expect(atB.rtp.isEmpty && atB.undecryptable == 0, "nothing unauthenticated got through")

        let stats = try await relay.statistics(callID: "call-1").legs[0].stats
        #expect(stats.drops(.notRTP) == 2)
        #expect(stats.drops(.truncated) == 1)
        #expect(stats.drops(.authenticationFailed) == 2)
        #expect(stats.drops(.replay) == 2)
        #expect(stats.relatches == 0)
        // The leg still points at the real phone.
        try b.sendRTP()
        #expect(await a.receiveAll().rtp.count == 1)
        #expect(await attacker.drain(timeout: 0.2).isEmpty, "the attacker received nothing")
        await relay.shutdown()
    }

    @Test func authenticatedPacketsFromANewAddressMoveTheLeg() async throws {
        let relay = try Self.relay(slot: 6)
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        _ = try await Self.call(relay, a, b)
        try a.sendRTP()
        try b.sendRTP()
        #expect(await a.receiveAll().rtp.count == 1)
        _ = await b.receiveAll()

        let moved = try Phone(movedFrom: a)  // Wi-Fi to LTE: new source address, same keys
        try moved.sendRTP()
        #expect(await b.receiveAll().rtp.count == 1)
        let sent = try b.sendRTP()
        #expect(await moved.receiveAll().rtp == [sent], "media follows the phone to its new address")
        #expect(await a.receiveAll().rtp.isEmpty, "nothing goes to the old address")
        #expect(try await relay.statistics(callID: "call-1").legs[0].stats.relatches == 1)
        await relay.shutdown()
    }

    @Test func injectedPacketsNeverLatchAnUnknownRemote() async throws {
        // RTP bleed: the leg has no signaled address yet; only an authenticated packet may set it.
        let relay = try Self.relay(slot: 7)
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        var legA = a.request("a")
        legA.remote = nil
        let info = try await relay.createCall(CallRequest(id: "c", legs: [legA, b.request("b")]))
        try a.connect(info.legs[0])
        try b.connect(info.legs[1])
        let attacker = try UDPEndpoint()
        let forger = try SRTPContext(profile: .aesCM128HmacSHA1_80, keyingMaterial: SRTPParameters.random(.aesCM128HmacSHA1_80).keyingMaterial)
        attacker.send(try forger.protectRTP(Phone.rtp(seq: 1, ssrc: 0xA)).get(), to: a.relayAddress!)
        attacker.send(Phone.rtp(seq: 2, ssrc: 0xA), to: a.relayAddress!)  // plain RTP
        try b.sendRTP()
        #expect(await attacker.drain(timeout: 0.3).isEmpty)
        var stats = try await relay.statistics(callID: "c")
        #expect(stats.legs[0].remote == nil)
        #expect(stats.legs[1].stats.drops(.noDestination) == 1)
        try a.sendRTP()
        _ = await b.receiveAll()
        let sent = try b.sendRTP()
        #expect(await a.receiveAll().rtp == [sent])
        stats = try await relay.statistics(callID: "c")
        #expect(stats.legs[0].remote == a.socket.local)
        await relay.shutdown()
    }

    @Test func telephoneEventsAndSeparateRTCPPorts() async throws {
        let relay = try Self.relay(slot: 8)
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        let info = try await Self.call(relay, a, b, mux: false)
        #expect(info.legs.allSatisfy { $0.localRTCP?.port == $0.local.port + 1 && $0.local.port % 2 == 0 })
        // RFC 4733 DTMF event "5", end bit set, duration 800
        let dtmf = try a.sendRTP(payloadType: 101, payload: [5, 0x80, 0x03, 0x20])
        #expect(await b.receiveAll().rtp == [dtmf])
        // RTCP to the RTCP port; the peer's RTCP goes to its RTP port + 1 (none here: it is not read)
        let rtcp = try a.sendRTCP(to: info.legs[0].localRTCP!)
        let stats = try await relay.statistics(callID: "call-1")
        #expect(stats.legs[0].stats.rtcpReceived == 1)
        #expect(stats.legs[1].stats.rtcpSent == 1)
        _ = rtcp
        await relay.shutdown()
    }

    @Test func reinviteMovesTheRemote() async throws {
        let relay = try Self.relay(slot: 9)
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        _ = try await Self.call(relay, a, b)
        let b2 = try Phone(movedFrom: b)
        try await relay.updateRemote(callID: "call-1", leg: "b", rtp: b2.socket.local)
        let sent = try a.sendRTP()
        #expect(await b2.receiveAll().rtp == [sent])
        await #expect(throws: RelayError.self) { try await relay.updateRemote(callID: "call-1", leg: "x", rtp: b2.socket.local) }
        await #expect(throws: RelayError.self) { try await relay.updateRemote(callID: "nope", leg: "a", rtp: b2.socket.local) }
        await relay.shutdown()
    }

    @Test func dualStackSocketsServeIPv4Phones() async throws {
        // Bound to "::" (IPv6 wildcard, also IPv4): IPv4 peers arrive as IPv4-mapped
        // addresses and must latch and be written as the IPv4 addresses they are.
        let relay = try Self.relay(slot: 10) { $0.bindHost = "::"; $0.advertisedHost = "127.0.0.1" }
        let a = try Phone(ssrc: 0xA)
        let b = try Phone(ssrc: 0xB)
        _ = try await Self.call(relay, a, b)
        let sent = try a.sendRTP()
        #expect(await b.receiveAll().rtp == [sent])
        let back = try b.sendRTP()
        #expect(await a.receiveAll().rtp == [back])
        let stats = try await relay.statistics(callID: "call-1")
        #expect(stats.legs[0].remote == a.socket.local)
        #expect(stats.legs[0].stats.relatches == 0, "an IPv4-mapped source is the signaled IPv4 address")
        await relay.shutdown()
    }
}
