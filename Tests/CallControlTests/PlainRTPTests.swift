import SDP
import SIP
import SRTP
import Testing

@testable import CallControl
@testable import MediaRelay

/// Plain RTP on a LAN leg: only for media addresses in `plainRTPNetworks` (off by default),
/// the other leg stays SRTP. Helpers are in SIPTestMessages.swift.
@Suite("B2BUA core: plain RTP for listed networks")
struct PlainRTPTests {
    static let plainCallerOffer = sdpText(proto: "RTP/AVP", crypto: [])
    static func plainTargetAnswer(address: String = "10.0.0.20") -> String {
        sdpText(address: address, port: 40000, proto: "RTP/AVP", crypto: [])
    }

    @Test func plainOfferFromAListedNetworkIsBridgedToSRTP() throws {
        let h = try CoreHarness(plainRTPNetworks: ["198.51.100.0/24"])
        var actions = try h.receive(callerInvite(sdp: Self.plainCallerOffer))
        #expect(summary(actions) == ["send 100 INVITE", "allocateMedia"])
        let request = try #require(allocations(actions).first)
        #expect(request.legs[0].plain)
        #expect(request.legs[0].remoteCrypto == nil)
        #expect(request.legs[0].remote == MediaAddress(host: "198.51.100.1", port: 20000))
        #expect(!request.legs[1].plain)

        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        #expect(info.legs[0].localCrypto == nil)
        actions = h.handle(.mediaAllocated(call: request.id, .success(info)))
        let outgoing = try #require(sentTo(actions).first?.message)
        let offer = try #require(try parsedSDP(outgoing).media.first)
        // The target's leg is SRTP with every policy suite, whatever the caller's leg is.
        #expect(offer.proto == "RTP/SAVP")
        #expect(try offer.cryptoAttributes().count == SRTPPolicy.defaultSuites.count)

        actions = try h.receive(targetResponse(to: outgoing, 200, "OK", sdp: targetAnswer()), on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "configureMedia callee", "send 200 INVITE"])
        let config = try #require(configurations(actions).first)
        #expect(config.remote?.keyingMaterial == Wire.calleeKeyBytes)
        let ok = try #require(responses(actions).first)
        let answer = try AudioStream.first(in: parsedSDP(ok)).stream
        #expect(answer.proto == "RTP/AVP")
        #expect(answer.crypto.isEmpty)
        #expect(answer.port == Wire.relayCallerPort)
    }

    @Test func plainOfferOutsideTheListedNetworksGets488() throws {
        let h = try CoreHarness(plainRTPNetworks: ["10.20.0.0/24", "2001:db8::/32"])
        let actions = try h.receive(callerInvite(sdp: Self.plainCallerOffer))
        #expect(summary(actions) == ["send 488 INVITE"])
        #expect(allocations(actions).isEmpty)
        let warning = try #require(sent(actions).first?.value("Warning"))
        #expect(warning.contains("RTP/AVP from 198.51.100.1"))
        #expect(warning.contains("sip.plain_rtp_networks: 10.20.0.0/24, 2001:db8::/32"))
    }

    @Test func plainOfferIsRefusedByDefault() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerInvite(sdp: Self.plainCallerOffer))
        #expect(summary(actions) == ["send 488 INVITE"])
        let warning = try #require(sent(actions).first?.value("Warning"))
        #expect(warning.contains("none configured"))
    }

    @Test func plainTowardsTheTargetWhenTheServerAsks() throws {
        let h = try CoreHarness(plainRTPNetworks: ["10.0.0.0/24"])
        var actions = try h.receive(callerInvite(extraHeaders: [(TrabantHeaders.targetMedia, "rtp")]))
        let request = try #require(allocations(actions).first)
        #expect(!request.legs[0].plain)
        #expect(request.legs[0].remoteCrypto != nil)
        #expect(request.legs[1].plain)

        actions = h.handle(
            .mediaAllocated(call: request.id, .success(try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80)))))
        let outgoing = try #require(sentTo(actions).first?.message)
        let offer = try #require(try parsedSDP(outgoing).media.first)
        #expect(offer.proto == "RTP/AVP")
        #expect(try offer.cryptoAttributes().isEmpty)

        actions = try h.receive(
            targetResponse(to: outgoing, 200, "OK", sdp: Self.plainTargetAnswer()), on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "configureMedia callee", "send 200 INVITE"])
        let config = try #require(configurations(actions).first)
        #expect(config.remote == nil && config.local == nil)  // plain
        #expect(config.rtp == MediaAddress(host: "10.0.0.20", port: 40000))
        // The caller's leg stays SRTP.
        let answer = try AudioStream.first(in: parsedSDP(try #require(responses(actions).first))).stream
        #expect(answer.proto == "RTP/SAVP")
        #expect(answer.crypto.count == 1)
    }

    @Test func plainAnswerFromAnUnlistedNetworkEndsTheCall() throws {
        for answerSDP in [Self.plainTargetAnswer(address: "10.0.1.20"), targetAnswer()] {
            let h = try CoreHarness(plainRTPNetworks: ["10.0.0.0/24"])
            var actions = try h.receive(callerInvite(extraHeaders: [(TrabantHeaders.targetMedia, "rtp")]))
            let request = try #require(allocations(actions).first)
            actions = h.handle(
                .mediaAllocated(
                    call: request.id, .success(try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80)))))
            let outgoing = try #require(sentTo(actions).first?.message)
            actions = try h.receive(targetResponse(to: outgoing, 200, "OK", sdp: answerSDP), on: Wire.targetConnection)
            #expect(configurations(actions).isEmpty, "no media for an answer outside the listed networks")
            #expect(requests("BYE", actions).count == 1)
            #expect(responses(actions).map(\.status) == [488])
            #expect(releases(actions).count == 1)
            #expect(h.core.activeCalls == 0)
        }
    }

    @Test func targetMediaHeaderRefusals() throws {
        var h = try CoreHarness()
        var actions = try h.receive(callerInvite(extraHeaders: [(TrabantHeaders.targetMedia, "rtp")]))
        #expect(summary(actions) == ["send 488 INVITE"])
        #expect(sent(actions).first?.value("Warning")?.contains("sip.plain_rtp_networks is empty") == true)

        h = try CoreHarness(plainRTPNetworks: ["10.0.0.0/24"])
        actions = try h.receive(callerInvite(extraHeaders: [(TrabantHeaders.targetMedia, "zrtp")]))
        #expect(summary(actions) == ["send 400 INVITE"])
        let reason = try #require(sent(actions).first.flatMap(reasonOf))
        #expect(reason.contains("allowed: srtp, rtp"))
    }

    @Test func holdOnAPlainLegKeepsItPlain() throws {
        let h = try CoreHarness(plainRTPNetworks: ["198.51.100.0/24"])
        let call = try h.establish(callerSDP: Self.plainCallerOffer)
        // RFC 2543 hold: c=0.0.0.0 — not a listed address, but the leg is plain already.
        let hold = sdpText(address: "0.0.0.0", proto: "RTP/AVP", crypto: [], direction: "sendonly", version: 2)
        var actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKplainhold", cseq: 2, toTag: call.ourCallerTag, sdp: hold))
        #expect(summary(actions) == ["sendTo INVITE"])
        let reinvite = try #require(sentTo(actions).first?.message)
        let reoffer = try AudioStream.first(in: parsedSDP(reinvite)).stream
        #expect(reoffer.proto == "RTP/SAVP")  // the target's leg stays SRTP with its key
        #expect(reoffer.crypto.count == 1)
        #expect(reoffer.direction == "sendonly")

        actions = try h.receive(
            targetResponse(to: reinvite, 200, "OK", sdp: targetAnswer(direction: "recvonly", version: 2)),
            on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "send 200 INVITE"], "nothing is sent to 0.0.0.0")
        let answer = try AudioStream.first(in: parsedSDP(try #require(responses(actions).first))).stream
        #expect(answer.proto == "RTP/AVP")
        #expect(answer.crypto.isEmpty)
        #expect(answer.direction == "recvonly")
    }

    @Test func aPlainLegMovesOnlyWithinTheListedNetworks() throws {
        let h = try CoreHarness(plainRTPNetworks: ["198.51.100.0/24"])
        let call = try h.establish(callerSDP: Self.plainCallerOffer)
        // A new address outside the listed networks: 488, the session stays as it was.
        let away = sdpText(address: "203.0.113.9", proto: "RTP/AVP", crypto: [], version: 2)
        var actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKplainaway", cseq: 2, toTag: call.ourCallerTag, sdp: away))
        #expect(summary(actions) == ["send 488 INVITE"])

        let moved = sdpText(address: "198.51.100.7", port: 22000, proto: "RTP/AVP", crypto: [], version: 3)
        actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKplainmove", cseq: 3, toTag: call.ourCallerTag, sdp: moved))
        let reinvite = try #require(sentTo(actions).first?.message)
        actions = try h.receive(
            targetResponse(to: reinvite, 200, "OK", sdp: targetAnswer(version: 2)), on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "updateMediaRemote caller", "send 200 INVITE"])
        for case .updateMediaRemote(_, _, let rtp, _) in actions {
            #expect(rtp == MediaAddress(host: "198.51.100.7", port: 22000))
        }
    }
}
