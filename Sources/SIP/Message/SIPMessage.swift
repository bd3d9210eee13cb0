/// A SIP message (RFC 3261 §7): a start line, ordered headers, a body. Header names are
/// kept as received; lookups are case-insensitive and understand compact forms (§7.3.3).
public struct SIPMessage: Sendable, Equatable {
    public enum StartLine: Sendable, Equatable {
        case request(method: String, uri: String)
        case response(status: Int, reason: String)
    }

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var startLine: StartLine
    public var headers: [Header]
    public var body: [UInt8]

    public init(startLine: StartLine, headers: [Header] = [], body: [UInt8] = []) {
        self.startLine = startLine
        self.headers = headers
        self.body = body
    }

    public var isRequest: Bool {
        if case .request = startLine { return true }
        return false
    }

    /// Every value of a header (compact and long names alike), in order.
    public func values(_ name: String) -> [String] {
        let wanted = SIPHeaderName.canonical(name)
        return headers.filter { SIPHeaderName.canonical($0.name) == wanted }.map(\.value)
    }

    /// The first value of a header.
    public func value(_ name: String) -> String? { values(name).first }

    /// The message as bytes: CRLF line ends, Content-Length set from the body.
    public var serialized: [UInt8] {
        var text: String
        switch startLine {
        case .request(let method, let uri): text = "\(method) \(uri) SIP/2.0\r\n"
        case .response(let status, let reason): text = "SIP/2.0 \(status) \(reason)\r\n"
        }
        for h in headers where SIPHeaderName.canonical(h.name) != "content-length" {
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
        let lower = name.lowercased()
        return compact[lower] ?? lower
    }
}
