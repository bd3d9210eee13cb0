/// A SIP message (RFC 3261 §7): a start line, ordered headers, a body. Header names are
/// kept as received; lookups are case-insensitive and understand compact forms (§7.3.3).
public struct SIPMessage: Sendable, Equatable {
    public enum StartLine: Sendable, Equatable {
        case request(method: String, uri: String)
        case response(status: Int, reason: String)
    }

    public struct Header: Sendable, Equatable {
        public var name: String {
            didSet { key = SIPHeaderName.canonical(name) }
        }
        public var value: String
        /// The lower-case long form of `name`, computed once for fast lookups.
        public private(set) var key: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
            self.key = SIPHeaderName.canonical(name)
        }

        public static func == (a: Header, b: Header) -> Bool { a.name == b.name && a.value == b.value }
    }

    public var startLine: StartLine
    public var headers: [Header] {
        didSet { essentials = nil }
    }
    public var body: [UInt8]
    /// The headers every layer reads, parsed once when the message was read (nil after edits).
    var essentials: Essentials?

    public init(startLine: StartLine, headers: [Header] = [], body: [UInt8] = []) {
        self.startLine = startLine
        self.headers = headers
        self.body = body
    }

    public static func == (a: SIPMessage, b: SIPMessage) -> Bool {
        a.startLine == b.startLine && a.headers == b.headers && a.body == b.body
    }

    /// Parses the transaction and dialog headers once, so later reads cost nothing.
    public mutating func parseEssentials() {
        essentials = Essentials(self)
    }

    public var isRequest: Bool {
        if case .request = startLine { return true }
        return false
    }

    /// Every value of a header (compact and long names alike), in order.
    public func values(_ name: String) -> [String] {
        let wanted = SIPHeaderName.canonical(name)
        return headers.filter { $0.key == wanted }.map(\.value)
    }

    /// The first value of a header.
    public func value(_ name: String) -> String? {
        let wanted = SIPHeaderName.canonical(name)
        return headers.first { $0.key == wanted }?.value
    }

    /// The message as bytes: CRLF line ends, Content-Length set from the body.
    public var serialized: [UInt8] {
        var text: String
        switch startLine {
        case .request(let method, let uri): text = "\(method) \(uri) SIP/2.0\r\n"
        case .response(let status, let reason): text = "SIP/2.0 \(status) \(reason)\r\n"
        }
        for h in headers where h.key != "content-length" {
            text += "\(h.name): \(h.value)\r\n"
        }
        text += "Content-Length: \(body.count)\r\n\r\n"
        return Array(text.utf8) + body
    }
}

/// Header names: compact forms (RFC 3261 §7.3.3 and later RFCs) and case-insensitive matching.
public enum SIPHeaderName {
    static let compact: [String: String] = [
        "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
        "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
        "b": "referred-by", "u": "allow-events", "x": "session-expires", "a": "accept-contact",
        "j": "reject-contact", "d": "request-disposition", "y": "identity", "n": "identity-info",
    ]

    /// Lower-case long form of a header name.
    public static func canonical(_ name: String) -> String {
        // Most names are ASCII and already in a common spelling: avoid work where possible.
        if name.utf8.count == 1 {
            let lower = name.lowercased()
            return compact[lower] ?? lower
        }
        if !name.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) { return name }
        return name.lowercased()
    }
}

/// The headers a transaction layer and a dialog read for every message (RFC 3261 §8.1.1).
struct Essentials: Sendable {
    let callID: String?
    let cseq: CSeq?
    let topVia: Via?
    let from: NameAddress?
    let to: NameAddress?

    init(_ m: SIPMessage) {
        callID = m.value("call-id").map { String($0.trimmingWhitespace()) }
        cseq = m.value("cseq").flatMap { try? CSeq(parsing: $0) }
        topVia = m.value("via").flatMap { HeaderValues.split($0).first }.flatMap { try? Via(parsing: $0) }
        from = m.value("from").flatMap { try? NameAddress(parsing: $0) }
        to = m.value("to").flatMap { try? NameAddress(parsing: $0) }
    }
}
