import SDP
import SIP
import SRTP
import Testing

@testable import CallControl
@testable import MediaRelay

/// The sans-I/O B2BUA: SIP texts in, actions out. Helpers are in SIPTestMessages.swift.
@Suite("B2BUA core")
struct B2BUACoreTests {
    // MARK: (a) a whole SRTP call

    @Test func srtpCallFromInviteToBye() throws {
        let h = try CoreHarness()

        // The server's INVITE: 100 Trying and a media allocation for both legs.
        let invite = try parseSIP(callerInvite())
        var actions = h.handle(.message(invite, connection: Wire.callerConnection))
        #expect(summary(actions) == ["send 100 INVITE", "allocateMedia"])
        let trying = try #require(sentOn(actions).first)
        #expect(trying.connection == Wire.callerConnection)
        #expect(trying.message.status == 100)
        #expect(trying.message.to?.tag == nil)
        #expect(trying.message.topVia?.branch == "z9hG4bKcaller1")
        #expect(trying.message.callID == Wire.callerCallID)

        let request = try #require(allocations(actions).first)
        try #require(request.legs.count == 2)
        #expect(request.legs.map(\.name) == ["caller", "callee"])
        let callerLeg = request.legs[0]
        let calleeLeg = request.legs[1]
        #expect(callerLeg.remoteCrypto?.profile == .aesCM128HmacSHA1_80)
        #expect(callerLeg.remoteCrypto?.keyingMaterial == Wire.callerKeyBytes)
        #expect(callerLeg.remote == MediaAddress(host: "198.51.100.1", port: 20000))
        #expect(callerLeg.rtcpMux)
        #expect(calleeLeg.remoteCrypto == nil)
        #expect(calleeLeg.remote == nil)
        #expect(h.core.activeCalls == 1)
        #expect(h.core.counters.callsStarted == 1)

        // The relay's ports: the INVITE to the target offers every policy suite.
        let callerKey = SRTPParameters.random(.aesCM128HmacSHA1_80)
        let info = try CoreHarness.callInfo(for: request, callerKey: callerKey)
        h.now += 0.01
        actions = h.handle(.mediaAllocated(call: request.id, .success(info)))
        #expect(summary(actions) == ["sendTo INVITE"])
        let sentInvite = try #require(sentTo(actions).first)
        let outgoing = sentInvite.message
        #expect(sentInvite.hop == Wire.targetHop)
        #expect(sentInvite.branch == outgoing.topVia?.branch)
        #expect(sentInvite.branch.hasPrefix("z9hG4bK"))
        #expect(outgoing.requestURI == Wire.targetURI)
        #expect(outgoing.topVia?.transport == "TCP")
        #expect(outgoing.topVia?.host == Wire.satelliteHost)
        #expect(outgoing.topVia?.port == 5060)
        #expect(outgoing.vias.count == 1)
        #expect(outgoing.callID != nil && outgoing.callID != Wire.callerCallID)
        #expect(outgoing.cseq == CSeq(number: 1, method: "INVITE"))
        #expect(outgoing.to?.tag == nil)
        #expect(outgoing.to?.uri.description == Wire.targetURI)
        #expect(outgoing.from?.tag != nil && outgoing.from?.tag != "caller-tag")
        #expect(outgoing.from?.displayName == "Alice")
        #expect(outgoing.maxForwards == 69)
        #expect(outgoing.value(TrabantHeaders.target) == nil)
        #expect(outgoing.missingMandatoryHeader == nil)

        let offer = try parsedSDP(outgoing)
        #expect(offer.media.count == 1)
        #expect(offer.connection?.address == Wire.relayCalleeHost)
        let offerMedia = try #require(offer.media.first)
        #expect(offerMedia.port == Wire.relayCalleePort)
        #expect(offerMedia.proto == "RTP/SAVP")
        #expect(offerMedia.formats == ["0", "101"])
        let offered = try offerMedia.cryptoAttributes()
        #expect(offered.map(\.tag) == Array(1...SRTPPolicy.defaultSuites.count))
        #expect(offered.map(\.suite) == SRTPPolicy.defaultSuites.map(\.rawValue))
        let reusesCallerKey = offered.contains(where: { $0.keyingMaterial == Wire.callerKeyBytes })
        #expect(!reusesCallerKey)  // fresh keys, not the caller's
        #expect(Set(offered.map(\.keyingMaterial)).count == offered.count)
        let offeredStream = try AudioStream.first(in: offer).stream
        #expect(offeredStream.rtcpPort == Wire.relayCalleeRTCPPort)
        #expect(offeredStream.rtcpMux)
        #expect(offeredStream.direction == "sendrecv")

        // The target rings: 180 to the caller with our tag.
        h.now += 1
        actions = try h.receive(targetResponse(to: outgoing, 180, "Ringing"), on: Wire.targetConnection)
        #expect(summary(actions) == ["send 180 INVITE"])
        let ringing = try #require(sentOn(actions).first)
        #expect(ringing.connection == Wire.callerConnection)
        #expect(ringing.message.callID == Wire.callerCallID)
        let ourTag = try #require(ringing.message.to?.tag)

        // The target answers with tag 2 (AES_CM_128_HMAC_SHA1_80, second in the default policy).
        #expect(SRTPPolicy.defaultSuites[1] == .aesCM128HmacSHA1_80)
        h.now += 1
        actions = try h.receive(targetResponse(to: outgoing, 200, "OK", sdp: targetAnswer()), on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "configureMedia callee", "send 200 INVITE"])

        let ack = try #require(sentTo(actions).first)
        #expect(ack.hop == Wire.targetHop)
        #expect(ack.message.method == "ACK")
        #expect(ack.message.requestURI == Wire.targetURI)  // the target's Contact
        #expect(ack.message.cseq == CSeq(number: 1, method: "ACK"))
        #expect(ack.message.callID == outgoing.callID)
        #expect(ack.message.to?.tag == Wire.calleeTag)
        #expect(ack.message.from?.tag == outgoing.from?.tag)
        #expect(ack.message.topVia?.branch != outgoing.topVia?.branch)  // the 2xx ACK is a transaction of its own

        let config = try #require(configurations(actions).first)
        #expect(config.call == request.id)
        #expect(config.leg == "callee")
        #expect(config.remote?.profile == .aesCM128HmacSHA1_80)
        #expect(config.remote?.keyingMaterial == Wire.calleeKeyBytes)
        let offeredTag2 = offered.first(where: { $0.tag == 2 })
        let ourCalleeKey = try #require(offeredTag2)
        #expect(config.local?.profile == .aesCM128HmacSHA1_80)
        #expect(config.local?.keyingMaterial == ourCalleeKey.keyingMaterial)
        #expect(config.rtp == MediaAddress(host: "10.0.0.20", port: 40000))
        #expect(config.rtcpMux)

        let ok = try #require(sentOn(actions).first)
        #expect(ok.connection == Wire.callerConnection)
        #expect(ok.message.status == 200)
        #expect(ok.message.to?.tag == ourTag)
        #expect(ok.message.cseq == CSeq(number: 1, method: "INVITE"))
        #expect(ok.message.contacts.count == 1)
        let answer = try AudioStream.first(in: parsedSDP(ok.message)).stream
        #expect(answer.address == Wire.satelliteHost)
        #expect(answer.port == Wire.relayCallerPort)
        #expect(answer.proto == "RTP/SAVP")
        #expect(answer.formats == ["0", "101"])
        #expect(answer.rtcpMux)
        #expect(answer.crypto.count == 1)
        #expect(answer.crypto.first?.tag == 1)  // the caller's chosen line
        #expect(answer.crypto.first?.profile == .aesCM128HmacSHA1_80)
        #expect(answer.crypto.first?.keyingMaterial == callerKey.keyingMaterial)
        #expect(h.core.counters.callsAnswered == 1)

        // The caller acknowledges.
        actions = try h.receive(callerRequest("ACK", branch: "z9hG4bKack1", cseq: 1, toTag: ourTag))
        #expect(actions.isEmpty)

        // The caller hangs up: 200 to it, BYE to the target, media released.
        h.now += 30
        actions = try h.receive(callerRequest("BYE", branch: "z9hG4bKbye1", cseq: 2, toTag: ourTag))
        #expect(summary(actions) == ["send 200 BYE", "sendTo BYE", "releaseMedia"])
        #expect(sentOn(actions).first?.connection == Wire.callerConnection)
        let bye = try #require(sentTo(actions).first)
        #expect(bye.hop == Wire.targetHop)
        #expect(bye.branch == bye.message.topVia?.branch)
        #expect(bye.message.requestURI == Wire.targetURI)
        #expect(bye.message.callID == outgoing.callID)
        #expect(bye.message.cseq == CSeq(number: 2, method: "BYE"))
        #expect(bye.message.to?.tag == Wire.calleeTag)
        #expect(bye.message.from?.tag == outgoing.from?.tag)
        let release = try #require(releases(actions).first)
        #expect(release.call == request.id)
        #expect(release.reason == .hangup)
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.callsEnded["hangup_caller"] == 1)

        // The target's 200 to the BYE needs nothing more.
        actions = try h.receive(targetResponse(to: bye.message, 200, "OK", contact: nil), on: Wire.targetConnection)
        #expect(actions.isEmpty)
    }

    @Test func callEventsSnapshotsAndAHangUpFromOutside() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        let kinds = h.core.takeEvents().map(\.kind)
        #expect(kinds == ["call_started", "call_answered"])
        #expect(h.core.takeEvents().isEmpty, "taken once")

        let snap = try #require(h.core.snapshots().first)
        #expect(snap.id == call.id)
        #expect(snap.sipCallID == Wire.callerCallID)
        #expect(snap.state == "confirmed")
        #expect(snap.legs.map(\.name) == ["caller", "callee"])
        #expect(snap.legs[0].local == "\(Wire.satelliteHost):\(Wire.relayCallerPort)")
        #expect(snap.legs[1].remote == "10.0.0.20:40000")

        let actions = h.handle(.hangUp(call: call.id))
        #expect(requests("BYE", actions).count == 2)
        #expect(releases(actions).count == 1)
        let ended = h.core.takeEvents()
        #expect(ended.map(\.kind) == ["call_ended"])
        #expect(ended.first?.detail == "hangup_management")
        #expect(ended.first?.callID == call.id)
        #expect(h.handle(.hangUp(call: "nope")).isEmpty)
    }

    @Test func retransmittedInviteGetsTheLastResponseAgain() throws {
        let h = try CoreHarness()
        let first = try h.receive(callerInvite())
        #expect(allocations(first).count == 1)
        let again = try h.receive(callerInvite())
        #expect(summary(again) == ["send 100 INVITE"])
        #expect(h.core.activeCalls == 1)
    }

    @Test func targetHangsUp() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        let outgoing = call.outgoingInvite
        // A BYE from the target inside its dialog (its To tag is ours, From tag its own).
        let actions = try h.receive(targetBye(for: outgoing), on: Wire.targetConnection)
        #expect(summary(actions) == ["send 200 BYE", "send BYE", "releaseMedia"])
        let replies = sentOn(actions)
        try #require(replies.count == 2)
        #expect(replies[0].connection == Wire.targetConnection)
        #expect(replies[1].connection == Wire.callerConnection)
        let bye = replies[1].message
        #expect(bye.requestURI == Wire.callerContactURI)
        #expect(bye.callID == Wire.callerCallID)
        #expect(bye.cseq == CSeq(number: 1, method: "BYE"))
        #expect(bye.from?.tag == call.ourCallerTag)
        #expect(bye.to?.tag == "caller-tag")
        #expect(h.core.counters.callsEnded["hangup_callee"] == 1)
    }

    @Test func targetRefusesTheCall() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let outgoing = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first?.message)
        h.now += 1
        let actions = try h.receive(
            targetResponse(to: outgoing, 486, "Busy Here", contact: nil, extraHeaders: [("Warning", "399 phone \"busy\"")]),
            on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "send 486 INVITE", "releaseMedia"])
        let ack = try #require(sentTo(actions).first)
        #expect(ack.message.topVia?.branch == outgoing.topVia?.branch)  // the non-2xx ACK is in the INVITE's transaction
        #expect(ack.message.cseq == CSeq(number: 1, method: "ACK"))
        let busy = try #require(sentOn(actions).first)
        #expect(busy.connection == Wire.callerConnection)
        #expect(busy.message.value("Warning") == "399 phone \"busy\"")
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.callsEnded["rejected_486"] == 1)
    }

    @Test func mediaAllocationFailureGives503() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let actions = h.handle(.mediaAllocated(call: request.id, .failure(RelayError(.poolExhausted, "no ports"))))
        #expect(summary(actions) == ["send 503 INVITE"])
        #expect(sentOn(actions).first?.connection == Wire.callerConnection)
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.callsEnded["media_unavailable"] == 1)
    }

    @Test func unreachableTargetGives503() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let sendTo = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first)
        let actions = h.handle(.sendFailed(branch: sendTo.branch))
        #expect(summary(actions) == ["send 503 INVITE", "releaseMedia"])
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.transactionTimeouts == 1)
    }

    // MARK: (b) refused offers

    @Test func plainRTPOfferIsRefusedWith488() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerInvite(sdp: sdpText(proto: "RTP/AVP", crypto: [])))
        #expect(summary(actions) == ["send 488 INVITE"])
        #expect(allocations(actions).isEmpty)
        let refusal = try #require(sentOn(actions).first)
        #expect(refusal.connection == Wire.callerConnection)
        #expect(refusal.message.to?.tag != nil)
        #expect(reasonOf(refusal.message) == "Not Acceptable Here")
        let warning = try #require(refusal.message.value("Warning"))
        #expect(warning.hasPrefix("399 192.0.2.10:5060 \""))
        #expect(warning.hasSuffix("\""))
        #expect(warning.contains("RTP/AVP"))
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.requestsRefused[488] == 1)
    }

    @Test func offerWithoutAnAcceptedSuiteIsRefusedWith488() throws {
        let h = try CoreHarness(srtp: SRTPPolicy(suites: [.aeadAES256GCM]))
        let actions = try h.receive(callerInvite())
        #expect(summary(actions) == ["send 488 INVITE"])
        let warning = try #require(sent(actions).first?.value("Warning"))
        #expect(warning.contains("AES_CM_128_HMAC_SHA1_80"))
        #expect(warning.contains("AEAD_AES_256_GCM"))
    }

    @Test func inviteWithoutOrWithBrokenSDP() throws {
        let h = try CoreHarness()
        let none = try h.receive(callerInvite(sdp: nil))
        #expect(summary(none) == ["send 488 INVITE"])
        #expect(sent(none).first?.value("Warning")?.contains("no SDP offer") == true)
        let broken = try h.receive(callerInvite(branch: "z9hG4bKbroken", sdp: "v=0\r\nthis is not sdp\r\n"))
        #expect(summary(broken) == ["send 400 INVITE"])
        #expect(h.core.activeCalls == 0)
    }

    // MARK: (c, d) the target

    @Test func inviteWithoutTargetToTheSatelliteItselfIsRefusedWith400() throws {
        for uri in ["sip:bob@192.0.2.10:5060", "sip:192.0.2.10", "sip:bob@192.0.2.10;transport=tcp"] {
            let h = try CoreHarness()
            let actions = try h.receive(callerInvite(requestURI: uri, target: nil))
            #expect(summary(actions) == ["send 400 INVITE"], "\(uri)")
            let refusal = try #require(sent(actions).first)
            #expect(reasonOf(refusal)?.contains(TrabantHeaders.target) == true, "\(uri)")
            #expect(h.core.activeCalls == 0)
        }
        let h = try CoreHarness()
        let tel = try h.receive(callerInvite(target: "<tel:+4930123456>"))
        #expect(summary(tel) == ["send 400 INVITE"])
    }

    @Test func requestURIOfAnotherHostIsTheTargetWithoutTheHeader() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerInvite(requestURI: "sip:bob@10.0.0.20:5080", target: nil))
        #expect(summary(actions) == ["send 100 INVITE", "allocateMedia"])
        let request = try #require(allocations(actions).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let invite = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first)
        #expect(invite.hop == NextHop(host: "10.0.0.20", port: 5080, tls: false))
        #expect(invite.message.requestURI == "sip:bob@10.0.0.20:5080")
    }

    @Test func sipsTargetIsReachedOverTLS() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerInvite(target: "<sips:bob@10.0.0.20>"))
        let request = try #require(allocations(actions).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let invite = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first)
        #expect(invite.hop == NextHop(host: "10.0.0.20", port: 5061, tls: true))
        #expect(invite.message.requestURI == "sips:bob@10.0.0.20")
        #expect(invite.message.topVia?.transport == "TLS")
        #expect(invite.message.topVia?.port == 5061, "the TLS port, not the TCP one")
        #expect(invite.message.contacts.first?.uri.parameter("transport") == .some("tls"))
        #expect(invite.message.contacts.first?.uri.port == 5061)
    }

    @Test func aCallerOnTLSGetsTLSContactsAndInDialogRequestsOverTLS() throws {
        let h = try CoreHarness()
        let invite = callerInvite().replacingOccurrences(
            of: "SIP/2.0/TCP 198.51.100.1:5060", with: "SIP/2.0/TLS 198.51.100.1:5061")
        let call = try h.establish(callerInviteText: invite)
        let contact = try #require(call.ok.contacts.first?.uri)
        #expect(contact.parameter("transport") == .some("tls"))
        #expect(contact.port == 5061)
        // The target hangs up: our BYE to the caller goes over TLS with a TLS Via.
        let bye = try h.receive(targetBye(for: call.outgoingInvite), on: Wire.targetConnection)
        let toCaller = try #require(requests("BYE", bye).first)
        #expect(toCaller.topVia?.transport == "TLS")
        #expect(toCaller.topVia?.port == 5061)
    }

    @Test func targetOutsideTheKnownNetworksIsRefusedWith403() throws {
        for target in ["<sip:bob@203.0.113.9:5060>", "<sip:bob@pbx.example.com>", "<sip:bob@[2001:db8::1]>", "<sip:bob@11.0.0.1>"] {
            let h = try CoreHarness()
            let actions = try h.receive(callerInvite(target: target))
            #expect(summary(actions) == ["send 403 INVITE"], "\(target)")
            #expect(allocations(actions).isEmpty)
            let refusal = try #require(sent(actions).first)
            #expect(reasonOf(refusal)?.hasPrefix("Forbidden") == true, "\(target)")
            #expect(h.core.counters.requestsRefused[403] == 1)
        }
    }

    @Test func targetThatIsTheSatelliteItselfGets482() throws {
        let settings = CoreSettings(
            advertisedHost: "10.0.0.10", advertisedPort: 5060, targetNetworks: [try CIDR(parsing: "10.0.0.0/8")])
        for target in ["<sip:bob@10.0.0.10:5060;transport=tcp>", "<sip:bob@10.0.0.10>"] {
            let h = CoreHarness(settings: settings)
            let actions = try h.receive(callerInvite(target: target))
            #expect(summary(actions) == ["send 482 INVITE"], "\(target)")
            #expect(allocations(actions).isEmpty)
        }
        // Another port on the same host is a different element.
        let h = CoreHarness(settings: settings)
        let other = try h.receive(callerInvite(target: "<sip:bob@10.0.0.10:5070;transport=tcp>"))
        #expect(summary(other).first == "send 100 INVITE")
        #expect(allocations(other).count == 1)
    }

    @Test func ourOwnInviteComingBackUnderAnotherAddressGets482() throws {
        // The target named the satellite by an address it does not advertise: our INVITE
        // arrives again with our Via on top — refused before any media is allocated.
        let h = try CoreHarness()
        let looped = callerInvite().replacingOccurrences(
            of: "Via: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bKcaller1",
            with: "Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKours1")
        let actions = try h.receive(looped)
        #expect(summary(actions) == ["send 482 INVITE"])
        #expect(allocations(actions).isEmpty)
        // A Via of another element on the same host is no loop.
        let h2 = try CoreHarness()
        let other = try h2.receive(callerInvite().replacingOccurrences(
            of: "SIP/2.0/TCP 198.51.100.1:5060;", with: "SIP/2.0/TCP 192.0.2.10:5070;"))
        #expect(allocations(other).count == 1)
    }

    // MARK: (e) CANCEL

    @Test func cancelBeforeTheAnswer() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let outgoing = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first?.message)
        h.now += 1
        _ = try h.receive(targetResponse(to: outgoing, 180, "Ringing"), on: Wire.targetConnection)

        h.now += 1
        let cancelText = callerRequest(
            "CANCEL", branch: "z9hG4bKcaller1", cseq: 1, toTag: nil, requestURI: "sip:bob@192.0.2.10:5060")
        let actions = try h.receive(cancelText)
        #expect(summary(actions) == ["send 200 CANCEL", "send 487 INVITE", "sendTo CANCEL", "releaseMedia"])
        let replies = sentOn(actions)
        let allToCaller = replies.allSatisfy({ $0.connection == Wire.callerConnection })
        #expect(allToCaller)
        let terminated = try #require(replies.last?.message)
        #expect(terminated.status == 487)
        let ourTag = try #require(terminated.to?.tag)

        let cancel = try #require(sentTo(actions).first)
        #expect(cancel.hop == Wire.targetHop)
        #expect(cancel.branch == outgoing.topVia?.branch)
        #expect(cancel.message.topVia?.branch == outgoing.topVia?.branch)
        #expect(cancel.message.requestURI == outgoing.requestURI)
        #expect(cancel.message.cseq == CSeq(number: 1, method: "CANCEL"))
        #expect(cancel.message.callID == outgoing.callID)
        #expect(cancel.message.to?.tag == nil)
        #expect(cancel.message.from?.tag == outgoing.from?.tag)
        #expect(releases(actions).first?.call == request.id)
        #expect(h.core.activeCalls == 0)
        #expect(h.core.counters.callsEnded["cancelled"] == 1)

        // The target ends its INVITE with 487: the transaction acknowledges it.
        h.now += 1
        let after = try h.receive(targetResponse(to: outgoing, 487, "Request Terminated", contact: nil), on: Wire.targetConnection)
        #expect(summary(after) == ["sendTo ACK"])
        let ack = try #require(sentTo(after).first)
        #expect(ack.message.topVia?.branch == outgoing.topVia?.branch)
        #expect(ack.message.cseq == CSeq(number: 1, method: "ACK"))
        #expect(ack.message.to?.tag == Wire.calleeTag)
        // The CANCEL's 200 and the caller's ACK of the 487 need nothing more.
        let cancelOK = try h.receive(targetResponse(to: cancel.message, 200, "OK", contact: nil), on: Wire.targetConnection)
        #expect(cancelOK.isEmpty)
        let callerAck = try h.receive(callerRequest("ACK", branch: "z9hG4bKcaller1", cseq: 1, toTag: ourTag))
        #expect(callerAck.isEmpty)
    }

    @Test func cancelWhileTheRelayAllocates() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let cancelText = callerRequest(
            "CANCEL", branch: "z9hG4bKcaller1", cseq: 1, toTag: nil, requestURI: "sip:bob@192.0.2.10:5060")
        let actions = try h.receive(cancelText)
        #expect(summary(actions) == ["send 200 CANCEL", "send 487 INVITE"])
        #expect(h.core.activeCalls == 0)
        // The ports that arrive afterwards go straight back.
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let late = h.handle(.mediaAllocated(call: request.id, .success(info)))
        #expect(summary(late) == ["releaseMedia"])
        #expect(releases(late).first?.call == request.id)
    }

    @Test func cancelForNoTransactionGets481() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerRequest("CANCEL", branch: "z9hG4bKnothing", cseq: 1, toTag: nil))
        #expect(summary(actions) == ["send 481 CANCEL"])
    }

    // MARK: (f) drain

    @Test func drainingRefusesNewCallsWith503() throws {
        let h = try CoreHarness()
        #expect(h.handle(.drain(deadline: h.now + 60)).isEmpty)
        #expect(h.core.isDraining)
        let actions = try h.receive(callerInvite())
        #expect(summary(actions) == ["send 503 INVITE"])
        #expect(sent(actions).first?.value("Retry-After") == "30")
        #expect(allocations(actions).isEmpty)
    }

    @Test func drainEndsRunningCallsAtTheDeadline() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        let deadline = h.now + 10
        #expect(h.handle(.drain(deadline: deadline)).isEmpty)
        #expect(h.tick(at: deadline - 1).isEmpty)
        let actions = h.tick(at: deadline)
        #expect(summary(actions) == ["send BYE", "sendTo BYE", "releaseMedia"])
        #expect(releases(actions).first?.call == call.id)
        #expect(h.core.counters.callsEnded["shutdown"] == 1)
        #expect(h.core.activeCalls == 0)
        // The controller waits for these BYEs' answers before it closes the connections.
        #expect(h.core.outstandingRequests == 2)
        let byes = requests("BYE", actions)
        _ = try h.receive(targetResponse(to: byes[0], 200, "OK"))
        _ = try h.receive(targetResponse(to: byes[1], 200, "OK"), on: Wire.targetConnection)
        #expect(h.core.outstandingRequests == 0)
    }

    // MARK: (g, h) requests outside calls

    @Test func byeForAnUnknownDialogGets481() throws {
        let h = try CoreHarness()
        let inDialog = try h.receive(callerRequest("BYE", branch: "z9hG4bKbye9", cseq: 2, toTag: "unknown"))
        #expect(summary(inDialog) == ["send 481 BYE"])
        #expect(sentOn(inDialog).first?.connection == Wire.callerConnection)
        let outside = try h.receive(callerRequest("BYE", branch: "z9hG4bKbye10", cseq: 2, toTag: nil))
        #expect(summary(outside) == ["send 481 BYE"])
    }

    @Test func optionsGets200WithAllow() throws {
        let h = try CoreHarness()
        let actions = try h.receive(callerRequest("OPTIONS", branch: "z9hG4bKopt", cseq: 1, toTag: nil))
        #expect(summary(actions) == ["send 200 OPTIONS"])
        let ok = try #require(sent(actions).first)
        #expect(ok.value("Allow") == B2BUACore.allow)
        #expect(ok.listValues("Allow").contains("INVITE"))
        #expect(ok.listValues("Allow").contains("BYE"))
        #expect(ok.value("Accept") == "application/sdp")
        #expect(ok.to?.tag != nil)
    }

    @Test func otherMethodsAreRefused() throws {
        let h = try CoreHarness()
        let register = try h.receive(callerRequest("REGISTER", branch: "z9hG4bKreg", cseq: 1, toTag: nil))
        #expect(summary(register) == ["send 405 REGISTER"])
        #expect(sent(register).first?.value("Allow") == B2BUACore.allow)
        let unknown = try h.receive(callerRequest("FROBNICATE", branch: "z9hG4bKfrob", cseq: 1, toTag: nil))
        #expect(summary(unknown) == ["send 501 FROBNICATE"])
        let badBranch = try h.receive(callerRequest("OPTIONS", branch: "1234", cseq: 1, toTag: nil))
        // An RFC 2543 branch is matched by the §17.2.3 rule and answered (RFC 4475 §3.2.1).
        #expect(summary(badBranch) == ["send 200 OPTIONS"])
    }

    // MARK: (i) time-outs while ringing

    /// Sets up a call that rings at the target; returns the INVITE sent there and when.
    func ringingCall(_ h: CoreHarness) throws -> (outgoing: SIPMessage, sentAt: Double) {
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let sentAt = h.now
        let outgoing = try #require(sentTo(h.handle(.mediaAllocated(call: request.id, .success(info)))).first?.message)
        h.now += 1
        let ringing = try h.receive(targetResponse(to: outgoing, 180, "Ringing"), on: Wire.targetConnection)
        #expect(summary(ringing) == ["send 180 INVITE"])
        return (outgoing, sentAt)
    }

    @Test func ringTimeoutSends408AndCancelsTheTarget() throws {
        let h = try CoreHarness(ringTimeout: 20)
        let (outgoing, sentAt) = try ringingCall(h)
        #expect(h.tick(at: sentAt + 19.9).isEmpty)
        let actions = h.tick(at: sentAt + 20)
        #expect(summary(actions) == ["send 408 INVITE", "sendTo CANCEL", "releaseMedia"])
        #expect(sentOn(actions).first?.connection == Wire.callerConnection)
        let cancel = try #require(sentTo(actions).first)
        #expect(cancel.message.topVia?.branch == outgoing.topVia?.branch)
        #expect(cancel.message.cseq == CSeq(number: 1, method: "CANCEL"))
        #expect(h.core.counters.callsEnded["ring_timeout"] == 1)
        #expect(h.core.activeCalls == 0)
    }

    /// The default ring time (120 s) is longer than Timer B (32 s); Timer B must not end an
    /// INVITE that has had a provisional response (RFC 3261 §17.1.1.2).
    @Test func ringingLongerThanTimerBIsNotATimeout() throws {
        let h = try CoreHarness(ringTimeout: 120)
        let (outgoing, sentAt) = try ringingCall(h)
        #expect(summary(h.tick(at: sentAt + 40)) == [])
        #expect(h.core.activeCalls == 1)
        let actions = h.tick(at: sentAt + 120)
        #expect(summary(actions) == ["send 408 INVITE", "sendTo CANCEL", "releaseMedia"])
        #expect(sentTo(actions).first?.message.topVia?.branch == outgoing.topVia?.branch)
    }

    @Test func timerBWithoutAnyResponseGives408() throws {
        let h = try CoreHarness()
        let start = try h.receive(callerInvite())
        let request = try #require(allocations(start).first)
        let info = try CoreHarness.callInfo(for: request, callerKey: .random(.aesCM128HmacSHA1_80))
        let sentAt = h.now
        _ = h.handle(.mediaAllocated(call: request.id, .success(info)))
        #expect(h.tick(at: sentAt + 31).isEmpty)
        let actions = h.tick(at: sentAt + 32)
        #expect(summary(actions) == ["send 408 INVITE", "releaseMedia"])
        #expect(h.core.counters.transactionTimeouts == 1)
        #expect(h.core.counters.callsEnded["target_timeout"] == 1)
    }

    // MARK: (j, k) session timers (RFC 4028)

    @Test func sessionTimerWithoutRefreshEndsTheCall() throws {
        let h = try CoreHarness()
        let call = try h.establish(extraHeaders: [("Session-Expires", "90;refresher=uac"), ("Supported", "timer")])
        #expect(call.ok.value("Session-Expires") == "90;refresher=uac")
        #expect(call.ok.listValues("Require").contains("timer"))
        let answeredAt = h.now

        // The caller refreshes; without a refresh the call ends at 90 - min(32, 90/3) = 60 s.
        #expect(h.tick(at: answeredAt + 59).isEmpty)
        #expect(h.core.activeCalls == 1)
        let actions = h.tick(at: answeredAt + 60.5)
        #expect(summary(actions) == ["send BYE", "sendTo BYE", "releaseMedia"])

        let toCaller = try #require(sentOn(actions).first)
        #expect(toCaller.connection == Wire.callerConnection)
        #expect(toCaller.message.requestURI == Wire.callerContactURI)
        #expect(toCaller.message.callID == Wire.callerCallID)
        #expect(toCaller.message.cseq == CSeq(number: 1, method: "BYE"))
        #expect(toCaller.message.from?.tag == call.ourCallerTag)
        #expect(toCaller.message.to?.tag == "caller-tag")
        let toTarget = try #require(sentTo(actions).first)
        #expect(toTarget.hop == Wire.targetHop)
        #expect(toTarget.message.callID == call.outgoingInvite.callID)
        #expect(toTarget.message.cseq == CSeq(number: 2, method: "BYE"))
        #expect(releases(actions).first?.call == call.id)
        #expect(h.core.counters.sessionTimerExpiries == 1)
        #expect(h.core.counters.callsEnded["session_expired"] == 1)
        #expect(h.core.activeCalls == 0)
    }

    @Test func weRefreshWithUpdateThenReinviteWhenTheCallerRefusesUpdate() throws {
        let h = try CoreHarness()
        let call = try h.establish(extraHeaders: [("Session-Expires", "90;refresher=uas"), ("Supported", "timer")])
        let answeredAt = h.now
        #expect(h.tick(at: answeredAt + 44).isEmpty)

        // At half the interval: UPDATE to the caller.
        var actions = h.tick(at: answeredAt + 45.1)
        #expect(summary(actions) == ["send UPDATE"])
        let update = try #require(sentOn(actions).first?.message)
        #expect(update.value("Session-Expires") == "90;refresher=uac")
        #expect(update.body.isEmpty)

        // 405: the caller does not do UPDATE; the refresh is a re-INVITE with our last offer.
        actions = try h.receive(targetResponse(to: update, 405, "Method Not Allowed"))
        #expect(summary(actions) == ["send INVITE"])
        let reinvite = try #require(sentOn(actions).first?.message)
        let offer = try parsedSDP(reinvite)
        #expect(offer == (try parsedSDP(call.ok)), "the same description, version unchanged (RFC 3264 §8)")

        // Its 200 with the caller's answer: ACK, no media change, the timer starts again.
        actions = try h.receive(
            targetResponse(to: reinvite, 200, "OK", extraHeaders: [("Session-Expires", "90;refresher=uac")], sdp: sdpText()))
        #expect(summary(actions) == ["send ACK"])
        let refreshedAt = h.now
        #expect(h.tick(at: refreshedAt + 44).isEmpty)
        let next = h.tick(at: refreshedAt + 45.1)
        #expect(summary(next) == ["send INVITE"], "re-INVITE from now on")
        #expect(h.core.activeCalls == 1)
    }

    @Test func refreshRefusalsAreRetriedOrEndTheCall() throws {
        let h = try CoreHarness()
        _ = try h.establish(extraHeaders: [("Session-Expires", "90;refresher=uas"), ("Supported", "timer")])
        let answeredAt = h.now
        var actions = h.tick(at: answeredAt + 45.1)
        var update = try #require(sentOn(actions).first?.message)

        // 422 with a larger Min-SE: again at once with that interval.
        actions = try h.receive(targetResponse(to: update, 422, "Session Interval Too Small", extraHeaders: [("Min-SE", "120")]))
        update = try #require(sentOn(actions).first?.message)
        #expect(update.method == "UPDATE")
        #expect(update.value("Session-Expires") == "120;refresher=uac")

        // 500: the session stays, retried at half the time left (the session ends at +90).
        actions = try h.receive(targetResponse(to: update, 500, "Server Internal Error"))
        #expect(actions.isEmpty)
        #expect(h.tick(at: answeredAt + 67).isEmpty)
        actions = h.tick(at: answeredAt + 67.7)
        update = try #require(sentOn(actions).first?.message)
        #expect(update.method == "UPDATE")

        // Refused again and nothing else works: the call ends when the session expires.
        _ = try h.receive(targetResponse(to: update, 503, "Service Unavailable"))
        _ = h.tick(at: answeredAt + 79)
        actions = h.tick(at: answeredAt + 90.1)
        #expect(requests("BYE", actions).count == 2)
        #expect(h.core.counters.callsEnded["session_expired"] == 1)
    }

    @Test func aRefreshFromTheCallerRestartsTheSessionTimer() throws {
        let h = try CoreHarness()
        let call = try h.establish(extraHeaders: [("Session-Expires", "90;refresher=uac"), ("Supported", "timer")])
        let answeredAt = h.now
        h.now = answeredAt + 50
        let update = try h.receive(callerRequest("UPDATE", branch: "z9hG4bKupd1", cseq: 2, toTag: call.ourCallerTag))
        #expect(summary(update) == ["send 200 UPDATE"])
        #expect(sent(update).first?.value("Session-Expires") == "90;refresher=uac")
        #expect(h.tick(at: answeredAt + 60.5).isEmpty)
        #expect(h.tick(at: answeredAt + 109).isEmpty)
        let actions = h.tick(at: answeredAt + 110.5)
        #expect(summary(actions) == ["send BYE", "sendTo BYE", "releaseMedia"])
        #expect(h.core.counters.sessionTimerExpiries == 1)
    }

    @Test func sessionIntervalBelowMinSEGets422() throws {
        let h = try CoreHarness()
        for (i, se) in ["60", "89;refresher=uas"].enumerated() {
            let actions = try h.receive(
                callerInvite(branch: "z9hG4bKse\(i)", extraHeaders: [("Session-Expires", se), ("Supported", "timer")]))
            #expect(summary(actions) == ["send 422 INVITE"], "\(se)")
            #expect(sent(actions).first?.value("Min-SE") == "90")
            #expect(allocations(actions).isEmpty)
        }
        #expect(h.core.counters.requestsRefused[422] == 2)
        #expect(h.core.activeCalls == 0)
    }

    // MARK: (l) re-INVITE

    @Test func holdFromTheCallerIsRelayedToTheTarget() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        let firstOffer = try parsedSDP(call.outgoingInvite)

        h.now += 5
        let hold = sdpText(direction: "sendonly", version: 2)
        var actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKreinvite1", cseq: 2, toTag: call.ourCallerTag, sdp: hold))
        #expect(summary(actions) == ["sendTo INVITE"])
        let reinvite = try #require(sentTo(actions).first)
        #expect(reinvite.hop == Wire.targetHop)
        #expect(reinvite.message.requestURI == Wire.targetURI)
        #expect(reinvite.message.callID == call.outgoingInvite.callID)
        #expect(reinvite.message.cseq == CSeq(number: 2, method: "INVITE"))
        #expect(reinvite.message.to?.tag == Wire.calleeTag)
        #expect(reinvite.message.from?.tag == call.outgoingInvite.from?.tag)
        let reoffer = try parsedSDP(reinvite.message)
        #expect(reoffer.origin.sessionID == firstOffer.origin.sessionID)
        #expect(reoffer.origin.sessionVersion == "2")
        let offered = try AudioStream.first(in: reoffer).stream
        #expect(offered.direction == "sendonly")
        #expect(offered.port == Wire.relayCalleePort)
        // The callee leg keeps the key the target accepted (tag 2).
        let offeredTag2 = call.offeredKeys.first(where: { $0.tag == 2 })
        let tag2 = try #require(offeredTag2)
        #expect(offered.crypto == [tag2])

        h.now += 1
        actions = try h.receive(
            targetResponse(to: reinvite.message, 200, "OK", sdp: targetAnswer(direction: "recvonly", version: 2)),
            on: Wire.targetConnection)
        #expect(summary(actions) == ["sendTo ACK", "send 200 INVITE"])
        let ack = try #require(sentTo(actions).first)
        #expect(ack.message.method == "ACK")
        #expect(ack.message.cseq == CSeq(number: 2, method: "ACK"))
        #expect(ack.message.callID == call.outgoingInvite.callID)
        #expect(ack.message.to?.tag == Wire.calleeTag)

        let ok = try #require(sentOn(actions).first)
        #expect(ok.connection == Wire.callerConnection)
        #expect(ok.message.status == 200)
        #expect(ok.message.cseq == CSeq(number: 2, method: "INVITE"))
        #expect(ok.message.to?.tag == call.ourCallerTag)
        let answer = try AudioStream.first(in: parsedSDP(ok.message)).stream
        #expect(answer.direction == "recvonly")
        #expect(answer.port == Wire.relayCallerPort)
        #expect(answer.crypto.first?.tag == 1)
        #expect(answer.crypto.first?.keyingMaterial == call.callerLocalKey.keyingMaterial)

        // The caller's ACK completes the re-INVITE.
        let callerAck = try h.receive(callerRequest("ACK", branch: "z9hG4bKreack", cseq: 2, toTag: call.ourCallerTag))
        #expect(callerAck.isEmpty)
        #expect(h.core.activeCalls == 1)
    }

    @Test func anOfferlessReinviteIsAnsweredWithOurOfferAndTheACKAnswerMovesTheMedia() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        h.now += 5
        var actions = try h.receive(callerRequest("INVITE", branch: "z9hG4bKnooffer", cseq: 2, toTag: call.ourCallerTag))
        #expect(summary(actions) == ["send 200 INVITE"], "answered here, not relayed")
        let offer = try AudioStream.first(in: parsedSDP(try #require(responses(actions).first))).stream
        #expect(offer.port == Wire.relayCallerPort)
        #expect(offer.crypto.first?.keyingMaterial == call.callerLocalKey.keyingMaterial)

        // The answer in the ACK: the phone moved to a new port with the same key.
        let answer = sdpText(port: 21000, crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Wire.callerKey)"], version: 2)
        actions = try h.receive(callerRequest("ACK", branch: "z9hG4bKnoofferack", cseq: 2, toTag: call.ourCallerTag, sdp: answer))
        #expect(summary(actions) == ["updateMediaRemote caller"])
        for case .updateMediaRemote(_, _, let rtp, _) in actions {
            #expect(rtp == MediaAddress(host: "198.51.100.1", port: 21000))
        }

        // A second offerless re-INVITE whose ACK brings no answer: the call ends (RFC 3261 §13.3.1.4).
        _ = try h.receive(callerRequest("INVITE", branch: "z9hG4bKnooffer2", cseq: 3, toTag: call.ourCallerTag))
        actions = try h.receive(callerRequest("ACK", branch: "z9hG4bKnoofferack2", cseq: 3, toTag: call.ourCallerTag))
        #expect(requests("BYE", actions).count == 2)
        #expect(releases(actions).count == 1)
        #expect(h.core.counters.callsEnded["bad_answer"] == 1)
    }

    @Test func newKeysFromTheCallerReconfigureTheCallerLeg() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        h.now += 5
        let rekey = sdpText(crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Wire.calleeKey)"], version: 2)
        let actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKrekey", cseq: 2, toTag: call.ourCallerTag, sdp: rekey))
        // Nothing changes before the other side accepted (RFC 3261 §14.1).
        #expect(summary(actions) == ["sendTo INVITE"])
        let reinvite = try #require(sentTo(actions).first)
        h.now += 1
        let answered = try h.receive(
            targetResponse(to: reinvite.message, 200, "OK", sdp: targetAnswer(version: 2)), on: Wire.targetConnection)
        #expect(summary(answered) == ["sendTo ACK", "configureMedia caller", "send 200 INVITE"])
        let config = try #require(configurations(answered).first)
        #expect(config.call == call.id)
        #expect(config.remote?.keyingMaterial == Wire.calleeKeyBytes)
        #expect(config.local?.keyingMaterial == call.callerLocalKey.keyingMaterial)
        #expect(config.rtp == MediaAddress(host: "198.51.100.1", port: 20000))
    }

    @Test func aRefusedReinviteLeavesTheMediaAsItWas() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        h.now += 5
        let rekey = sdpText(crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Wire.calleeKey)"], version: 2)
        let actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKrekey2", cseq: 2, toTag: call.ourCallerTag, sdp: rekey))
        let reinvite = try #require(sentTo(actions).first)
        let refused = try h.receive(targetResponse(to: reinvite.message, 491, "Request Pending"), on: Wire.targetConnection)
        #expect(configurations(refused).isEmpty, "the caller's new keys are not applied")
        #expect(responses(refused).map(\.status) == [491])
        #expect(h.core.activeCalls == 1)
    }

    @Test func reinviteWithALowerCSeqGets500() throws {
        let h = try CoreHarness()
        let call = try h.establish()
        let actions = try h.receive(
            callerRequest("INVITE", branch: "z9hG4bKold", cseq: 1, toTag: call.ourCallerTag, sdp: sdpText(version: 2)))
        #expect(summary(actions) == ["send 500 INVITE"])
        #expect(h.core.activeCalls == 1)
    }
}
