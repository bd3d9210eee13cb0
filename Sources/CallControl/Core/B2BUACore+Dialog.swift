import MediaRelay
import SDP
import SIP
import SRTP

extension B2BUACore {
    /// CANCEL matches the INVITE server transaction with the same branch (§9.2).
    func cancel(_ m: SIPMessage, _ conn: ConnectionID, key: ServerTransaction.Key) {
        let inviteKey = ServerTransaction.Key(branch: key.branch, sentBy: key.sentBy, method: "INVITE")
        guard let s = servers[inviteKey], let call = calls[s.call] else { return reply(m, 481, conn) }
        out.append(.send(m.response(200, toTag: call[.a].localTag), conn))
        guard s.transaction.state == .proceeding, call.state == .allocating || call.state == .calling else { return }
        log(call, .info, "caller cancelled")
        call.cancelled = true
        respond(call.invite.response(487, toTag: call[.a].localTag), key: inviteKey, conn: nil)
        cancelOutgoing(call)
        if call.media != nil { out.append(.releaseMedia(call: call.id, reason: .hangup)) }
        forget(call, reason: "cancelled", keepClients: true)
    }

    /// CANCEL our INVITE to the target if it is still unanswered.
    func cancelOutgoing(_ call: Call) {
        guard let invite = call.outgoingInvite, let branch = invite.topVia?.branch, let record = clients[branch + "|INVITE"]
        else { return }
        if record.transaction.state == .calling {
            record.cancelWhenRinging = true  // no provisional response yet (§9.1)
        } else {
            sendCancel(record)
        }
    }

    func sendCancel(_ record: ClientRecord) {
        guard let cancel = record.transaction.cancel(),
            let tx = try? ClientTransaction(request: cancel, now: now, timers: settings.timers)
        else { return }
        record.transaction.cancelSent(now: now)
        let inviteKey = tx.branch + "|INVITE"
        track(client: inviteKey)
        clients[tx.branch + "|CANCEL"] = ClientRecord(transaction: tx, call: record.call, side: .b, purpose: .cancel, leg: record.leg)
        track(client: tx.branch + "|CANCEL")
        send(cancel, to: record.leg, branch: tx.branch)
    }

    /// A 2xx to our INVITE after the call ended (it crossed a CANCEL, the ring timeout or a
    /// failure): acknowledge it and hang up at once (RFC 3261 §15).
    func hangUpLateAnswer(_ r: SIPMessage, invite: SIPMessage, leg: CallLeg, call: String) {
        guard var d = Dialog(uacFor: invite, response: r) else { return }
        send(d.request("ACK", via: via(newBranch(), on: leg), cseq: invite.cseq?.number), to: leg, branch: "")
        let bye = d.request("BYE", via: via(newBranch(), on: leg))
        if let tx = try? ClientTransaction(request: bye, now: now, timers: settings.timers) {
            clients[tx.branch + "|BYE"] = ClientRecord(transaction: tx, call: call, side: .b, purpose: .bye, leg: leg)
            track(client: tx.branch + "|BYE")
        }
        send(bye, to: leg, branch: bye.topVia?.branch ?? "")
    }

    /// A request with a To tag: it must belong to one of our dialogs.
    func inDialog(_ m: SIPMessage, _ conn: ConnectionID, key: ServerTransaction.Key) {
        guard let id = Dialog.ID(incoming: m), let (callID, side) = dialogs[id], let call = calls[callID] else {
            return reply(m, 481, conn)
        }
        let leg = call[side]
        guard var dialog = leg.dialog else { return reply(m, 481, conn) }
        if case .failure(let e) = dialog.receive(m) { return reply(m, e.status, conn, reason: e.message) }
        leg.dialog = dialog
        if leg.connection == nil { leg.connection = conn }
        switch m.method {
        case "BYE":
            out.append(.send(m.response(200), conn))
            log(call, .info, "hang-up", ["sip.from_leg": "\(side.legName)"])
            endCall(call, reason: "hangup_\(side.legName)", except: side)
        case "INVITE":
            reinvite(m, conn, key: key, call: call, from: side)
        case "UPDATE":
            guard m.body.isEmpty else {
                return reply(m, 488, conn, reason: "Not Acceptable Here (offers travel in re-INVITE)")
            }
            leg.sessionRefreshed(now: now)
            var r = m.response(200)
            r.headers += sessionHeaders(leg, weAreUAC: false)
            out.append(.send(r, conn))
        case "OPTIONS":
            var r = m.response(200)
            r.headers.append(.init("Allow", Self.allow))
            out.append(.send(r, conn))
        default:
            var r = m.response(501)
            r.headers.append(.init("Allow", Self.allow))
            refuse(r, conn)
        }
    }

    /// Session-Expires for a message on `leg` (RFC 4028 §9): the refresher is named by its
    /// role in this transaction, so it depends on which side sends the request.
    func sessionHeaders(_ leg: CallLeg, weAreUAC: Bool) -> [SIPMessage.Header] {
        guard let se = leg.sessionInterval else { return [] }
        let refresher = leg.weRefresh == weAreUAC ? "uac" : "uas"
        return [.init("Session-Expires", "\(se);refresher=\(refresher)"), .init("Require", "timer")]
    }

    /// A re-INVITE (hold/resume, a new address or new keys) from one side is offered to the
    /// other; its answer comes back as ours. Without an offer it is a session refresh.
    func reinvite(_ m: SIPMessage, _ conn: ConnectionID, key: ServerTransaction.Key, call: Call, from side: Side) {
        guard call.state == .confirmed, call.pending == nil else {
            return reply(m, 491, conn, headers: [.init("Retry-After", "1")])
        }
        guard let tx = try? ServerTransaction(request: m, timers: settings.timers) else { return reply(m, 400, conn) }
        servers[key] = ServerRecord(transaction: tx, call: call.id, side: side, connection: conn)
        let leg = call[side]
        leg.sessionRefreshed(now: now)
        guard !m.body.isEmpty else {
            // A refresh without an offer: our last description is the offer; its ACK answers.
            var ok = m.response(200)
            ok.headers += [.init("Contact", contact(on: leg)), .init("Content-Type", "application/sdp")]
            ok.headers += sessionHeaders(leg, weAreUAC: false)
            ok.body = Array((leg.lastSDP?.serialized ?? "").utf8)
            leg.answerInAck = leg.lastSDP != nil
            return respond(ok, key: key, conn: conn)
        }
        let offer: SessionDescription
        let index: Int
        let stream: AudioStream
        let chosen: CryptoAttribute?
        do {
            guard let text = m.sdpBody else { throw OfferAnswerError(.malformed, "the body is not application/sdp") }
            offer = try SessionDescription(parsing: text)
            (index, stream) = try AudioStream.first(in: offer)
            chosen = try acceptOffer(stream, legIsPlain: leg.remote?.isPlain == true)
        } catch let e as OfferAnswerError {
            // The old session stays as it was (RFC 3261 §14.2).
            return respond(m.response(e.status, headersWarning: warning(e.message)), key: key, conn: conn)
        } catch {
            return respond(m.response(400, "Bad Request (SDP: \(error))"), key: key, conn: conn)
        }
        // Re-key or move this side's media if the offer changed it — but only once the other
        // side accepted: a refused re-INVITE leaves the session as it was (RFC 3261 §14.1).
        var apply: [CoreAction] = []
        var localKey: CryptoAttribute?
        let address = mediaAddress(stream)
        let rtcp = address == nil ? nil : stream.rtcpPort.flatMap { MediaAddress(host: stream.address, port: $0) }
        if let chosen {
            localKey = leg.localKey
            if chosen.keyingMaterial != leg.remoteKey?.keyingMaterial || chosen.suite != leg.remoteKey?.suite {
                if localKey?.suite != chosen.suite {
                    localKey = CryptoAttribute(
                        tag: chosen.tag, profile: chosen.profile!, keyingMaterial: SRTPParameters.random(chosen.profile!).keyingMaterial)
                }
                guard let keys = relayKeys(theirs: chosen, ours: localKey) else {
                    return respond(m.response(488, headersWarning: warning("the offered key does not fit its suite")), key: key, conn: conn)
                }
                apply.append(.configureMedia(
                    call: call.id, leg: side.legName, keys: keys, rtcpMux: stream.rtcpMux, rtp: address, rtcp: rtcp))
            } else if let address, address != leg.remoteAddress {
                apply.append(.updateMediaRemote(call: call.id, leg: side.legName, rtp: address, rtcp: rtcp))
            }
        } else if leg.remoteKey != nil, let address {
            // From SRTP to plain RTP (an allowed LAN network).
            apply.append(.configureMedia(
                call: call.id, leg: side.legName, keys: nil, rtcpMux: stream.rtcpMux, rtp: address, rtcp: rtcp))
        } else if let address, address != leg.remoteAddress {
            apply.append(.updateMediaRemote(call: call.id, leg: side.legName, rtp: address, rtcp: rtcp))
        }
        call.pending = PendingReinvite(
            from: side, deadline: now + settings.timers.transactionTimeout, serverKey: key, offer: offer, audioIndex: index,
            stream: stream, chosenKey: chosen, localKey: localKey, apply: apply)
        // Offer the other side the same formats and direction, with our unchanged keys there.
        let other = call[side.other]
        guard var d = other.dialog, var local = other.local else { return }
        local.sessionVersion += 1
        other.local = local
        let sdp = OfferAnswer.offer(
            local: local, formats: stream.formats, formatAttributes: stream.formatAttributes, direction: stream.direction,
            keys: other.localKey.map { [$0] } ?? [], proto: other.remote?.proto ?? "RTP/SAVP")
        other.lastSDP = sdp
        var r = d.request("INVITE", via: via(newBranch(), on: other), contact: contact(on: other))
        r.headers += [.init("Allow", Self.allow), .init("Content-Type", "application/sdp")]
        r.headers += sessionHeaders(other, weAreUAC: true)
        r.body = Array(sdp.serialized.utf8)
        other.dialog = d
        log(call, .info, "re-INVITE relayed", ["sip.from_leg": "\(side.legName)", "sdp.direction": "\(stream.direction)"])
        start(r, call: call, side: side.other, purpose: .reinvite)
    }

    /// Where a stream receives, or nil for RFC 2543 hold (0.0.0.0): nothing is sent there.
    func mediaAddress(_ stream: AudioStream) -> MediaAddress? {
        stream.address == "0.0.0.0" || stream.address == "::" ? nil : MediaAddress(host: stream.address, port: stream.port)
    }

    /// The other side answered a re-INVITE we relayed.
    func reinviteResponse(_ r: SIPMessage, call: Call, side: Side, request: SIPMessage) {
        guard let status = r.status, status >= 200, let pending = call.pending else { return }
        let leg = call[side]
        call.pending = nil
        let from = call[pending.from]
        guard (200..<300).contains(status) else {
            // The other side refused (491, 488, …): the re-INVITE's sender gets the same answer.
            if let s = servers[pending.serverKey] {
                respond(s.transaction.request.response(status, r.reasonPhrase), key: pending.serverKey, conn: nil)
            }
            return
        }
        if var d = leg.dialog {
            d.refreshTarget(from: r)
            let ack = d.request("ACK", via: via(newBranch(), on: leg), cseq: request.cseq?.number)
            leg.dialog = d
            send(ack, to: leg, branch: "")
        }
        guard let (stream, ours, theirs) = readReinviteAnswer(r, leg: leg, offeredFormats: pending.stream.formats) else {
            if let s = servers[pending.serverKey] {
                respond(s.transaction.request.response(488, headersWarning: warning("the far side's answer was unusable")),
                    key: pending.serverKey, conn: nil)
            }
            return
        }
        followAnswer(stream, ours: ours, theirs: theirs, call: call, side: side)
        // Accepted: now the sender's side changes too.
        out += pending.apply
        from.remote = pending.stream
        from.remoteKey = pending.chosenKey
        from.localKey = pending.localKey
        guard var local = from.local, let s = servers[pending.serverKey] else { return }
        local.sessionVersion += 1
        from.local = local
        var key: CryptoAttribute?
        if let lk = from.localKey, let chosen = pending.chosenKey {
            key = CryptoAttribute(tag: chosen.tag, profile: lk.profile!, keyingMaterial: lk.keyingMaterial)
        }
        let answer = OfferAnswer.answer(
            to: pending.offer, audioIndex: pending.audioIndex, local: local, formats: stream.formats,
            formatAttributes: stream.attributes(for: stream.formats), direction: stream.direction, key: key,
            rtcpMux: pending.stream.rtcpMux)
        from.lastSDP = answer
        var ok = s.transaction.request.response(200)
        ok.headers += [.init("Contact", contact(on: from)), .init("Content-Type", "application/sdp")]
        ok.headers += sessionHeaders(from, weAreUAC: false)
        ok.body = Array(answer.serialized.utf8)
        respond(ok, key: pending.serverKey, conn: nil)
    }

    /// The ACK to our 200 with an offer (an offerless re-INVITE) carries the answer: the leg's
    /// media follows it. An unusable answer ends the call (RFC 3261 §13.3.1.4).
    func answerInAck(_ ack: SIPMessage, call: Call, side: Side) {
        let leg = call[side]
        leg.answerInAck = false
        guard let offered = leg.lastSDP.flatMap({ try? AudioStream.first(in: $0).stream }) else { return }
        guard let (stream, ours, theirs) = readReinviteAnswer(ack, leg: leg, offeredFormats: offered.formats) else {
            log(call, .warning, "the ACK's answer to our offer is missing or unusable", ["sip.from_leg": "\(side.legName)"])
            return endCall(call, reason: "bad_answer")
        }
        followAnswer(stream, ours: ours, theirs: theirs, call: call, side: side)
    }

    /// The peer answered an offer of ours on `side` (in an ACK or a refresh's 2xx): the
    /// relay follows new keys or a new address.
    func followAnswer(_ stream: AudioStream, ours: CryptoAttribute?, theirs: CryptoAttribute?, call: Call, side: Side) {
        let leg = call[side]
        let address = mediaAddress(stream)
        if let theirs, theirs.keyingMaterial != leg.remoteKey?.keyingMaterial || theirs.suite != leg.remoteKey?.suite,
            let keys = relayKeys(theirs: theirs, ours: ours)
        {
            out.append(.configureMedia(
                call: call.id, leg: side.legName, keys: keys, rtcpMux: stream.rtcpMux, rtp: address, rtcp: nil))
        } else if let address, address != leg.remoteAddress {
            out.append(.updateMediaRemote(call: call.id, leg: side.legName, rtp: address, rtcp: nil))
        }
        leg.remote = stream
        leg.remoteKey = theirs
    }

    /// The answer to a re-INVITE we offered on `leg`: SRTP with our key there, or plain RTP
    /// from an allowed network when the leg is plain. Nil when unusable.
    func readReinviteAnswer(_ r: SIPMessage, leg: CallLeg, offeredFormats: [String])
        -> (AudioStream, CryptoAttribute?, CryptoAttribute?)?
    {
        guard let text = r.sdpBody, let sdp = try? SessionDescription(parsing: text) else { return nil }
        guard let ours = leg.localKey else {
            guard let stream = try? OfferAnswer.readPlainAnswer(sdp, offeredFormats: offeredFormats),
                plainAllowed(stream, legIsPlain: true)
            else { return nil }
            return (stream, nil, nil)
        }
        guard let (stream, ours, theirs) = try? OfferAnswer.readAnswer(sdp, offeredKeys: [ours], offeredFormats: offeredFormats)
        else { return nil }
        return (stream, ours, theirs)
    }

    // MARK: responses

    func response(_ r: SIPMessage) {
        guard let branch = r.topVia?.branch, let method = r.cseq?.method else { return }
        let k = branch + "|" + method
        guard let record = clients[k], record.transaction.matches(r) else { return }
        run(record.transaction.receive(r, now: now), record: k)
    }

    /// Carries out a client transaction's outputs and passes responses on.
    func run(_ outputs: [ClientTransaction.Output], record k: String) {
        guard let record = clients[k] else { return }
        if record.transaction.state == .terminated { clients[k] = nil } else { track(client: k) }
        let call = calls[record.call]
        for o in outputs {
            switch o {
            case .send(let m):
                send(m, to: record.leg, branch: record.transaction.branch)
            case .deliver(let r):
                if record.purpose == .invite, let status = r.status {
                    if record.cancelWhenRinging, (101..<200).contains(status) {
                        record.cancelWhenRinging = false
                        sendCancel(record)
                    }
                    if (200..<300).contains(status), call == nil || call?.cancelled == true {
                        hangUpLateAnswer(r, invite: record.transaction.request, leg: record.leg, call: record.call)
                        continue
                    }
                }
                guard let call else { continue }
                switch record.purpose {
                case .invite: inviteResponse(r, call: call)
                case .reinvite: reinviteResponse(r, call: call, side: record.side, request: record.transaction.request)
                case .refresh: refreshResponse(r, call: call, side: record.side, request: record.transaction.request)
                case .bye, .cancel: break
                }
            case .timeout, .transportError:
                counters.transactionTimeouts += 1
                guard let call else { continue }
                let status = o == .timeout ? 408 : 503
                switch record.purpose {
                case .invite:
                    log(call, .warning, "target did not answer", ["sip.status": "\(status)"])
                    endCall(call, reason: status == 408 ? "target_timeout" : "target_unreachable", status: status)
                case .reinvite:
                    if let p = call.pending, let s = servers[p.serverKey] {
                        call.pending = nil
                        respond(s.transaction.request.response(status), key: p.serverKey, conn: nil)
                    }
                    endCall(call, reason: "reinvite_failed")
                case .refresh: endCall(call, reason: "refresh_failed")
                case .bye, .cancel: break
                }
            }
        }
    }

    // MARK: ending

    /// Ends a call from any state: the caller gets `status` if it was never answered, every
    /// confirmed dialog except `except` gets BYE, the media is released.
    func endCall(_ call: Call, reason: String, status: Int = 500, except: Side? = nil) {
        guard calls[call.id] != nil else { return }
        if let p = call.pending, let s = servers[p.serverKey] {
            // A re-INVITE in flight gets its final answer (the dialog is ending).
            call.pending = nil
            respond(s.transaction.request.response(487), key: p.serverKey, conn: nil)
        }
        if call.state == .allocating || call.state == .calling {
            respond(call.invite.response(status, toTag: call[.a].localTag), key: call.inviteKey, conn: nil)
            cancelOutgoing(call)
        }
        for side in [Side.a, .b] where side != except {
            let leg = call[side]
            guard var d = leg.dialog else { continue }
            let bye = d.request("BYE", via: via(newBranch(), on: leg))
            leg.dialog = d
            start(bye, call: call, side: side, purpose: .bye)
        }
        if call.media != nil { out.append(.releaseMedia(call: call.id, reason: .hangup)) }
        forget(call, reason: reason, keepClients: true)
    }

    /// Drops a call's state (its media is already released or was never allocated).
    func forget(_ call: Call, reason: String, keepClients: Bool = false) {
        calls[call.id] = nil
        for leg in call.legs { if let d = leg.dialog { dialogs[d.id] = nil } }
        counters.callsEnded[reason, default: 0] += 1
        callEvent("call_ended", call, detail: reason)
        log(call, .info, "call ended", ["call.reason": "\(reason)", "call.seconds": "\(Int(now - call.startedAt))"])
    }

    // MARK: time

    func tick() {
        while let k = clientTimers.popDue(now) {
            guard let r = clients[k], let d = r.transaction.deadline, d <= now else { continue }
            run(r.transaction.expire(now: now), record: k)
        }
        while let k = serverTimers.popDue(now) {
            guard let s = servers[k], let d = s.transaction.deadline, d <= now else { continue }
            _ = s.transaction.expire(now: now)
            if s.transaction.state == .terminated { servers[k] = nil }
        }
        for call in Array(calls.values) {
            if let d = call.ringDeadline, d <= now {
                log(call, .info, "no answer within the ring time")
                endCall(call, reason: "ring_timeout", status: 408)
            } else if let d = call.ackDeadline, d <= now {
                log(call, .warning, "the caller never acknowledged the 200")
                endCall(call, reason: "no_ack")
            } else if call.legs.contains(where: { ($0.expiresAt ?? .infinity) <= now }) {
                counters.sessionTimerExpiries += 1
                log(call, .warning, "session timer expired without a refresh")
                endCall(call, reason: "session_expired")
            } else if let drain = drainDeadline, drain <= now {
                endCall(call, reason: "shutdown")
            } else if let p = call.pending, p.deadline <= now {
                // The other side never answered the relayed re-INVITE: the sender gets 408 and
                // the session stays as it was.
                call.pending = nil
                if let s = servers[p.serverKey] { respond(s.transaction.request.response(408), key: p.serverKey, conn: nil) }
            } else {
                for side in [Side.a, .b] where (call[side].refreshAt ?? .infinity) <= now {
                    refresh(call, side: side)
                }
            }
        }
    }

    /// We are the refresher on this side (RFC 4028 §7.4): an UPDATE without a body.
    /// A session refresh (RFC 4028 §10): UPDATE without a body, or a re-INVITE that offers
    /// our last description again when the peer does not do UPDATE. The next one is planned
    /// when this one's answer comes.
    func refresh(_ call: Call, side: Side) {
        let leg = call[side]
        guard var d = leg.dialog, let se = leg.sessionInterval else { return }
        leg.refreshAt = nil
        let method = leg.refreshWithInvite ? "INVITE" : "UPDATE"
        var u = d.request(method, via: via(newBranch(), on: leg), contact: contact(on: leg))
        // We send the refresh, so we are this transaction's UAC and the refresher (§9).
        u.headers += [
            .init("Session-Expires", "\(se);refresher=uac"), .init("Min-SE", "\(settings.minSessionExpires)"),
            .init("Supported", "timer"),
        ]
        if method == "INVITE", let sdp = leg.lastSDP {
            u.headers += [.init("Allow", Self.allow), .init("Content-Type", "application/sdp")]
            u.body = Array(sdp.serialized.utf8)
        }
        leg.dialog = d
        start(u, call: call, side: side, purpose: .refresh)
    }

    /// The answer to our refresh: 2xx restarts the timer; 422 asks for a longer interval,
    /// 405/501 for a re-INVITE (both retried at once); 481/408 end the call; anything else is
    /// retried before the session would expire (RFC 4028 §10).
    func refreshResponse(_ r: SIPMessage, call: Call, side: Side, request: SIPMessage) {
        guard let status = r.status, status >= 200 else { return }
        let leg = call[side]
        if request.method == "INVITE", (200..<300).contains(status), var d = leg.dialog {
            d.refreshTarget(from: r)
            send(d.request("ACK", via: via(newBranch(), on: leg), cseq: request.cseq?.number), to: leg, branch: "")
            leg.dialog = d
            if let offered = leg.lastSDP.flatMap({ try? AudioStream.first(in: $0).stream }),
                let (stream, ours, theirs) = readReinviteAnswer(r, leg: leg, offeredFormats: offered.formats)
            {
                followAnswer(stream, ours: ours, theirs: theirs, call: call, side: side)
            }
        }
        switch status {
        case 200..<300:
            if let se = r.sessionExpires { leg.sessionInterval = se.interval }
            leg.sessionRefreshed(now: now, weRefresh: r.sessionExpires?.refresher != .uas)
        case 422:
            let minSE = r.value("Min-SE").flatMap { Int($0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? "") }
            guard let minSE, minSE > (leg.sessionInterval ?? 0), minSE <= 86400 else {
                return endCall(call, reason: "refresh_failed")
            }
            leg.sessionInterval = minSE
            refresh(call, side: side)
        case 405 where !leg.refreshWithInvite, 501 where !leg.refreshWithInvite:
            leg.refreshWithInvite = true
            refresh(call, side: side)
        case 408, 481:
            endCall(call, reason: "refresh_failed")
        default:
            // 491, 500, 503…: the session stays; try again while there is time.
            let left = (leg.expiresAt ?? now) - now
            leg.refreshAt = left > 4 ? now + left / 2 : nil
        }
    }
}

extension SIPMessage {
    func response(_ status: Int, headersWarning w: SIPMessage.Header) -> SIPMessage {
        var r = response(status)
        r.headers.append(w)
        return r
    }
}
