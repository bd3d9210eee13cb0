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
        let tls = leg.hop?.tls ?? false
        send(d.request("ACK", via: via(newBranch(), tls: tls), cseq: invite.cseq?.number), to: leg, branch: "")
        let bye = d.request("BYE", via: via(newBranch(), tls: tls))
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
            ok.headers += [.init("Contact", contact(tls: false)), .init("Content-Type", "application/sdp")]
            ok.headers += sessionHeaders(leg, weAreUAC: false)
            ok.body = Array((leg.lastSDP?.serialized ?? "").utf8)
            return respond(ok, key: key, conn: conn)
        }
        let offer: SessionDescription
        let index: Int
        let stream: AudioStream
        let chosen: CryptoAttribute
        do {
            guard let text = m.sdpBody else { throw OfferAnswerError(.malformed, "the body is not application/sdp") }
            offer = try SessionDescription(parsing: text)
            (index, stream) = try AudioStream.first(in: offer)
            chosen = try settings.srtp.choose(from: stream)
        } catch let e as OfferAnswerError {
            // The old session stays as it was (RFC 3261 §14.2).
            return respond(m.response(e.status, headersWarning: warning(e.message)), key: key, conn: conn)
        } catch {
            return respond(m.response(400, "Bad Request (SDP: \(error))"), key: key, conn: conn)
        }
        // Re-key or move this side's media if the offer changed it — but only once the other
        // side accepted: a refused re-INVITE leaves the session as it was (RFC 3261 §14.1).
        var apply: [CoreAction] = []
        var localKey = leg.localKey
        if let remote = try? SRTPParameters(profile: chosen.profile!, keyingMaterial: chosen.keyingMaterial) {
            let address = stream.address == "0.0.0.0" ? nil : MediaAddress(host: stream.address, port: stream.port)
            if chosen.keyingMaterial != leg.remoteKey?.keyingMaterial || chosen.suite != leg.remoteKey?.suite {
                if localKey?.suite != chosen.suite {
                    localKey = CryptoAttribute(
                        tag: chosen.tag, profile: chosen.profile!, keyingMaterial: SRTPParameters.random(chosen.profile!).keyingMaterial)
                }
                if let lk = localKey, let local = try? SRTPParameters(profile: lk.profile!, keyingMaterial: lk.keyingMaterial) {
                    apply.append(.configureMedia(
                        call: call.id, leg: side.legName, remote: remote, local: local, rtcpMux: stream.rtcpMux, rtp: address,
                        rtcp: stream.rtcpPort.flatMap { MediaAddress(host: stream.address, port: $0) }))
                }
            } else if let address, address.port != leg.remote?.port || stream.address != leg.remote?.address {
                apply.append(.updateMediaRemote(
                    call: call.id, leg: side.legName, rtp: address,
                    rtcp: stream.rtcpPort.flatMap { MediaAddress(host: stream.address, port: $0) }))
            }
        }
        call.pending = PendingReinvite(
            from: side, deadline: now + settings.timers.transactionTimeout, serverKey: key, offer: offer, audioIndex: index,
            stream: stream, chosenTag: chosen.tag, chosenKey: chosen, localKey: localKey, apply: apply)
        // Offer the other side the same formats and direction, with our unchanged keys there.
        let other = call[side.other]
        guard var d = other.dialog, let otherKey = other.localKey, var local = other.local else { return }
        local.sessionVersion += 1
        other.local = local
        let sdp = OfferAnswer.offer(
            local: local, formats: stream.formats, formatAttributes: stream.formatAttributes, direction: stream.direction,
            keys: [otherKey], proto: other.remote?.proto ?? "RTP/SAVP")
        other.lastSDP = sdp
        var r = d.request("INVITE", via: via(newBranch(), tls: other.hop?.tls ?? false), contact: contact(tls: false))
        r.headers += [.init("Allow", Self.allow), .init("Content-Type", "application/sdp")]
        r.headers += sessionHeaders(other, weAreUAC: true)
        r.body = Array(sdp.serialized.utf8)
        other.dialog = d
        log(call, .info, "re-INVITE relayed", ["sip.from_leg": "\(side.legName)", "sdp.direction": "\(stream.direction)"])
        start(r, call: call, side: side.other, purpose: .reinvite)
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
            let ack = d.request("ACK", via: via(newBranch()), cseq: request.cseq?.number)
            leg.dialog = d
            send(ack, to: leg, branch: "")
        }
        guard let text = r.sdpBody, let sdp = try? SessionDescription(parsing: text),
            let (stream, ours, theirs) = try? OfferAnswer.readAnswer(
                sdp, offeredKeys: [leg.localKey].compactMap { $0 }, offeredFormats: pending.stream.formats)
        else {
            if let s = servers[pending.serverKey] {
                respond(s.transaction.request.response(488, headersWarning: warning("the far side's answer was unusable")),
                    key: pending.serverKey, conn: nil)
            }
            return
        }
        if theirs.keyingMaterial != leg.remoteKey?.keyingMaterial,
            let remote = try? SRTPParameters(profile: theirs.profile!, keyingMaterial: theirs.keyingMaterial),
            let local = try? SRTPParameters(profile: ours.profile!, keyingMaterial: ours.keyingMaterial)
        {
            out.append(.configureMedia(
                call: call.id, leg: side.legName, remote: remote, local: local, rtcpMux: stream.rtcpMux,
                rtp: MediaAddress(host: stream.address, port: stream.port), rtcp: nil))
        } else if stream.address != leg.remote?.address || stream.port != leg.remote?.port,
            let address = MediaAddress(host: stream.address, port: stream.port)
        {
            out.append(.updateMediaRemote(call: call.id, leg: side.legName, rtp: address, rtcp: nil))
        }
        leg.remote = stream
        leg.remoteKey = theirs
        // Accepted: now the sender's side changes too.
        out += pending.apply
        from.remote = pending.stream
        from.remoteKey = pending.chosenKey
        from.localKey = pending.localKey
        guard var local = from.local, let s = servers[pending.serverKey] else { return }
        local.sessionVersion += 1
        from.local = local
        let key = from.localKey.map { CryptoAttribute(tag: pending.chosenTag, profile: $0.profile!, keyingMaterial: $0.keyingMaterial) }
        let answer = OfferAnswer.answer(
            to: pending.offer, audioIndex: pending.audioIndex, local: local, formats: stream.formats,
            formatAttributes: stream.attributes(for: stream.formats), direction: stream.direction, key: key,
            rtcpMux: pending.stream.rtcpMux)
        from.lastSDP = answer
        var ok = s.transaction.request.response(200)
        ok.headers += [.init("Contact", contact(tls: false)), .init("Content-Type", "application/sdp")]
        ok.headers += sessionHeaders(from, weAreUAC: false)
        ok.body = Array(answer.serialized.utf8)
        respond(ok, key: pending.serverKey, conn: nil)
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
                case .refresh:
                    if let s = r.status, s == 481 || s == 408 { endCall(call, reason: "refresh_failed") }
                    if let s = r.status, (200..<300).contains(s) { call[record.side].sessionRefreshed(now: now) }
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
            let bye = d.request("BYE", via: via(newBranch(), tls: leg.hop?.tls ?? false))
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
    func refresh(_ call: Call, side: Side) {
        let leg = call[side]
        guard var d = leg.dialog, let se = leg.sessionInterval else { return }
        leg.refreshAt = now + Double(se) / 2
        var u = d.request("UPDATE", via: via(newBranch(), tls: leg.hop?.tls ?? false), contact: contact(tls: false))
        // We send the refresh, so we are this transaction's UAC and the refresher (§9).
        u.headers += [.init("Session-Expires", "\(se);refresher=uac"), .init("Supported", "timer")]
        leg.dialog = d
        start(u, call: call, side: side, purpose: .refresh)
    }
}

extension SIPMessage {
    func response(_ status: Int, headersWarning w: SIPMessage.Header) -> SIPMessage {
        var r = response(status)
        r.headers.append(w)
        return r
    }
}
