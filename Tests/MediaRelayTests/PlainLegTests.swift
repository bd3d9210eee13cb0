import Demo
import Testing

@testable import MediaRelay
@testable import SRTP

/// A plain RTP leg (a LAN PBX the operator listed) bridged to an SRTP leg, through real sockets.
@Suite("Media relay: plain RTP legs")
struct PlainLegTests {
    @Test func plainLegIsBridgedToSRTPAndAcceptsOnlyItsSignaledAddress() async throws {
        let relay = try RelayCallTests.relay(slot: 11)
        let pbx = try UDPEndpoint()
        let phone = try Phone(ssrc: 0xB)
        let info = try await relay.createCall(
            CallRequest(id: "plain-1", legs: [
                LegRequest(name: "lan", remote: pbx.local, remoteCrypto: nil, plain: true), phone.request("mobile"),
            ]))
        #expect(info.legs[0].localCrypto == nil, "no keys on a plain leg")
        try phone.connect(info.legs[1])

        // PBX → phone: plain in, SRTP with the phone leg's key out.
        var sent: [[UInt8]] = []
        for seq in UInt16(1)...5 {
            let packet = Phone.rtp(seq: seq, ssrc: 0xA)
            pbx.send(packet, to: info.legs[0].local)
            sent.append(packet)
        }
        let atPhone = await phone.receiveAll()
        #expect(atPhone.rtp == sent)
        #expect(atPhone.undecryptable == 0)

        // Phone → PBX: SRTP in, plain out to the signaled address.
        let fromPhone = try phone.sendRTP()
        #expect(await pbx.drain(timeout: 0.3) == [fromPhone])

        // Anyone else sending plain RTP to the LAN leg is dropped: no latching, nothing forwarded.
        let intruder = try UDPEndpoint()
        intruder.send(Phone.rtp(seq: 6, ssrc: 0xA), to: info.legs[0].local)
        #expect(await phone.receiveAll(timeout: 0.2).rtp.isEmpty)
        let again = try phone.sendRTP()
        #expect(await pbx.drain(timeout: 0.3) == [again], "the leg still points at the PBX")
        #expect(await intruder.drain(timeout: 0.1).isEmpty)

        let stats = try await relay.statistics(callID: "plain-1")
        #expect(stats.legs[0].stats.drops(.unexpectedSource) == 1)
        #expect(stats.legs[0].stats.relatches == 0)
        #expect(stats.legs[0].stats.packetsReceived == 5)
        #expect(stats.legs[1].stats.packetsSent == 5)
        await relay.shutdown()
    }

    @Test func aWaitingLegBecomesPlainOnItsAnswerAndSRTPAgainOnARekey() async throws {
        let relay = try RelayCallTests.relay(slot: 12)
        let phone = try Phone(ssrc: 0xA)
        let pbx = try UDPEndpoint()
        let info = try await relay.createCall(
            CallRequest(id: "plain-2", legs: [
                phone.request("mobile"), LegRequest(name: "lan", rtcpMux: true, remoteCrypto: nil, plain: true),
            ]))
        try phone.connect(info.legs[0])
        // Before the answer the plain leg has no address: nothing is accepted or sent.
        pbx.send(Phone.rtp(seq: 1, ssrc: 0xB), to: info.legs[1].local)
        #expect(await phone.receiveAll(timeout: 0.2).rtp.isEmpty)

        try await relay.configurePlainLeg(callID: "plain-2", leg: "lan", rtcpMux: true, rtp: pbx.local)
        let packet = Phone.rtp(seq: 2, ssrc: 0xB)
        pbx.send(packet, to: info.legs[1].local)
        #expect(await phone.receiveAll().rtp == [packet])

        // A re-INVITE to SRTP: plain packets are no longer accepted.
        let pbxKeys = SRTPParameters.random(.aeadAES128GCM)
        let relayKeys = SRTPParameters.random(.aeadAES128GCM)
        try await relay.configureLeg(callID: "plain-2", leg: "lan", remote: pbxKeys, local: relayKeys, rtcpMux: true)
        pbx.send(Phone.rtp(seq: 3, ssrc: 0xB), to: info.legs[1].local)
        #expect(await phone.receiveAll(timeout: 0.2).rtp.isEmpty)
        let tx = try SRTPContext(profile: .aeadAES128GCM, keyingMaterial: pbxKeys.keyingMaterial)
        let plain = Phone.rtp(seq: 4, ssrc: 0xB)
        pbx.send(try tx.protectRTP(plain).get(), to: info.legs[1].local)
        #expect(await phone.receiveAll().rtp == [plain])
        let stats = try await relay.statistics(callID: "plain-2").legs[1].stats
        #expect(stats.drops(.unexpectedSource) == 1)
        #expect(stats.drops(.authenticationFailed) + stats.drops(.truncated) == 1)
        await relay.shutdown()
    }
}
