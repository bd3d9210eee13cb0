/// Splitting and structure of SIP header values (RFC 3261 §7.3.1, §20, §25.1).
public enum HeaderValues {
    /// Splits a comma-separated header value into its elements, ignoring commas inside
    /// quoted strings (with backslash escapes) and inside <…>.
    public static func split(_ value: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inQuotes = false
        var escaped = false
        var angle = 0
        for c in value {
            if escaped {
                current.append(c)
                escaped = false
                continue
            }
            switch c {
            case "\\" where inQuotes:
                escaped = true
                current.append(c)
            case "\"":
                inQuotes.toggle()
                current.append(c)
            case "<" where !inQuotes:
                angle += 1
                current.append(c)
            case ">" where !inQuotes:
                angle = max(0, angle - 1)
                current.append(c)
            case "," where !inQuotes && angle == 0:
                out.append(String(current.trimmingWhitespace()))
                current = ""
            default:
                current.append(c)
            }
        }
        let last = current.trimmingWhitespace()
        if !last.isEmpty || !out.isEmpty { out.append(String(last)) }
        return out.filter { !$0.isEmpty }
    }

    /// `;name=value;flag` parameters after a value (quoted values unquoted).
    static func parameters(_ text: Substring) throws(SIPParseError) -> [(String, String?)] {
        var out: [(String, String?)] = []
        for raw in text.split(separator: ";", omittingEmptySubsequences: false).dropFirst() {
            let p = raw.trimmingWhitespace()
            guard !p.isEmpty else { throw SIPParseError(.malformedHeader, "empty header parameter") }
            let kv = p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = kv[0].trimmingWhitespace()
            guard !name.isEmpty, name.allSatisfy(SIPStreamParser.isTokenCharacter) else {
                throw SIPParseError(.malformedHeader, "header parameter name '\(name.prefix(40))' is not a token")
            }
            var value = kv.count == 2 ? String(kv[1].trimmingWhitespace()) : nil
            if let v = value, v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { value = unquote(v) }
            out.append((String(name), value))
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
        let t = text.trimmingWhitespace()
        let semi = t.firstIndex(of: ";") ?? t.endIndex
        // LWS may surround the slashes of sent-protocol (RFC 3261 §25.1 SLASH, RFC 4475 §3.1.1.1).
        let protocolJoined = t[..<semi].split(separator: "/", omittingEmptySubsequences: false)
            .map { String($0.trimmingWhitespace()) }.joined(separator: "/")
        let head = protocolJoined.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard head.count == 2 else { throw SIPParseError(.malformedHeader, "Via '\(t.prefix(60))' is not 'SIP/2.0/<transport> <host>'") }
        let proto = head[0].split(separator: "/")
        guard proto.count == 3, proto[0].uppercased() == "SIP", proto[1] == "2.0", !proto[2].isEmpty else {
            throw SIPParseError(.malformedHeader, "Via protocol '\(head[0].prefix(30))' is not SIP/2.0/<transport>")
        }
        transport = proto[2].uppercased()
        let uri = try SIPURI(parsing: "sip:" + head[1])
        host = uri.host
        port = uri.port
        parameters = try HeaderValues.parameters(t[semi...])
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
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard f.count == 2, let n = UInt32(f[0]), n < 1 << 31, f[1].allSatisfy(SIPStreamParser.isTokenCharacter) else {
            throw SIPParseError(.malformedHeader, "CSeq '\(text.prefix(40))' is not '<number below 2^31> <method>'")
        }
        number = n
        method = String(f[1])
    }
}

/// A name-addr or addr-spec with parameters: From, To, Contact, Route (RFC 3261 §20.10).
public struct NameAddress: Sendable, Equatable {
    public var displayName: String?
    public var uri: SIPURI
    public var parameters: [(String, String?)]

    public var tag: String? { parameters.first { $0.0.lowercased() == "tag" }?.1 ?? nil }

    public init(parsing text: String) throws(SIPParseError) {
        let t = text.trimmingWhitespace()
        if let open = Self.openingAngle(t) {
            guard let close = t[open...].firstIndex(of: ">") else {
                throw SIPParseError(.malformedHeader, "address '\(t.prefix(60))' has '<' without '>'")
            }
            let name = t[..<open].trimmingWhitespace()
            displayName = name.isEmpty ? nil : (name.hasPrefix("\"") ? HeaderValues.unquote(String(name)) : String(name))
            uri = try SIPURI(parsing: String(t[t.index(after: open)..<close]))
            parameters = try HeaderValues.parameters(t[t.index(after: close)...])
        } else {
            // addr-spec form: parameters after ';' belong to the header, not the URI (§20.10).
            let semi = t.firstIndex(of: ";") ?? t.endIndex
            displayName = nil
            uri = try SIPURI(parsing: String(t[..<semi].trimmingWhitespace()))
            parameters = try HeaderValues.parameters(t[semi...])
        }
    }

    /// The first '<' outside a quoted display name.
    static func openingAngle(_ s: Substring) -> Substring.Index? {
        var inQuotes = false
        var escaped = false
        for i in s.indices {
            let c = s[i]
            if escaped { escaped = false; continue }
            if c == "\\" && inQuotes { escaped = true } else if c == "\"" { inQuotes.toggle() } else if c == "<" && !inQuotes { return i }
        }
        return nil
    }

    public static func == (lhs: NameAddress, rhs: NameAddress) -> Bool {
        lhs.displayName == rhs.displayName && lhs.uri == rhs.uri
            && lhs.parameters.elementsEqual(rhs.parameters) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}
