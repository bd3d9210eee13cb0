import Testing

@testable import SIP

/// RFC 3261 §17 transactions over a reliable transport (TCP/TLS), RFC 6026 for 2xx.
@Suite("SIP transactions")
struct TransactionTests {
    static let via = "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK74bf9"

    /// A request as a UAC sends it: one Via (ours), a Route, no To tag.
    static func request(
        _ method: String, via: String? = TransactionTests.via, cseq: UInt32 = 314, cseqMethod: String? = nil
    ) -> SIPMessage {
        var headers: [SIPMessage.Header] = []
        if let via { headers.append(.init("Via", via)) }
        headers += [
            .init("Max-Forwards", "70"),
            .init("Route", "<sip:proxy.example;lr>"),
            .init("From", "Alice <sip:alice@atlanta.example>;tag=9fxced76sl"),
            .init("To", "Bob <sip:bob@biloxi.example>"),
            .init("Call-ID", "3848276298220188511@atlanta.example"),
            .init("CSeq", "\(cseq) \(cseqMethod ?? method)"),
            .init("Contact", "<sip:alice@192.0.2.1;transport=tcp>"),
        ]
        return SIPMessage(startLine: .request(method: method, uri: "sip:bob@biloxi.example"), headers: headers)
    }

    static var invite: SIPMessage { request("INVITE") }

    // MARK: INVITE client

    @Test func inviteClientStartsCallingWithTimerB() throws {
        let tx = try ClientTransaction(request: Self.invite, now: 100)
        #expect(tx.state == .calling)
        #expect(tx.isInvite)
        #expect(tx.branch == "z9hG4bK74bf9")
        #expect(tx.deadline == 132)  // Timer B = 64·T1 = 32 s
        let slow = try ClientTransaction(request: Self.invite, now: 0, timers: SIPTimers(t1: 1))
        #expect(slow.deadline == 64)
    }

    @Test func timerValues() {
        #expect(SIPTimers().t1 == 0.5)
        #expect(SIPTimers().transactionTimeout == 32)
        #expect(SIPTimers(t1: 0.25).transactionTimeout == 16)
    }

    @Test func inviteClientProvisionalMovesToProceeding() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        let ringing = Self.invite.response(180, toTag: "8321234356")
        let out1 = tx.receive(ringing, now: 1)
        #expect(out1 == [.deliver(ringing)])
        #expect(tx.state == .proceeding)
        let again = Self.invite.response(183, toTag: "8321234356")
        let out2 = tx.receive(again, now: 2)
        #expect(out2 == [.deliver(again)])
        #expect(tx.state == .proceeding)
    }

    @Test func inviteClientNonSuccessFinalSendsAckAndTerminates() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        _ = tx.receive(Self.invite.response(180, toTag: "bt"), now: 1)
        let busy = Self.invite.response(486, toTag: "bt")
        let out = tx.receive(busy, now: 2)
        #expect(out.count == 2)
        guard out.count == 2, case .send(let ack) = out[0] else {
            Issue.record("expected .send(ACK) first, got \(out)")
            return
        }
        #expect(out[1] == .deliver(busy))
        #expect(tx.state == .terminated)  // Timer D is zero on TCP
        #expect(tx.deadline == nil)

        // §17.1.1.3: the ACK of a non-2xx final response.
        #expect(ack.method == "ACK")
        #expect(ack.requestURI == Self.invite.requestURI)
        #expect(ack.vias == [Self.via])
        #expect(ack.topVia?.branch == "z9hG4bK74bf9")
        #expect(ack.cseq == CSeq(number: 314, method: "ACK"))
        #expect(ack.to?.tag == "bt")
        #expect(ack.value("To") == busy.value("To"))
        #expect(ack.value("From") == Self.invite.value("From"))
        #expect(ack.callID == Self.invite.callID)
        #expect(ack.values("Route") == ["<sip:proxy.example;lr>"])
        #expect(ack.maxForwards == 70)
        #expect(ack.missingMandatoryHeader == nil)

        // A retransmitted final response is absorbed once terminated.
        let out3 = tx.receive(busy, now: 3)
        #expect(out3 == [])
    }

    @Test func inviteClientFinalFromCallingAlsoAcks() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        let declined = Self.invite.response(603, toTag: "d1")
        let out = tx.receive(declined, now: 1)
        #expect(out.count == 2)
        if case .send(let ack)? = out.first {
            #expect(ack.method == "ACK" && ack.to?.tag == "d1")
        } else {
            Issue.record("expected an ACK, got \(out)")
        }
        #expect(out.last == .deliver(declined))
        #expect(tx.state == .terminated)
    }

    @Test func inviteClientSuccessIsAcceptedAndForkedSuccessIsDeliveredUntilTimerM() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        _ = tx.receive(Self.invite.response(180, toTag: "a"), now: 1)
        let ok = Self.invite.response(200, toTag: "a")
        let out4 = tx.receive(ok, now: 5)
        #expect(out4 == [.deliver(ok)])  // no ACK: the TU sends the 2xx ACK
        #expect(tx.state == .accepted)
        #expect(tx.deadline == 37)  // Timer M = 64·T1 from the 2xx
        let fork = Self.invite.response(200, toTag: "b")
        let out5 = tx.receive(fork, now: 6)
        #expect(out5 == [.deliver(fork)])
        #expect(tx.state == .accepted)
        // A provisional after the 2xx is absorbed.
        let out6 = tx.receive(Self.invite.response(180, toTag: "c"), now: 7)
        #expect(out6 == [])

        let out7 = tx.expire(now: 36.9)
        #expect(out7 == [])
        #expect(tx.state == .accepted)
        let out8 = tx.expire(now: 37)
        #expect(out8 == [])  // Timer M: no .timeout
        #expect(tx.state == .terminated)
        #expect(tx.deadline == nil)
        let out9 = tx.receive(fork, now: 38)
        #expect(out9 == [])
    }

    @Test func inviteClientTimerBFiresOnlyAtItsDeadline() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 100)
        let out10 = tx.expire(now: 131.99)
        #expect(out10 == [])
        #expect(tx.state == .calling)
        #expect(tx.deadline == 132)
        let out11 = tx.expire(now: 132)
        #expect(out11 == [.timeout])
        #expect(tx.state == .terminated)
        #expect(tx.deadline == nil)
        let out12 = tx.expire(now: 200)
        #expect(out12 == [])
    }

    /// RFC 3261 §17.1.1.2: Timer B only times out a transaction still in "calling"; once a
    /// provisional arrived the INVITE may ring for as long as the TU lets it (the TU cancels).
    @Test func inviteClientTimerBDoesNotEndARingingTransaction() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        _ = tx.receive(Self.invite.response(180, toTag: "r"), now: 1)
        let out13 = tx.expire(now: 33)
        #expect(out13 == [])
        #expect(tx.state == .proceeding)
        let ok = Self.invite.response(200, toTag: "r")
        let out14 = tx.receive(ok, now: 90)
        #expect(out14 == [.deliver(ok)])
    }

    @Test func inviteClientTransportFailure() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        let out15 = tx.transportFailed()
        #expect(out15 == [.transportError])
        #expect(tx.state == .terminated)
        let out16 = tx.transportFailed()
        #expect(out16 == [])

        var proceeding = try ClientTransaction(request: Self.invite, now: 0)
        _ = proceeding.receive(Self.invite.response(180, toTag: "x"), now: 1)
        let out17 = proceeding.transportFailed()
        #expect(out17 == [.transportError])

        // After a 2xx nothing is waiting for an answer any more.
        var accepted = try ClientTransaction(request: Self.invite, now: 0)
        _ = accepted.receive(Self.invite.response(200, toTag: "x"), now: 1)
        let out18 = accepted.transportFailed()
        #expect(out18 == [])
        #expect(accepted.state == .terminated)
    }

    @Test func cancelCopiesTheInvite() throws {
        var tx = try ClientTransaction(request: Self.invite, now: 0)
        let early = try #require(tx.cancel())  // allowed while calling
        #expect(early.method == "CANCEL")
        _ = tx.receive(Self.invite.response(180, toTag: "z"), now: 1)
        let cancel = try #require(tx.cancel())
        #expect(cancel.method == "CANCEL")
        #expect(cancel.requestURI == "sip:bob@biloxi.example")
        #expect(cancel.vias == [Self.via])
        #expect(cancel.topVia?.branch == tx.branch)
        #expect(cancel.cseq == CSeq(number: 314, method: "CANCEL"))
        #expect(cancel.callID == Self.invite.callID)
        #expect(cancel.value("From") == Self.invite.value("From"))
        #expect(cancel.value("To") == Self.invite.value("To"))  // the INVITE's To: no tag (§9.1)
        #expect(cancel.to?.tag == nil)
        #expect(cancel.values("Route") == Self.invite.values("Route"))
        #expect(cancel.missingMandatoryHeader == nil)

        _ = tx.receive(Self.invite.response(487, toTag: "z"), now: 2)
        #expect(tx.cancel() == nil)

        var answered = try ClientTransaction(request: Self.invite, now: 0)
        _ = answered.receive(Self.invite.response(200, toTag: "z"), now: 1)
        #expect(answered.cancel() == nil)

        let options = try ClientTransaction(request: Self.request("OPTIONS"), now: 0)
        #expect(options.cancel() == nil)
    }

    // MARK: non-INVITE client

    @Test func nonInviteClientTryingProceedingTerminated() throws {
        let bye = Self.request("BYE", cseq: 315)
        var tx = try ClientTransaction(request: bye, now: 10)
        #expect(!tx.isInvite)
        #expect(tx.state == .trying)
        #expect(tx.deadline == 42)  // Timer F
        let trying = bye.response(100)
        let out19 = tx.receive(trying, now: 11)
        #expect(out19 == [.deliver(trying)])
        #expect(tx.state == .proceeding)
        let ok = bye.response(200, toTag: "t")
        let out20 = tx.receive(ok, now: 12)
        #expect(out20 == [.deliver(ok)])  // no ACK for non-INVITE
        #expect(tx.state == .terminated)  // Timer K is zero on TCP
        #expect(tx.deadline == nil)
        let out21 = tx.receive(ok, now: 13)
        #expect(out21 == [])
    }

    @Test func nonInviteClientFinalErrorFromTryingHasNoAck() throws {
        let bye = Self.request("BYE")
        var tx = try ClientTransaction(request: bye, now: 0)
        let notFound = bye.response(481, toTag: "t")
        let out22 = tx.receive(notFound, now: 1)
        #expect(out22 == [.deliver(notFound)])
        #expect(tx.state == .terminated)
    }

    @Test func nonInviteClientTimerF() throws {
        var tx = try ClientTransaction(request: Self.request("OPTIONS"), now: 0)
        _ = tx.receive(Self.request("OPTIONS").response(100), now: 1)
        let out23 = tx.expire(now: 31.5)
        #expect(out23 == [])
        #expect(tx.state == .proceeding)
        let out24 = tx.expire(now: 32)
        #expect(out24 == [.timeout])  // Timer F runs in proceeding too
        #expect(tx.state == .terminated)
    }

    // MARK: matching and errors

    @Test func responseMatching() throws {
        let tx = try ClientTransaction(request: Self.invite, now: 0)
        let ok = Self.invite.response(200, toTag: "m")
        #expect(tx.matches(ok))

        var otherBranch = ok
        otherBranch.setHeader("Via", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKother")
        #expect(!tx.matches(otherBranch))

        var otherMethod = ok
        otherMethod.setHeader("CSeq", "314 CANCEL")
        #expect(!tx.matches(otherMethod))

        var noVia = ok
        noVia.removeHeaders("Via")
        #expect(!tx.matches(noVia))
    }

    @Test func clientTransactionNeedsAnRFC3261BranchAndIsNotForAck() {
        #expect(throws: SIPTransactionError.self) {
            _ = try ClientTransaction(request: Self.request("INVITE", via: "SIP/2.0/TCP 192.0.2.1:5060"), now: 0)
        }
        #expect(throws: SIPTransactionError.self) {
            _ = try ClientTransaction(request: Self.request("INVITE", via: "SIP/2.0/TCP 192.0.2.1;branch=1234"), now: 0)
        }
        #expect(throws: SIPTransactionError.self) {
            _ = try ClientTransaction(request: Self.request("INVITE", via: nil), now: 0)
        }
        #expect(throws: SIPTransactionError.self) {
            _ = try ClientTransaction(request: Self.request("ACK", cseqMethod: "INVITE"), now: 0)
        }
        let response = Self.invite.response(200)
        #expect(throws: SIPTransactionError.self) { _ = try ClientTransaction(request: response, now: 0) }
    }

    // MARK: INVITE server

    @Test func inviteServerSendsProvisionalAndNonSuccessFinalThenWaitsForAck() throws {
        let invite = Self.invite
        var tx = try ServerTransaction(request: invite)
        #expect(tx.state == .proceeding)
        #expect(tx.isInvite)
        #expect(tx.deadline == nil)

        // A retransmission before any response: nothing to resend yet.
        let out25 = tx.receive(invite, now: 0.5)
        #expect(out25 == [])

        let ringing = invite.response(180, toTag: "s1")
        let out26 = tx.respond(ringing, now: 1)
        #expect(out26 == [.send(ringing)])
        #expect(tx.state == .proceeding)
        #expect(tx.lastResponse == ringing)
        let out27 = tx.receive(invite, now: 1.5)
        #expect(out27 == [.send(ringing)])

        let busy = invite.response(486, toTag: "s1")
        let out28 = tx.respond(busy, now: 10)
        #expect(out28 == [.send(busy)])
        #expect(tx.state == .completed)
        #expect(tx.deadline == 42)  // Timer H

        // A retransmitted INVITE gets the final response again.
        let out29 = tx.receive(invite, now: 11)
        #expect(out29 == [.send(busy)])
        // Another final (or provisional) response is not sent.
        let out30 = tx.respond(invite.response(200, toTag: "s1"), now: 12)
        #expect(out30 == [])
        let out31 = tx.respond(invite.response(180, toTag: "s1"), now: 12)
        #expect(out31 == [])
        #expect(tx.lastResponse == busy)
        #expect(tx.state == .completed)

        var ack = Self.request("ACK", cseqMethod: "ACK")
        ack.setHeader("CSeq", "314 ACK")
        ack.setHeader("To", busy.value("To")!)
        let out32 = tx.receive(ack, now: 13)
        #expect(out32 == [])  // absorbed, not passed up
        #expect(tx.state == .terminated)  // Timer I is zero on TCP
        #expect(tx.deadline == nil)
        let out33 = tx.expire(now: 100)
        #expect(out33 == [])
    }

    @Test func inviteServerTimerHWithoutAck() throws {
        var tx = try ServerTransaction(request: Self.invite)
        _ = tx.respond(Self.invite.response(503, toTag: "h"), now: 0)
        let out34 = tx.expire(now: 31.9)
        #expect(out34 == [])
        #expect(tx.state == .completed)
        let out35 = tx.expire(now: 32)
        #expect(out35 == [.timeout])
        #expect(tx.state == .terminated)
        #expect(tx.deadline == nil)
    }

    @Test func inviteServerSuccessPassesTheAckUp() throws {
        var tx = try ServerTransaction(request: Self.invite)
        let ok = Self.invite.response(200, toTag: "ok")
        let out36 = tx.respond(ok, now: 5)
        #expect(out36 == [.send(ok)])
        #expect(tx.state == .accepted)
        #expect(tx.deadline == 37)  // Timer L
        // The TU may send its 2xx again; other finals are not sent.
        let out37 = tx.respond(ok, now: 6)
        #expect(out37 == [.send(ok)])
        let out38 = tx.respond(Self.invite.response(500, toTag: "ok"), now: 6)
        #expect(out38 == [])
        // A retransmitted INVITE is absorbed (the TU resends 2xx itself).
        let out39 = tx.receive(Self.invite, now: 6.5)
        #expect(out39 == [])

        var ack = Self.request("ACK")
        ack.setHeader("Via", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK74bf9")
        let out40 = tx.receive(ack, now: 7)
        #expect(out40 == [.deliver(ack)])
        #expect(tx.state == .accepted)
        let out41 = tx.expire(now: 37)
        #expect(out41 == [])  // Timer L: no .timeout
        #expect(tx.state == .terminated)
    }

    @Test func nonInviteServer() throws {
        let bye = Self.request("BYE")
        var tx = try ServerTransaction(request: bye)
        #expect(!tx.isInvite)
        #expect(tx.state == .trying)
        let trying = bye.response(100)
        let out42 = tx.respond(trying, now: 0)
        #expect(out42 == [.send(trying)])
        #expect(tx.state == .proceeding)
        let ok = bye.response(200, toTag: "t")
        let out43 = tx.respond(ok, now: 1)
        #expect(out43 == [.send(ok)])
        #expect(tx.state == .terminated)  // Timer J is zero on TCP
        let out44 = tx.respond(bye.response(500), now: 2)
        #expect(out44 == [])
        let out45 = tx.receive(bye, now: 3)
        #expect(out45 == [])
    }

    /// RFC 2543 peers (no magic cookie, or no branch) still get a transaction, matched by
    /// the §17.2.3 rule: Request-URI, tags, Call-ID, CSeq and top Via. ACK gets none.
    @Test func serverTransactionForRFC2543PeersAndNotForAck() throws {
        let noBranch = try ServerTransaction(request: Self.request("INVITE", via: "SIP/2.0/TCP 192.0.2.1:5060"))
        let oldBranch = try ServerTransaction(request: Self.request("INVITE", via: "SIP/2.0/TCP 192.0.2.1;branch=abc"))
        #expect(noBranch.key.branch.hasPrefix("rfc2543;"))
        #expect(oldBranch.key != noBranch.key, "the old-style branch is part of the key")
        let retransmission = try #require(ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP 192.0.2.1;branch=abc")))
        #expect(retransmission == oldBranch.key)
        let ack = try #require(ServerTransaction.Key(Self.request("ACK", via: "SIP/2.0/TCP 192.0.2.1;branch=abc", cseqMethod: "INVITE")))
        #expect(ack == oldBranch.key, "the ACK for a non-2xx matches its INVITE")
        #expect(throws: SIPTransactionError.self) {
            _ = try ServerTransaction(request: Self.request("ACK", cseqMethod: "INVITE"))
        }
    }

    // MARK: keys

    @Test func serverTransactionKeys() throws {
        let key = try #require(ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP Host.Example;branch=z9hG4bKk1")))
        #expect(key == ServerTransaction.Key(branch: "z9hG4bKk1", sentBy: "host.example:5060", method: "INVITE"))

        // ACK belongs to the INVITE's transaction; CANCEL is its own.
        let ack = ServerTransaction.Key(Self.request("ACK", via: "SIP/2.0/TCP host.example:5060;branch=z9hG4bKk1"))
        #expect(ack == key)
        let cancel = ServerTransaction.Key(Self.request("CANCEL", via: "SIP/2.0/TCP host.example;branch=z9hG4bKk1"))
        #expect(cancel != key)
        #expect(cancel?.method == "CANCEL")

        // A different sent-by (port or host) is a different transaction.
        let otherPort = ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP host.example:5070;branch=z9hG4bKk1"))
        #expect(otherPort != key)
        #expect(otherPort?.sentBy == "host.example:5070")
        let otherHost = ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP other.example;branch=z9hG4bKk1"))
        #expect(otherHost != key)
        let otherBranch = ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP host.example;branch=z9hG4bKk2"))
        #expect(otherBranch != key)

        #expect(ServerTransaction.Key(Self.request("INVITE", via: "SIP/2.0/TCP host.example"))?.branch.hasPrefix("rfc2543;") == true)
        #expect(ServerTransaction.Key(Self.request("INVITE", via: nil)) == nil)
        #expect(ServerTransaction.Key(Self.invite.response(200)) == nil)

        let tx = try ServerTransaction(request: Self.request("INVITE", via: "SIP/2.0/TCP host.example;branch=z9hG4bKk1"))
        #expect(tx.key == key)
    }
}
