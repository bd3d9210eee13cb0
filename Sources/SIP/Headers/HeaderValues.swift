/// Splitting and structure of SIP header values (RFC 3261 §7.3.1, §20, §25.1).
public enum HeaderValues {
    /// Splits a comma-separated header value into its elements, ignoring commas inside
    /// quoted strings (with backslash escapes) and inside <…>.
    public static func split(_ value: String) -> [String] {
        let b = Array(value.utf8)
        var out: [String] = []
        var inQuotes = false
        var escaped = false
        var angle = 0
        var start = 0
        for i in 0..<b.count {
            let c = b[i]
            if escaped {
                escaped = false
                continue
            }
            switch c {
            case UInt8(ascii: "\\") where inQuotes: escaped = true
            case UInt8(ascii: "\""): inQuotes.toggle()
            case UInt8(ascii: "<") where !inQuotes: angle += 1
            case UInt8(ascii: ">") where !inQuotes: angle = max(0, angle - 1)
            case UInt8(ascii: ",") where !inQuotes && angle == 0:
                let r = Bytes.trimmed(b, start..<i)
                if !r.isEmpty { out.append(Bytes.string(b, r)) }
                start = i + 1
            default: break
            }
        }
        let r = Bytes.trimmed(b, start..<b.count)
        if !r.isEmpty { out.append(Bytes.string(b, r)) }
        return out
    }

    /// `;name=value;flag` parameters after a value (quoted values unquoted).
    static func parameters(_ text: Substring) throws(SIPParseError) -> [(String, String?)] {
        let b = Array(text.utf8)
        return try parameters(b, 0..<b.count)
    }

    /// The parameters in `b[range]`, which starts at the first ';' (anything before it is skipped).
    static func parameters(_ b: [UInt8], _ range: Range<Int>) throws(SIPParseError) -> [(String, String?)] {
        var out: [(String, String?)] = []
        for raw in Bytes.split(b, range, on: UInt8(ascii: ";")).dropFirst() {
            let p = Bytes.trimmed(b, raw)
            guard !p.isEmpty else { throw SIPParseError(.malformedHeader, "empty header parameter") }
            let eq = Bytes.firstIndex(of: UInt8(ascii: "="), in: b, p)
            let name = Bytes.trimmed(b, p.lowerBound..<(eq ?? p.upperBound))
            guard !name.isEmpty, name.allSatisfy({ Bytes.isToken(b[$0]) }) else {
                throw SIPParseError(.malformedHeader, "header parameter name '\(Bytes.string(b, name).prefix(40))' is not a token")
            }
            var value: String?
            if let eq {
                let v = Bytes.trimmed(b, (eq + 1)..<p.upperBound)
                if v.count >= 2, b[v.lowerBound] == UInt8(ascii: "\""), b[v.upperBound - 1] == UInt8(ascii: "\"") {
                    value = unquote(Bytes.string(b, v))
                } else {
                    value = Bytes.string(b, v)
                }
            }
            out.append((Bytes.string(b, name), value))
        }
        return out
    }

    /// The content of a quoted string with `\x` escapes resolved.
    public static func unquote(_ quoted: String) -> String {
        var out = ""
        var escaped = false
        for c in quoted.dropFirst().dropLast() {
            if escaped {
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// Via (RFC 3261 §20.42): `SIP/2.0/TCP host:port;branch=z9hG4bK…;received=…`.
public struct Via: Sendable, Equatable {
    public var transport: String
    public var host: String
    public var port: UInt16?
    public var parameters: [(String, String?)]

    /// The branch; RFC 3261 branches start with the magic cookie z9hG4bK (§8.1.1.7).
    public var branch: String? { parameters.first { $0.0.lowercased() == "branch" }?.1 ?? nil }

    public init(parsing text: String) throws(SIPParseError) {
        let b = Array(text.utf8)
        let t = Bytes.trimmed(b, 0..<b.count)
        let semi = Bytes.firstIndex(of: UInt8(ascii: ";"), in: b, t) ?? t.upperBound
        // sent-protocol: "SIP" / "2.0" / transport, LWS allowed around the slashes (RFC 3261
        // §25.1 SLASH, RFC 4475 §3.1.1.1); then LWS and sent-by. White space next to a slash
        // is dropped, any other run becomes one separator.
        var compact: [UInt8] = []
        var i = t.lowerBound
        while i < semi {
            if Bytes.isWhitespace(b[i]) {
                var j = i
                while j < semi && Bytes.isWhitespace(b[j]) { j += 1 }
                let nextIsSlash = j < semi && b[j] == UInt8(ascii: "/")
                if !nextIsSlash && compact.last != UInt8(ascii: "/") && !compact.isEmpty && j < semi { compact.append(Bytes.space) }
                i = j
            } else {
                compact.append(b[i])
                i += 1
            }
        }
        let fields = Bytes.split(compact, 0..<compact.count, on: Bytes.space)
        guard fields.count == 2 else {
            throw SIPParseError(.malformedHeader, "Via '\(Bytes.string(b, t).prefix(60))' is not 'SIP/2.0/<transport> <host>'")
        }
        let proto = Bytes.split(compact, fields[0], on: UInt8(ascii: "/"))
        guard proto.count == 3, Bytes.equalsLower(compact, proto[0], "sip"), Bytes.string(compact, proto[1]) == "2.0",
            !proto[2].isEmpty
        else {
            throw SIPParseError(.malformedHeader, "Via protocol '\(Bytes.string(compact, fields[0]).prefix(30))' is not SIP/2.0/<transport>")
        }
        transport = Bytes.string(compact, proto[2]).uppercased()
        let uri = try SIPURI(parsing: "sip:" + Bytes.string(compact, fields[1]))
        host = uri.host
        port = uri.port
        parameters = try HeaderValues.parameters(b, semi..<t.upperBound)
    }

    public static func == (lhs: Via, rhs: Via) -> Bool {
        lhs.transport == rhs.transport && lhs.host == rhs.host && lhs.port == rhs.port
            && lhs.parameters.elementsEqual(rhs.parameters) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// CSeq (RFC 3261 §20.16): a sequence number below 2^31 and a method.
public struct CSeq: Sendable, Equatable {
    public var number: UInt32
    public var method: String

    public init(number: UInt32, method: String) {
        self.number = number
        self.method = method
    }

    public init(parsing text: String) throws(SIPParseError) {
        let b = Array(text.utf8)
        let t = Bytes.trimmed(b, 0..<b.count)
        var sep = t.lowerBound
        while sep < t.upperBound && !Bytes.isWhitespace(b[sep]) { sep += 1 }
        let numberRange = t.lowerBound..<sep
        let methodRange = Bytes.trimmed(b, sep..<t.upperBound)
        guard let n = Bytes.number(b, numberRange, maxDigits: 10), n < 1 << 31, !methodRange.isEmpty,
            b[methodRange].allSatisfy(Bytes.isToken)
        else {
            throw SIPParseError(.malformedHeader, "CSeq '\(text.prefix(40))' is not '<number below 2^31> <method>'")
        }
        number = UInt32(n)
        method = Bytes.string(b, methodRange)
    }
}

/// A name-addr or addr-spec with parameters: From, To, Contact, Route (RFC 3261 §20.10).
public struct NameAddress: Sendable, Equatable {
    public var displayName: String?
    public var uri: SIPURI
    public var parameters: [(String, String?)]

    public var tag: String? { parameters.first { $0.0.lowercased() == "tag" }?.1 ?? nil }

    public init(parsing text: String) throws(SIPParseError) {
        let b = Array(text.utf8)
        let t = Bytes.trimmed(b, 0..<b.count)
        if let open = Self.openingAngle(b, t) {
            guard let close = Bytes.firstIndex(of: UInt8(ascii: ">"), in: b, open..<t.upperBound) else {
                throw SIPParseError(.malformedHeader, "address '\(Bytes.string(b, t).prefix(60))' has '<' without '>'")
            }
            let name = Bytes.trimmed(b, t.lowerBound..<open)
            if name.isEmpty {
                displayName = nil
            } else if b[name.lowerBound] == UInt8(ascii: "\"") {
                displayName = HeaderValues.unquote(Bytes.string(b, name))
            } else {
                displayName = Bytes.string(b, name)
            }
            uri = try SIPURI(parsing: Bytes.string(b, (open + 1)..<close))
            parameters = try HeaderValues.parameters(b, (close + 1)..<t.upperBound)
        } else {
            // addr-spec form: parameters after ';' belong to the header, not the URI (§20.10).
            let semi = Bytes.firstIndex(of: UInt8(ascii: ";"), in: b, t) ?? t.upperBound
            displayName = nil
            uri = try SIPURI(parsing: Bytes.string(b, Bytes.trimmed(b, t.lowerBound..<semi)))
            parameters = try HeaderValues.parameters(b, semi..<t.upperBound)
        }
    }

    /// The first '<' outside a quoted display name.
    static func openingAngle(_ b: [UInt8], _ range: Range<Int>) -> Int? {
        var inQuotes = false
        var escaped = false
        for i in range {
            let c = b[i]
            if escaped {
                escaped = false
                continue
            }
            if c == UInt8(ascii: "\\") && inQuotes {
                escaped = true
            } else if c == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if c == UInt8(ascii: "<") && !inQuotes {
                return i
            }
        }
        return nil
    }

    public static func == (lhs: NameAddress, rhs: NameAddress) -> Bool {
        lhs.displayName == rhs.displayName && lhs.uri == rhs.uri
            && lhs.parameters.elementsEqual(rhs.parameters) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}
