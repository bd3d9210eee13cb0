import MediaRelay
import SDP
import SIP
import SRTP

extension B2BUACore {
    /// An INVITE outside any dialog: check it, answer 100, ask the relay for ports.
    func newCall(_ m: SIPMessage, _ conn: ConnectionID, key: ServerTransaction.Key) {
        if drainDeadline != nil {
            return reply(m, 503, conn, reason: "Service Unavailable (shutting down)", headers: [.init("Retry-After", "30")])
        }
        if calls.count >= settings.maxCalls {
            return reply(m, 503, conn, reason: "Service Unavailable (call limit reached)", headers: [.init("Retry-After", "5")])
        }
        guard let targetValue = m.value(TrabantHeaders.target) ?? proxiedRequestURI(m),
            let targetAddress = try? NameAddress(parsing: targetValue),
            targetAddress.uri.scheme != .tel, let hop = NextHop(uri: targetAddress.uri.description)
        else {
            return reply(m, 400, conn, reason: "Bad Request (\(TrabantHeaders.target) missing or not a sip/sips URI)")
        }
        guard let ip = IPAddressBytes.parse(hop.host), settings.targetNetworks.contains(where: { $0.contains(ip.bytes) }) else {
            return reply(m, 403, conn, reason: "Forbidden (target \(hop.host) is not an address in a known network)")
        }
        if ip.bytes == advertisedBytes,
            hop.port == (hop.tls ? settings.advertisedTLSPort : settings.advertisedPort)
        {
            // The satellite itself: each round would allocate media again (RFC 3261 §8.2.2.2).
            return reply(m, 482, conn, reason: "Loop Detected (the target is this satellite)")
        }
        if carriesOurVia(m) {
            // Our own INVITE came back (a target that names the satellite by another of its
            // addresses): a second round would allocate media again.
            return reply(m, 482, conn, reason: "Loop Detected (the request passed this satellite already)")
        }
        if let se = m.sessionExpires, se.interval < settings.minSessionExpires {
            return reply(m, 422, conn, headers: [.init("Min-SE", "\(settings.minSessionExpires)")])
        }
        guard !m.body.isEmpty else {
            return reply(m, 488, conn, reason: "Not Acceptable Here (an SDP offer is required)", headers: [warning("no SDP offer")])
        }
        guard let text = m.sdpBody else { return reply(m, 415, conn, headers: [.init("Accept", "application/sdp")]) }
        let offer: SessionDescription
        let index: Int
        let stream: AudioStream
        let chosen: CryptoAttribute?
        do {
            offer = try SessionDescription(parsing: text)
            (index, stream) = try AudioStream.first(in: offer)
            chosen = try acceptOffer(stream)
        } catch let e as OfferAnswerError {
            return reply(m, e.status, conn, reason: e.status == 488 ? "Not Acceptable Here" : nil, headers: [warning(e.message)])
        } catch {
            return reply(m, 400, conn, reason: "Bad Request (SDP: \(error))")
        }
        let plainTarget: Bool
        switch m.value(TrabantHeaders.targetMedia)?.lowercased() {
        case nil, "srtp": plainTarget = false
        case "rtp" where !settings.plainRTPNetworks.isEmpty: plainTarget = true
        case "rtp":
            return reply(m, 488, conn, reason: "Not Acceptable Here",
                headers: [warning("plain RTP towards the target is not allowed: sip.plain_rtp_networks is empty")])
        case let other?:
            return reply(m, 400, conn, reason: "Bad Request (\(TrabantHeaders.targetMedia) '\(other)'; allowed: srtp, rtp)")
        }
        let remoteCrypto = chosen.flatMap { try? SRTPParameters(profile: $0.profile!, keyingMaterial: $0.keyingMaterial) }
        guard chosen == nil || remoteCrypto != nil, let callID = m.callID else { return reply(m, 488, conn) }
        guard let tx = try? ServerTransaction(request: m, timers: settings.timers) else { return reply(m, 400, conn) }

        let id = "c" + randomToken()
        let a = CallLeg(callID: callID, localTag: randomToken())
        a.connection = conn
        a.tls = m.topVia?.transport.uppercased() == "TLS"
        a.remote = stream
        a.remoteKey = chosen
        let b = CallLeg(callID: settings.callIDPrefix + randomToken() + randomToken() + "@trabant", localTag: randomToken())
        b.hop = hop
        b.tls = hop.tls
        let call = Call(
            id: id, invite: m, inviteKey: key, offer: offer, offerIndex: index, offerStream: stream, chosenKey: chosen,
            target: targetAddress.uri, aLeg: a, bLeg: b, now: now)
        call.plainTarget = plainTarget
        if let se = m.sessionExpires {
            call.callerSessionExpires = (se.interval, se.refresher?.rawValue ?? "uac")
        } else if m.supports("timer") {
            call.callerSessionExpires = (settings.sessionExpires, "uac")
        }
        calls[id] = call
        servers[key] = ServerRecord(transaction: tx, call: id, side: .a, connection: conn)
        counters.callsStarted += 1
        callEvent("call_started", call, detail: "target \(hop)")
        respond(m.response(100), key: key, conn: conn)
        log(call, .info, "call started", [
            "sip.target": "\(hop)", "srtp.suite": "\(chosen?.suite ?? "none (plain RTP)")",
            "media.target": plainTarget ? "rtp" : "srtp",
        ])

        let remote = stream.address == "0.0.0.0" ? nil : MediaAddress(host: stream.address, port: stream.port)
        out.append(
            .allocateMedia(
                CallRequest(
                    id: id,
                    legs: [
                        LegRequest(
                            name: Side.a.legName, remote: remote,
                            remoteRTCP: stream.rtcpPort.flatMap { MediaAddress(host: stream.address, port: $0) },
                            rtcpMux: stream.rtcpMux, remoteCrypto: remoteCrypto, clockRate: stream.clockRate,
                            plain: chosen == nil),
                        LegRequest(
                            name: Side.b.legName, rtcpMux: false, remoteCrypto: nil, clockRate: stream.clockRate,
                            plain: plainTarget),
                    ])))
    }

    /// A Via with our advertised sent-by (RFC 3261 §16.3 loop detection, for a B2BUA).
    func carriesOurVia(_ m: SIPMessage) -> Bool {
        for text in m.vias {
            guard let v = try? Via(parsing: text), let ip = IPAddressBytes.parse(v.host)?.bytes, ip == advertisedBytes else { continue }
            let tls = v.transport.uppercased() == "TLS"
            if (v.port ?? (tls ? 5061 : 5060)) == (tls ? settings.advertisedTLSPort : settings.advertisedPort) { return true }
        }
        return false
    }

    /// Without the header, a Request-URI that names another host is the target, as for a
    /// proxy the caller routes through with a Route header (phones with an outbound proxy).
    func proxiedRequestURI(_ m: SIPMessage) -> String? {
        guard let text = m.requestURI, let uri = try? SIPURI(parsing: text), uri.scheme != .tel else { return nil }
        let ours = uri.host.lowercased() == settings.advertisedHost.lowercased()
            && (uri.port ?? 5060) == settings.advertisedPort
        return ours ? nil : "<\(text)>"
    }

    func warning(_ text: String) -> SIPMessage.Header {
        let clean = text.replacingQuotes()
        return .init("Warning", "399 \(hostPort) \"\(clean.prefix(200))\"")
    }

    /// The relay answered: offer the second leg, or refuse the call.
    func mediaAllocated(_ id: String, _ result: Result<CallInfo, RelayError>) {
        guard let call = calls[id] else {
            // The call ended while the relay worked (CANCEL): give the ports back.
            if case .success = result { out.append(.releaseMedia(call: id, reason: .hangup)) }
            return
        }
        let info: CallInfo
        switch result {
        case .failure(let e):
            log(call, .warning, "media allocation failed", ["error": "\(e)"])
            respond(call.invite.response(503, "Service Unavailable (no media ports)", toTag: call[.a].localTag),
                key: call.inviteKey, conn: nil)
            return forget(call, reason: "media_unavailable")
        case .success(let i): info = i
        }
        if call.cancelled {
            out.append(.releaseMedia(call: id, reason: .hangup))
            return forget(call, reason: "cancelled")
        }
        call.media = info
        for side in [Side.a, .b] {
            let leg = info.legs[side.rawValue]
            call[side].local = OfferAnswer.Local(
                address: leg.local.host, port: leg.local.port, rtcpPort: leg.localRTCP?.port,
                sessionID: String(UInt32.random(in: 1...UInt32.max, using: &rng)))
        }
        if let chosen = call.chosenKey, let local = info.legs[0].localCrypto {
            call[.a].localKey = CryptoAttribute(tag: chosen.tag, profile: chosen.profile!, keyingMaterial: local.keyingMaterial)
        }
        // Feedback (AVPF) is kept; the security is ours to choose per leg.
        let feedback = call.offerStream.proto.hasSuffix("F")
        if !call.plainTarget {
            call.offeredKeys = settings.srtp.suites.enumerated().map { i, p in
                CryptoAttribute(tag: i + 1, profile: p, keyingMaterial: SRTPParameters.random(p).keyingMaterial)
            }
        }
        let b = call[.b]
        let sdp = OfferAnswer.offer(
            local: b.local!, formats: call.offerStream.formats, formatAttributes: call.offerStream.formatAttributes,
            direction: call.offerStream.direction, keys: call.offeredKeys,
            proto: (call.plainTarget ? "RTP/AVP" : "RTP/SAVP") + (feedback ? "F" : ""))
        b.lastSDP = sdp
        let branch = newBranch()
        var m = SIPMessage(startLine: .request(method: "INVITE", uri: call.target.description))
        let from = call.invite.from
        let fromName = from?.displayName.map { "\"\($0.replacingQuotes())\" " } ?? ""
        m.headers = [
            .init("Via", via(branch, on: b)),
            .init("Max-Forwards", "\(max(1, (call.invite.maxForwards ?? 70) - 1))"),
            .init("From", "\(fromName)<\(from?.uri.description ?? "sip:trabant@\(hostPort)")>;tag=\(b.localTag)"),
            .init("To", "<\(call.target.description)>"),
            .init("Call-ID", b.callID),
            .init("CSeq", "1 INVITE"),
            .init("Contact", contact(on: b)),
            .init("Allow", Self.allow),
            .init("Supported", "timer"),
            .init("Session-Expires", "\(settings.sessionExpires)"),
            .init("Min-SE", "\(settings.minSessionExpires)"),
            .init("Content-Type", "application/sdp"),
        ]
        m.body = Array(sdp.serialized.utf8)
        call.outgoingInvite = m
        call.state = .calling
        call.ringDeadline = now + settings.ringTimeout
        start(m, call: call, side: .b, purpose: .invite)
    }

    /// A response to our INVITE to the target.
    func inviteResponse(_ r: SIPMessage, call: Call) {
        guard let status = r.status else { return }
        let b = call[.b]
        if call.cancelled || call.state == .answering || call.state == .confirmed {
            // A 2xx after CANCEL (or a forked second 2xx): acknowledge and hang it up (§15).
            if (200..<300).contains(status), call.cancelled || b.dialog?.id.remoteTag != r.to?.tag, let invite = call.outgoingInvite {
                hangUpLateAnswer(r, invite: invite, leg: b, call: call.id)
            }
            return
        }
        switch status {
        case 100:
            return  // hop by hop: the caller had its own 100
        case 101..<200:
            var p = call.invite.response(status == 183 ? 183 : 180, toTag: call[.a].localTag)
            p.headers.append(.init("Contact", contact(on: call[.a])))
            if !r.body.isEmpty, r.sdpBody != nil {
                // Early media: the target's answer arrives in a provisional response.
                guard takeAnswer(r, call: call) else { return }
                p.headers.append(.init("Content-Type", "application/sdp"))
                p.body = Array(call.answerToA!.serialized.utf8)
            } else if status == 183 {
                return  // progress without media: the 100 already stopped retransmissions
            }
            respond(p, key: call.inviteKey, conn: nil)
        case 200..<300:
            guard var d = Dialog(uacFor: call.outgoingInvite!, response: r) else {
                log(call, .warning, "2xx without To tag from the target")
                return endCall(call, reason: "bad_answer", status: 502)
            }
            b.dialog = d
            dialogs[d.id] = (call.id, .b)
            let ack = d.request("ACK", via: via(newBranch(), on: b), cseq: 1)
            b.dialog = d
            send(ack, to: b, branch: "")
            if r.sdpBody != nil || call.answerToA == nil {
                guard takeAnswer(r, call: call) else { return }
            }
            sessionTimer(fromAnswer: r, leg: b)
            answerCaller(call)
        default:
            let mapped = (300..<400).contains(status) ? 480 : status
            log(call, .info, "target refused the call", ["sip.status": "\(status)"])
            var fail = call.invite.response(mapped, r.reasonPhrase, toTag: call[.a].localTag)
            if let w = r.value("warning") { fail.headers.append(.init("Warning", w)) }
            respond(fail, key: call.inviteKey, conn: nil)
            out.append(.releaseMedia(call: call.id, reason: .hangup))
            forget(call, reason: "rejected_\(status)")
        }
    }

    /// Reads the target's answer, keys the callee leg, and makes the caller's answer.
    /// On a bad answer the call ends with 488 to the caller and BYE to the target.
    func takeAnswer(_ r: SIPMessage, call: Call) -> Bool {
        let b = call[.b]
        do {
            let sdp = try SessionDescription(parsing: r.sdpBody ?? "")
            let stream: AudioStream
            if call.plainTarget {
                stream = try OfferAnswer.readPlainAnswer(sdp, offeredFormats: call.offerStream.formats)
                guard plainAllowed(stream, legIsPlain: false) else { throw plainRefused(stream) }
            } else {
                let (s, ours, theirs) = try OfferAnswer.readAnswer(
                    sdp, offeredKeys: call.offeredKeys, offeredFormats: call.offerStream.formats)
                stream = s
                b.localKey = ours
                b.remoteKey = theirs
            }
            b.remote = stream
            let keys = relayKeys(theirs: b.remoteKey, ours: b.localKey)
            guard call.plainTarget || keys != nil else {
                throw OfferAnswerError(.answerMismatch, "the answer's key does not fit its suite")
            }
            out.append(
                .configureMedia(
                    call: call.id, leg: Side.b.legName, keys: keys,
                    rtcpMux: stream.rtcpMux, rtp: MediaAddress(host: stream.address, port: stream.port),
                    rtcp: stream.rtcpPort.flatMap { MediaAddress(host: stream.address, port: $0) }))
            let a = call[.a]
            a.local!.sessionVersion += call.answerToA == nil ? 0 : 1
            let answer = OfferAnswer.answer(
                to: call.offer, audioIndex: call.offerIndex, local: a.local!, formats: stream.formats,
                formatAttributes: stream.attributes(for: stream.formats), direction: stream.direction, key: a.localKey,
                rtcpMux: call.offerStream.rtcpMux)
            call.answerToA = answer
            a.lastSDP = answer
            return true
        } catch {
            log(call, .warning, "unusable answer from the target", ["error": "\(error)"])
            endCall(call, reason: "bad_answer", status: 488)
            return false
        }
    }

    /// The target answered: 200 to the caller, both dialogs up.
    func answerCaller(_ call: Call) {
        let a = call[.a]
        var ok = call.invite.response(200, toTag: a.localTag)
        ok.headers += [
            .init("Contact", contact(on: a)), .init("Allow", Self.allow), .init("Supported", "timer"),
            .init("Content-Type", "application/sdp"),
        ]
        if let (interval, refresher) = call.callerSessionExpires {
            ok.headers += [.init("Session-Expires", "\(interval);refresher=\(refresher)"), .init("Require", "timer")]
            a.sessionInterval = interval
            a.sessionRefreshed(now: now, weRefresh: refresher == "uas")
        }
        ok.body = Array(call.answerToA!.serialized.utf8)
        if let d = Dialog(uasFor: call.invite, localTag: a.localTag) {
            a.dialog = d
            dialogs[d.id] = (call.id, .a)
        }
        respond(ok, key: call.inviteKey, conn: nil)
        call.state = .answering
        call.ringDeadline = nil
        call.ackDeadline = now + settings.timers.transactionTimeout
        counters.callsAnswered += 1
        callEvent("call_answered", call)
        log(call, .info, "call answered")
    }

    /// RFC 4028 on the callee leg, from the target's 2xx.
    func sessionTimer(fromAnswer r: SIPMessage, leg: CallLeg) {
        guard let se = r.sessionExpires else { return }
        leg.sessionInterval = se.interval
        // We sent the INVITE (uac): we refresh unless the answer names the uas.
        leg.sessionRefreshed(now: now, weRefresh: se.refresher != .uas)
    }
}

extension StringProtocol {
    func replacingQuotes() -> String { String(map { $0 == "\"" || $0 == "\\" ? "'" : $0 }) }
    func replacingSpaces() -> String { String(filter { $0 != " " && $0 != "\t" }) }
}

extension SIPMessage {
    var reasonPhrase: String? {
        if case .response(_, let reason) = startLine { return reason }
        return nil
    }
}
