import Testing

@testable import SIP

/// RFC 3261 §12: dialog creation on both sides, requests inside a dialog, CSeq checks.
@Suite("SIP dialogs")
struct DialogTests {
    static let via = "SIP/2.0/TCP bob.example:5060;branch=z9hG4bKnashds8"

    static func parse(_ text: String) throws -> SIPMessage {
        var p = SIPStreamParser()
        p.feed(Array(text.utf8))
        return try #require(try p.next())
    }

    static func message(_ startLine: String, _ headers: [(String, String)]) -> String {
        var text = startLine + "\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "Content-Length: 0\r\n\r\n"
    }

    /// An INVITE as it reaches the UAS through two proxies: the Record-Route values are in
    /// one header with two values and one header with one (§20.30).
    static func incomingInvite(contact: String? = "<sip:alice@pc33.atlanta.example:5070;transport=tcp>") throws -> SIPMessage {
        var headers: [(String, String)] = [
            ("Via", "SIP/2.0/TCP proxy2.example:5060;branch=z9hG4bK-p2"),
            ("Via", "SIP/2.0/TCP pc33.atlanta.example:5070;branch=z9hG4bK-uac"),
            ("Max-Forwards", "68"),
            ("Record-Route", "<sip:proxy2.example;lr>, <sip:proxy1.example;lr>"),
            ("Record-Route", "<sip:edge.example;lr>"),
            ("From", "Alice <sip:alice@atlanta.example>;tag=a1"),
            ("To", "Bob <sip:bob@biloxi.example>"),
            ("Call-ID", "dlg-1@pc33.atlanta.example"),
            ("CSeq", "101 INVITE"),
        ]
        if let contact { headers.append(("Contact", contact)) }
        return try parse(message("INVITE sip:bob@biloxi.example SIP/2.0", headers))
    }

    /// A request the peer sends inside the UAS dialog (its To tag is ours).
    static func inDialog(_ method: String, cseq: UInt32, contact: String? = nil) throws -> SIPMessage {
        var headers: [(String, String)] = [
            ("Via", "SIP/2.0/TCP proxy2.example:5060;branch=z9hG4bK-in\(cseq)"),
            ("From", "Alice <sip:alice@atlanta.example>;tag=a1"),
            ("To", "Bob <sip:bob@biloxi.example>;tag=b9"),
            ("Call-ID", "dlg-1@pc33.atlanta.example"),
            ("CSeq", "\(cseq) \(method)"),
        ]
        if let contact { headers.append(("Contact", contact)) }
        return try parse(message("\(method) sip:bob@192.0.2.4 SIP/2.0", headers))
    }

    static func failure(_ result: Result<Void, DialogError>) -> DialogError? {
        if case .failure(let e) = result { return e }
        return nil
    }

    /// The UAS dialog of `incomingInvite()` with local tag b9.
    static func uasDialog() throws -> Dialog {
        let invite = try incomingInvite()
        return try #require(Dialog(uasFor: invite, localTag: "b9"))
    }

    /// Feeds a request from the peer; the error when the dialog refuses it.
    static func receive(_ d: inout Dialog, _ method: String, cseq: UInt32, contact: String? = nil) throws -> DialogError? {
        let request = try inDialog(method, cseq: cseq, contact: contact)
        return failure(d.receive(request))
    }

    // MARK: UAS

    @Test func uasDialogFromInvite() throws {
        let invite = try Self.incomingInvite()
        let d = try #require(Dialog(uasFor: invite, localTag: "b9"))
        #expect(d.role == .uas)
        #expect(d.id == Dialog.ID(callID: "dlg-1@pc33.atlanta.example", localTag: "b9", remoteTag: "a1"))
        #expect(d.localAddress == "Bob <sip:bob@biloxi.example>;tag=b9")
        #expect(d.remoteAddress == "Alice <sip:alice@atlanta.example>;tag=a1")
        #expect(d.remoteTarget == "sip:alice@pc33.atlanta.example:5070;transport=tcp")
        #expect(d.routeSet == ["<sip:proxy2.example;lr>", "<sip:proxy1.example;lr>", "<sip:edge.example;lr>"])
        #expect(d.localSequence == 0)
        #expect(d.remoteSequence == 101)
        #expect(!d.secure)
        #expect(d.nextHop == "sip:proxy2.example;lr")
    }

    @Test func uasDialogNeedsContactAndFromTag() throws {
        let noContact = try Self.incomingInvite(contact: nil)
        #expect(Dialog(uasFor: noContact, localTag: "b9") == nil)
        var noTag = try Self.incomingInvite()
        noTag.setHeader("From", "Alice <sip:alice@atlanta.example>")
        #expect(Dialog(uasFor: noTag, localTag: "b9") == nil)
    }

    @Test func uasRequestsInsideTheDialog() throws {
        var d = try Self.uasDialog()
        let bye = d.request("BYE", via: Self.via)
        #expect(bye.method == "BYE")
        #expect(bye.requestURI == "sip:alice@pc33.atlanta.example:5070;transport=tcp")  // the remote target (loose routing)
        #expect(bye.cseq == CSeq(number: 1, method: "BYE"))  // the UAS's own sequence starts at 0
        #expect(d.localSequence == 1)
        #expect(bye.values("Route") == ["<sip:proxy2.example;lr>", "<sip:proxy1.example;lr>", "<sip:edge.example;lr>"])
        #expect(bye.value("From") == "Bob <sip:bob@biloxi.example>;tag=b9")
        #expect(bye.from?.tag == "b9")
        #expect(bye.value("To") == "Alice <sip:alice@atlanta.example>;tag=a1")
        #expect(bye.to?.tag == "a1")
        #expect(bye.callID == "dlg-1@pc33.atlanta.example")
        #expect(bye.vias == [Self.via])
        #expect(bye.maxForwards == 70)
        #expect(bye.value("Contact") == nil)
        #expect(bye.missingMandatoryHeader == nil)

        let update = d.request("UPDATE", via: Self.via, contact: "<sip:bob@192.0.2.4;transport=tcp>")
        #expect(update.cseq == CSeq(number: 2, method: "UPDATE"))
        #expect(update.value("Contact") == "<sip:bob@192.0.2.4;transport=tcp>")
    }

    @Test func requestsFromTheUASDialogSurviveTheWire() throws {
        var d = try Self.uasDialog()
        let bye = d.request("BYE", via: Self.via)
        let again = try Self.parse(String(decoding: bye.serialized, as: UTF8.self))
        #expect(again.startLine == bye.startLine)
        #expect(again.serialized == bye.serialized)
        // The peer sees the same dialog with the tags swapped.
        #expect(Dialog.ID(incoming: again) == Dialog.ID(callID: d.id.callID, localTag: "a1", remoteTag: "b9"))
        #expect(again.from?.tag == "b9" && again.to?.tag == "a1")
    }

    @Test func sipsRequestURIMakesASecureDialog() throws {
        var invite = try Self.incomingInvite()
        invite.startLine = .request(method: "INVITE", uri: "sips:bob@biloxi.example")
        #expect(Dialog(uasFor: invite, localTag: "x")?.secure == true)
    }

    @Test func toTagAlreadyPresentIsKept() throws {
        var invite = try Self.incomingInvite()
        invite.setHeader("To", "Bob <sip:bob@biloxi.example>;tag=existing")
        let d = try #require(Dialog(uasFor: invite, localTag: "existing"))
        #expect(d.localAddress == "Bob <sip:bob@biloxi.example>;tag=existing")
    }

    // MARK: UAC

    static let outgoingInvite = message(
        "INVITE sip:bob@biloxi.example SIP/2.0",
        [
            ("Via", "SIP/2.0/TCP pc33.atlanta.example;branch=z9hG4bKuac1"),
            ("Max-Forwards", "70"),
            ("From", "Alice <sip:alice@atlanta.example>;tag=a1"),
            ("To", "Bob <sip:bob@biloxi.example>"),
            ("Call-ID", "dlg-2@pc33.atlanta.example"),
            ("CSeq", "7 INVITE"),
            ("Contact", "<sip:alice@pc33.atlanta.example;transport=tcp>"),
        ])

    /// The 200 as it reaches the UAC: Record-Route in the order of the request (the proxy
    /// nearest the UAS first).
    static func ok(recordRoute: [String], contact: String? = "<sip:bob@192.0.2.4:5062;transport=tcp>", toTag: String? = "b2")
        throws -> SIPMessage
    {
        var headers: [(String, String)] = [
            ("Via", "SIP/2.0/TCP pc33.atlanta.example;branch=z9hG4bKuac1"),
            ("From", "Alice <sip:alice@atlanta.example>;tag=a1"),
            ("To", "Bob <sip:bob@biloxi.example>" + (toTag.map { ";tag=\($0)" } ?? "")),
            ("Call-ID", "dlg-2@pc33.atlanta.example"),
            ("CSeq", "7 INVITE"),
        ]
        for rr in recordRoute { headers.append(("Record-Route", rr)) }
        if let contact { headers.append(("Contact", contact)) }
        return try parse(message("SIP/2.0 200 OK", headers))
    }

    @Test func uacDialogFromRequestAndResponse() throws {
        let invite = try Self.parse(Self.outgoingInvite)
        let response = try Self.ok(recordRoute: ["<sip:p2.example;lr>, <sip:p1.example;lr>"])
        var d = try #require(Dialog(uacFor: invite, response: response))
        #expect(d.role == .uac)
        #expect(d.id == Dialog.ID(callID: "dlg-2@pc33.atlanta.example", localTag: "a1", remoteTag: "b2"))
        #expect(d.routeSet == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"])  // reversed (§12.1.2)
        #expect(d.localAddress == "Alice <sip:alice@atlanta.example>;tag=a1")
        #expect(d.remoteAddress == "Bob <sip:bob@biloxi.example>;tag=b2")
        #expect(d.remoteTarget == "sip:bob@192.0.2.4:5062;transport=tcp")
        #expect(d.localSequence == 7)
        #expect(d.remoteSequence == nil)
        #expect(d.nextHop == "sip:p1.example;lr")

        // The 2xx ACK reuses the INVITE's number; the next request continues from it.
        let ack = d.request("ACK", via: "SIP/2.0/TCP pc33.atlanta.example;branch=z9hG4bKack", cseq: 7)
        #expect(ack.cseq == CSeq(number: 7, method: "ACK"))
        #expect(ack.requestURI == "sip:bob@192.0.2.4:5062;transport=tcp")
        #expect(ack.values("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"])
        #expect(d.localSequence == 7)
        let bye = d.request("BYE", via: "SIP/2.0/TCP pc33.atlanta.example;branch=z9hG4bKbye")
        #expect(bye.cseq == CSeq(number: 8, method: "BYE"))
        #expect(bye.value("From") == "Alice <sip:alice@atlanta.example>;tag=a1")
        #expect(bye.value("To") == "Bob <sip:bob@biloxi.example>;tag=b2")
        #expect(d.localSequence == 8)
    }

    @Test func uacDialogNeedsAToTagAndFallsBackToTheRequestURI() throws {
        let invite = try Self.parse(Self.outgoingInvite)
        let untagged = try Self.ok(recordRoute: [], toTag: nil)
        #expect(Dialog(uacFor: invite, response: untagged) == nil)
        let withoutContact = try Self.ok(recordRoute: [], contact: nil)
        let noContact = try #require(Dialog(uacFor: invite, response: withoutContact))
        #expect(noContact.remoteTarget == "sip:bob@biloxi.example")
        #expect(noContact.routeSet.isEmpty)
        #expect(noContact.nextHop == "sip:bob@biloxi.example")
    }

    @Test func strictRoutingPutsTheFirstRouteInTheRequestURI() throws {
        let invite = try Self.parse(Self.outgoingInvite)
        // Reversed, the route set is [strict, loose]; the strict router has no ;lr.
        let response = try Self.ok(recordRoute: ["<sip:loose.example;lr>", "<sip:strict.example;transport=tcp>"])
        var d = try #require(Dialog(uacFor: invite, response: response))
        #expect(d.routeSet == ["<sip:strict.example;transport=tcp>", "<sip:loose.example;lr>"])
        let bye = d.request("BYE", via: "SIP/2.0/TCP pc33.atlanta.example;branch=z9hG4bKs")
        #expect(bye.requestURI == "sip:strict.example")  // transport removed (§12.2.1.1)
        #expect(bye.values("Route") == ["<sip:loose.example;lr>", "<sip:bob@192.0.2.4:5062;transport=tcp>"])
        #expect(d.nextHop == "sip:strict.example;transport=tcp")
    }

    // MARK: receiving

    @Test func cseqOfReceivedRequestsMustGrow() throws {
        var d = try Self.uasDialog()
        let equal = try Self.receive(&d, "BYE", cseq: 101)
        #expect(equal?.status == 500)
        let lower = try Self.receive(&d, "BYE", cseq: 100)
        #expect(lower?.status == 500)
        #expect(d.remoteSequence == 101)
        // ACK and CANCEL carry the INVITE's number and are not checked.
        let ack = try Self.receive(&d, "ACK", cseq: 101)
        #expect(ack == nil)
        #expect(d.remoteSequence == 101)
        let higher = try Self.receive(&d, "OPTIONS", cseq: 102)
        #expect(higher == nil)
        #expect(d.remoteSequence == 102)
        let repeated = try Self.receive(&d, "OPTIONS", cseq: 102)
        #expect(repeated?.status == 500)

        var noCSeq = try Self.inDialog("BYE", cseq: 200)
        noCSeq.removeHeaders("CSeq")
        let missing = Self.failure(d.receive(noCSeq))
        #expect(missing?.status == 400)
    }

    @Test func uacDialogAcceptsTheFirstRemoteNumber() throws {
        let invite = try Self.parse(Self.outgoingInvite)
        let response = try Self.ok(recordRoute: [])
        var d = try #require(Dialog(uacFor: invite, response: response))
        var bye = try Self.inDialog("BYE", cseq: 5)
        bye.setHeader("Call-ID", "dlg-2@pc33.atlanta.example")
        let result = Self.failure(d.receive(bye))
        #expect(result == nil)
        #expect(d.remoteSequence == 5)
    }

    @Test func targetRefresh() throws {
        var d = try Self.uasDialog()
        // OPTIONS is not a target refresh: its Contact is ignored.
        _ = try Self.receive(&d, "OPTIONS", cseq: 102, contact: "<sip:elsewhere.example>")
        #expect(d.remoteTarget == "sip:alice@pc33.atlanta.example:5070;transport=tcp")

        let reinvite = try Self.inDialog("INVITE", cseq: 103, contact: "<sip:alice@192.0.2.77:5090;transport=tcp>")
        let accepted = Self.failure(d.receive(reinvite))
        #expect(accepted == nil)
        #expect(d.remoteTarget == "sip:alice@192.0.2.77:5090;transport=tcp")
        let bye = d.request("BYE", via: Self.via)
        #expect(bye.requestURI == "sip:alice@192.0.2.77:5090;transport=tcp")

        // A re-INVITE refused for its CSeq does not move the target.
        let stale = try Self.receive(&d, "INVITE", cseq: 103, contact: "<sip:alice@192.0.2.99>")
        #expect(stale?.status == 500)
        #expect(d.remoteTarget == "sip:alice@192.0.2.77:5090;transport=tcp")

        let update = try Self.inDialog("UPDATE", cseq: 104, contact: "<sip:alice@192.0.2.78>")
        _ = d.receive(update)
        #expect(d.remoteTarget == "sip:alice@192.0.2.78")

        // A 2xx to our own re-INVITE may move it too.
        let moved = try Self.ok(recordRoute: [], contact: "<sip:alice@192.0.2.79:5000>")
        d.refreshTarget(from: moved)
        #expect(d.remoteTarget == "sip:alice@192.0.2.79:5000")
        let unmoved = try Self.ok(recordRoute: [], contact: nil)
        d.refreshTarget(from: unmoved)
        #expect(d.remoteTarget == "sip:alice@192.0.2.79:5000")
    }

    @Test func dialogIDOfAnIncomingRequest() throws {
        let bye = try Self.inDialog("BYE", cseq: 102)
        #expect(Dialog.ID(incoming: bye) == Dialog.ID(callID: "dlg-1@pc33.atlanta.example", localTag: "b9", remoteTag: "a1"))
        let invite = try Self.incomingInvite()
        #expect(Dialog.ID(incoming: invite) == nil)  // no To tag yet
        let d = try Self.uasDialog()
        #expect(Dialog.ID(incoming: bye) == d.id)
        #expect(d.id.description == "dlg-1@pc33.atlanta.example;local=b9;remote=a1")
    }
}
