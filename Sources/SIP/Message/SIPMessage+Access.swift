/// Typed access to the headers every transaction and dialog needs, and the edits a proxy
/// or user agent makes. Accessors return nil when a header is missing or malformed; the
/// `validateMandatory` check names what is wrong.
extension SIPMessage {
    public var method: String? {
        if case .request(let m, _) = startLine { return m }
        return nil
    }

    public var requestURI: String? {
        if case .request(_, let uri) = startLine { return uri }
        return nil
    }

    public var status: Int? {
        if case .response(let s, _) = startLine { return s }
        return nil
    }

    public var callID: String? { essentials.map(\.callID) ?? value("call-id").map { String($0.trimmingWhitespace()) } }
    public var cseq: CSeq? { essentials.map(\.cseq) ?? value("cseq").flatMap { try? CSeq(parsing: $0) } }

    /// The topmost Via (the first value of the first Via header).
    public var topVia: Via? {
        if let e = essentials { return e.topVia }
        guard let first = value("via"), let v = HeaderValues.split(first).first else { return nil }
        return try? Via(parsing: v)
    }

    /// Every Via value, top first.
    public var vias: [String] { values("via").flatMap(HeaderValues.split) }

    public var from: NameAddress? { essentials.map(\.from) ?? value("from").flatMap { try? NameAddress(parsing: $0) } }
    public var to: NameAddress? { essentials.map(\.to) ?? value("to").flatMap { try? NameAddress(parsing: $0) } }

    /// Contact URIs, in order.
    public var contacts: [NameAddress] {
        values("contact").flatMap(HeaderValues.split).compactMap { try? NameAddress(parsing: $0) }
    }

    /// Values of a list header (Route, Record-Route, Supported, Require, …), split at commas.
    public func listValues(_ name: String) -> [String] { values(name).flatMap(HeaderValues.split) }

    /// Max-Forwards, nil when absent; RFC 3261 §8.1.1.6 asks for 70 on new requests.
    public var maxForwards: Int? { value("max-forwards").flatMap { Int($0.trimmingWhitespace()) } }

    /// Whether an option tag is in Supported or Require (case-insensitive).
    public func supports(_ option: String) -> Bool {
        (listValues("supported") + listValues("require")).contains { $0.lowercased() == option.lowercased() }
    }

    /// The body as text when it is SDP.
    public var sdpBody: String? {
        guard !body.isEmpty, let type = value("content-type"), type.lowercased().hasPrefix("application/sdp") else {
            return nil
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// What a transaction layer needs before it can handle a message (RFC 3261 §8.1.1);
    /// nil when all is there, otherwise what is missing.
    public var missingMandatoryHeader: String? {
        if callID?.isEmpty ?? true { return "Call-ID" }
        guard let cseq else { return "CSeq (a number below 2^31 and a method)" }
        if let method, method != cseq.method, !(method == "ACK" && cseq.method == "INVITE") {
            return "CSeq method '\(cseq.method)' matching the request method '\(method)'"
        }
        if topVia == nil { return "Via" }
        if from == nil { return "From" }
        if to == nil { return "To" }
        return nil
    }

    // MARK: edits

    /// Replaces every value of a header by one value (at the first one's place, or appended).
    public mutating func setHeader(_ name: String, _ value: String) {
        let wanted = SIPHeaderName.canonical(name)
        guard let i = headers.firstIndex(where: { $0.key == wanted }) else {
            headers.append(Header(name, value))
            return
        }
        headers[i] = Header(name, value)
        var index = headers.index(after: i)
        while index < headers.endIndex {
            if headers[index].key == wanted {
                headers.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    public mutating func removeHeaders(_ name: String) {
        let wanted = SIPHeaderName.canonical(name)
        headers.removeAll { $0.key == wanted }
    }

    public mutating func prependHeader(_ name: String, _ value: String) {
        headers.insert(Header(name, value), at: 0)
    }

    /// A response to this request (RFC 3261 §8.2.6.2): Via, From, Call-ID and CSeq copied,
    /// To copied with `toTag` added when it has none; Record-Route copied for responses that
    /// may create a dialog (§12.1.1).
    public func response(_ status: Int, _ reason: String? = nil, toTag: String? = nil) -> SIPMessage {
        var out = SIPMessage(startLine: .response(status: status, reason: reason ?? SIPMessage.reasonPhrase(status)))
        for h in headers {
            switch h.key {
            case "via", "from", "call-id", "cseq":
                out.headers.append(h)
            case "to":
                var to = h.value
                if let toTag, status != 100, (try? NameAddress(parsing: to))?.tag == nil { to += ";tag=\(toTag)" }
                out.headers.append(Header("To", to))
            case "record-route" where (101..<300).contains(status):
                out.headers.append(h)
            default:
                break
            }
        }
        return out
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Trying"
        case 180: return "Ringing"
        case 183: return "Session Progress"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Request Entity Too Large"
        case 415: return "Unsupported Media Type"
        case 416: return "Unsupported URI Scheme"
        case 420: return "Bad Extension"
        case 422: return "Session Interval Too Small"
        case 480: return "Temporarily Unavailable"
        case 481: return "Call/Transaction Does Not Exist"
        case 482: return "Loop Detected"
        case 483: return "Too Many Hops"
        case 486: return "Busy Here"
        case 487: return "Request Terminated"
        case 488: return "Not Acceptable Here"
        case 491: return "Request Pending"
        case 500: return "Server Internal Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 504: return "Server Time-out"
        case 505: return "Version Not Supported"
        case 603: return "Decline"
        default:
            switch status {
            case 100..<200: return "Session Progress"
            case 200..<300: return "OK"
            case 300..<400: return "Redirect"
            case 400..<500: return "Client Error"
            case 500..<600: return "Server Error"
            default: return "Global Failure"
            }
        }
    }
}
