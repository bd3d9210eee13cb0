import SDP
import SIP
import SRTP
import Testing

@testable import CallControl
@testable import MediaRelay

/// The parties of the core tests: the server (caller, on connection 1) sends INVITEs to the
/// satellite at 192.0.2.10:5060; the target (callee) is a phone at 10.0.0.20:5080.
enum Wire {
    static let satelliteHost = "192.0.2.10"
    static let callerConnection = ConnectionID(1)
    static let targetConnection = ConnectionID(2)

    static let callerFrom = "\"Alice\" <sip:alice@198.51.100.1>;tag=caller-tag"
    static let callerTo = "<sip:bob@192.0.2.10>"
    static let callerContact = "<sip:alice@198.51.100.1:5060;transport=tcp>"
    static let callerContactURI = "sip:alice@198.51.100.1:5060;transport=tcp"
    static let callerCallID = "call-a@198.51.100.1"

    static let target = "<sip:bob@10.0.0.20:5080;transport=tcp>"
    static let targetURI = "sip:bob@10.0.0.20:5080;transport=tcp"
    static let targetHop = NextHop(host: "10.0.0.20", port: 5080, tls: false)
    static let targetContact = "<sip:bob@10.0.0.20:5080;transport=tcp>"
    static let calleeTag = "callee-tag"

    /// SDES inline keys (30 bytes, AES_CM_128_HMAC_SHA1_80/32): bytes 0…29 and 100…129.
    static let callerKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
    static let callerKeyBytes: [UInt8] = (0..<30).map { UInt8($0) }
    static let calleeKey = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CB"
    static let calleeKeyBytes: [UInt8] = (100..<130).map { UInt8($0) }

    // Where the fabricated relay puts the legs.
    static let relayCallerPort: UInt16 = 30000
    static let relayCalleePort: UInt16 = 30002
    static let relayCalleeRTCPPort: UInt16 = 30003
    static let relayCalleeHost = "10.0.0.5"
}

// MARK: texts

/// A SIP message as text: CRLF line ends and a Content-Length that fits the body.
func sipText(_ startLine: String, _ headers: [(String, String)], body: String = "") -> String {
    var text = startLine + "\r\n"
    for (name, value) in headers { text += "\(name): \(value)\r\n" }
    return text + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
}

/// Parses one whole message with the stream parser the transport uses.
func parseSIP(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SIPMessage {
    var parser = SIPStreamParser()
    parser.feed(Array(text.utf8))
    let message = try #require(try parser.next(), sourceLocation: sourceLocation)
    #expect(parser.bufferedBytes == 0, "the text holds more than one message", sourceLocation: sourceLocation)
    return message
}

/// An SDP body with one audio stream.
func sdpText(
    address: String = "198.51.100.1", port: Int = 20000, proto: String = "RTP/SAVP", formats: String = "0 101",
    crypto: [String] = ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Wire.callerKey)"], direction: String = "sendrecv",
    version: Int = 1, rtcpMux: Bool = true
) -> String {
    var lines = [
        "v=0", "o=phone 4711 \(version) IN IP4 \(address)", "s=-", "c=IN IP4 \(address)", "t=0 0",
        "m=audio \(port) \(proto) \(formats)", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
    ]
    lines += crypto.map { "a=crypto:" + $0 }
    if rtcpMux { lines.append("a=rtcp-mux") }
    lines.append("a=" + direction)
    return lines.joined(separator: "\r\n") + "\r\n"
}

/// The answer the target gives: tag 2 (AES_CM_128_HMAC_SHA1_80 in the default policy's offer).
func targetAnswer(direction: String = "sendrecv", version: Int = 1, port: Int = 40000) -> String {
    sdpText(
        address: "10.0.0.20", port: port, crypto: ["2 AES_CM_128_HMAC_SHA1_80 inline:\(Wire.calleeKey)"],
        direction: direction, version: version)
}

/// An INVITE from the server to the satellite, outside any dialog.
func callerInvite(
    branch: String = "z9hG4bKcaller1", requestURI: String = "sip:bob@192.0.2.10:5060",
    target: String? = Wire.target, callID: String = Wire.callerCallID, extraHeaders: [(String, String)] = [],
    sdp: String? = sdpText()
) -> String {
    var headers: [(String, String)] = [
        ("Via", "SIP/2.0/TCP 198.51.100.1:5060;branch=\(branch)"),
        ("Max-Forwards", "70"),
        ("From", Wire.callerFrom),
        ("To", Wire.callerTo),
        ("Call-ID", callID),
        ("CSeq", "1 INVITE"),
        ("Contact", Wire.callerContact),
        ("User-Agent", "Trabant-Server/1"),
    ]
    if let target { headers.append((TrabantHeaders.target, target)) }
    headers += extraHeaders
    if sdp != nil { headers.append(("Content-Type", "application/sdp")) }
    return sipText("INVITE \(requestURI) SIP/2.0", headers, body: sdp ?? "")
}

/// A request from the caller: inside the dialog when `toTag` is set.
func callerRequest(
    _ method: String, branch: String, cseq: Int, toTag: String?, callID: String = Wire.callerCallID,
    requestURI: String = "sip:192.0.2.10:5060;transport=tcp", cseqMethod: String? = nil, sdp: String? = nil
) -> String {
    var headers: [(String, String)] = [
        ("Via", "SIP/2.0/TCP 198.51.100.1:5060;branch=\(branch)"),
        ("Max-Forwards", "70"),
        ("From", Wire.callerFrom),
        ("To", Wire.callerTo + (toTag.map { ";tag=\($0)" } ?? "")),
        ("Call-ID", callID),
        ("CSeq", "\(cseq) \(cseqMethod ?? method)"),
    ]
    if method == "INVITE" { headers.append(("Contact", Wire.callerContact)) }
    if sdp != nil { headers.append(("Content-Type", "application/sdp")) }
    return sipText("\(method) \(requestURI) SIP/2.0", headers, body: sdp ?? "")
}

/// A BYE from the target inside the dialog our INVITE `outgoing` made (its To tag is ours).
func targetBye(for outgoing: SIPMessage, branch: String = "z9hG4bKtargetbye") -> String {
    sipText(
        "BYE sip:192.0.2.10:5060;transport=tcp SIP/2.0",
        [
            ("Via", "SIP/2.0/TCP 10.0.0.20:5080;branch=\(branch)"),
            ("From", (outgoing.value("To") ?? "") + ";tag=\(Wire.calleeTag)"),
            ("To", outgoing.value("From") ?? ""),
            ("Call-ID", outgoing.callID ?? ""),
            ("CSeq", "1 BYE"),
        ])
}

/// A response from the target to a request the satellite sent it, with the request's
/// Via, From, Call-ID and CSeq, its To with `toTag` added when it has none.
func targetResponse(
    to request: SIPMessage, _ status: Int, _ reason: String, toTag: String? = Wire.calleeTag,
    contact: String? = Wire.targetContact, extraHeaders: [(String, String)] = [], sdp: String? = nil
) -> String {
    var to = request.value("To") ?? ""
    if let toTag, request.to?.tag == nil { to += ";tag=\(toTag)" }
    var headers: [(String, String)] = request.vias.map { ("Via", $0) }
    headers += [
        ("From", request.value("From") ?? ""),
        ("To", to),
        ("Call-ID", request.callID ?? ""),
        ("CSeq", request.value("CSeq") ?? ""),
    ]
    if let contact { headers.append(("Contact", contact)) }
    headers += extraHeaders
    if sdp != nil { headers.append(("Content-Type", "application/sdp")) }
    return sipText("SIP/2.0 \(status) \(reason)", headers, body: sdp ?? "")
}

// MARK: actions

/// Messages the core sends, on a known connection or to a next hop, in order.
func sent(_ actions: [CoreAction]) -> [SIPMessage] {
    var out: [SIPMessage] = []
    for a in actions {
        switch a {
        case .send(let m, _): out.append(m)
        case .sendTo(let m, _, _): out.append(m)
        default: break
        }
    }
    return out
}

/// `.send` actions: a message on an existing connection.
func sentOn(_ actions: [CoreAction]) -> [(message: SIPMessage, connection: ConnectionID)] {
    var out: [(message: SIPMessage, connection: ConnectionID)] = []
    for case .send(let m, let c) in actions { out.append((m, c)) }
    return out
}

/// `.sendTo` actions: a message to a next hop, with the client transaction's branch.
func sentTo(_ actions: [CoreAction]) -> [(message: SIPMessage, hop: NextHop, branch: String)] {
    var out: [(message: SIPMessage, hop: NextHop, branch: String)] = []
    for case .sendTo(let m, let hop, let branch) in actions { out.append((m, hop, branch)) }
    return out
}

/// Responses among the sent messages.
func responses(_ actions: [CoreAction]) -> [SIPMessage] { sent(actions).filter { !$0.isRequest } }

/// Requests of one method among the sent messages.
func requests(_ method: String, _ actions: [CoreAction]) -> [SIPMessage] { sent(actions).filter { $0.method == method } }

func allocations(_ actions: [CoreAction]) -> [CallRequest] {
    var out: [CallRequest] = []
    for case .allocateMedia(let r) in actions { out.append(r) }
    return out
}

func releases(_ actions: [CoreAction]) -> [(call: String, reason: CallEndReason)] {
    var out: [(call: String, reason: CallEndReason)] = []
    for case .releaseMedia(let call, let reason) in actions { out.append((call, reason)) }
    return out
}

struct MediaConfiguration {
    var call: String
    var leg: String
    /// nil for a plain RTP leg.
    var remote: SRTPParameters?
    var local: SRTPParameters?
    var rtcpMux: Bool
    var rtp: MediaAddress?
    var rtcp: MediaAddress?
}

func configurations(_ actions: [CoreAction]) -> [MediaConfiguration] {
    var out: [MediaConfiguration] = []
    for case .configureMedia(let call, let leg, let keys, let rtcpMux, let rtp, let rtcp) in actions {
        out.append(
            MediaConfiguration(
                call: call, leg: leg, remote: keys?.remote, local: keys?.local, rtcpMux: rtcpMux, rtp: rtp, rtcp: rtcp))
    }
    return out
}

/// A short form of each action, to check kinds and order at a glance:
/// "send 100 INVITE", "sendTo INVITE", "allocateMedia", "configureMedia callee", "releaseMedia".
func summary(_ actions: [CoreAction]) -> [String] {
    actions.map { (a: CoreAction) -> String in
        switch a {
        case .send(let m, _): return "send " + label(m)
        case .sendTo(let m, _, _): return "sendTo " + label(m)
        case .allocateMedia: return "allocateMedia"
        case .configureMedia(_, let leg, _, _, _, _): return "configureMedia \(leg)"
        case .updateMediaRemote(_, let leg, _, _): return "updateMediaRemote \(leg)"
        case .releaseMedia: return "releaseMedia"
        }
    }
}

/// "200 BYE" for a response, "INVITE" for a request.
func label(_ m: SIPMessage) -> String {
    if let status = m.status { return "\(status) \(m.cseq?.method ?? "?")" }
    return m.method ?? "?"
}

/// The reason phrase of a response.
func reasonOf(_ m: SIPMessage) -> String? {
    if case .response(_, let reason) = m.startLine { return reason }
    return nil
}

/// The SDP of a message, parsed.
func parsedSDP(_ m: SIPMessage, sourceLocation: SourceLocation = #_sourceLocation) throws -> SessionDescription {
    let text = try #require(m.sdpBody, "no SDP body in \(label(m))", sourceLocation: sourceLocation)
    return try SessionDescription(parsing: text)
}

// MARK: harness

/// A B2BUACore with a clock, fed SIP texts.
final class CoreHarness {
    let core: B2BUACore
    var now: Double = 1000

    init(settings: CoreSettings) {
        core = B2BUACore(settings: settings)
    }

    convenience init(
        ringTimeout: Double = 120, srtp: SRTPPolicy = SRTPPolicy(), minSessionExpires: Int = 90,
        plainRTPNetworks: [String] = []
    ) throws {
        let networks = try [CIDR(parsing: "10.0.0.0/8")]
        var settings = CoreSettings(
            advertisedHost: Wire.satelliteHost, advertisedPort: 5060, srtp: srtp,
            targetNetworks: networks, ringTimeout: ringTimeout, sessionExpires: 1800,
            minSessionExpires: minSessionExpires)
        settings.plainRTPNetworks = try plainRTPNetworks.map { try CIDR(parsing: $0) }
        self.init(settings: settings)
    }

    func handle(_ event: CoreEvent) -> [CoreAction] { core.handle(event, now: now) }

    /// Parses `text` and feeds it as received on `connection`.
    func receive(_ text: String, on connection: ConnectionID = Wire.callerConnection) throws -> [CoreAction] {
        let m = try parseSIP(text)
        return core.handle(.message(m, connection: connection), now: now)
    }

    func tick(at time: Double) -> [CoreAction] {
        now = time
        return core.handle(.tick, now: now)
    }

    /// The relay's answer to `request`: the caller leg at 192.0.2.10:30000 with `callerKey`,
    /// the callee leg at 10.0.0.5:30002 (RTCP 30003) waiting for its answer.
    static func callInfo(for request: CallRequest, callerKey: SRTPParameters) throws -> CallInfo {
        let callerAddress = try #require(MediaAddress(host: Wire.satelliteHost, port: Wire.relayCallerPort))
        let calleeAddress = try #require(MediaAddress(host: Wire.relayCalleeHost, port: Wire.relayCalleePort))
        let calleeRTCP = try #require(MediaAddress(host: Wire.relayCalleeHost, port: Wire.relayCalleeRTCPPort))
        return CallInfo(
            id: request.id,
            legs: [
                LegInfo(
                    name: "caller", local: callerAddress, localRTCP: nil,
                    localCrypto: request.legs[0].plain ? nil : callerKey),
                LegInfo(name: "callee", local: calleeAddress, localRTCP: calleeRTCP, localCrypto: nil),
            ])
    }

    /// A call up to the 200 to the caller (and its ACK when `ack`).
    struct Established {
        var id: String
        var callerInvite: SIPMessage
        /// The INVITE to the target and the next hop it went to.
        var outgoingInvite: SIPMessage
        /// Our key towards the caller (the relay's caller-leg local key).
        var callerLocalKey: SRTPParameters
        /// Our 200 to the caller; its To tag is our tag on the caller's dialog.
        var ok: SIPMessage
        var ourCallerTag: String
        /// The keys offered to the target, by tag.
        var offeredKeys: [CryptoAttribute]
    }

    func establish(
        callerSDP: String = sdpText(), extraHeaders: [(String, String)] = [], answerHeaders: [(String, String)] = [],
        ack: Bool = true, callerInviteText: String? = nil
    ) throws -> Established {
        let inviteText = callerInviteText ?? callerInvite(extraHeaders: extraHeaders, sdp: callerSDP)
        let invite = try parseSIP(inviteText)
        let first = core.handle(.message(invite, connection: Wire.callerConnection), now: now)
        let request = try #require(allocations(first).first)
        let callerKey = SRTPParameters.random(.aesCM128HmacSHA1_80)
        let info = try Self.callInfo(for: request, callerKey: callerKey)
        let second = handle(.mediaAllocated(call: request.id, .success(info)))
        let outgoing = try #require(sentTo(second).first?.message)
        let offer = try parsedSDP(outgoing)
        let offerMedia = try #require(offer.media.first)
        let offeredKeys = try offerMedia.cryptoAttributes()

        now += 1
        _ = try receive(targetResponse(to: outgoing, 180, "Ringing"), on: Wire.targetConnection)
        now += 1
        let answered = try receive(
            targetResponse(to: outgoing, 200, "OK", extraHeaders: answerHeaders, sdp: targetAnswer()), on: Wire.targetConnection)
        let answeredOK = responses(answered).first(where: { $0.status == 200 })
        let ok = try #require(answeredOK)
        let tag = try #require(ok.to?.tag)
        if ack {
            let acks = try receive(callerRequest("ACK", branch: "z9hG4bKcallerack", cseq: 1, toTag: tag))
            #expect(acks.isEmpty)
        }
        return Established(
            id: request.id, callerInvite: invite, outgoingInvite: outgoing, callerLocalKey: callerKey, ok: ok,
            ourCallerTag: tag, offeredKeys: offeredKeys)
    }
}
