extension SessionDescription {
    /// Largest description accepted (the SIP layer limits whole messages to 64 KiB too).
    public static let maximumSize = 65536
    public static let maximumLines = 1024

    /// Parses an SDP body. Lines may end in CRLF or LF; every error names the line.
    public init(parsing text: String) throws(SDPError) {
        guard text.utf8.count <= Self.maximumSize else {
            throw SDPError(line: nil, "description is \(text.utf8.count) bytes; at most \(Self.maximumSize) allowed")
        }
        // Split on bytes (LF or CRLF): walking Characters costs more than the rest of the parse.
        let lines: [String] = text.utf8.split(separator: 10, omittingEmptySubsequences: false).map { line in
            let bytes = line.last == 13 ? line.dropLast() : line[...]
            return String(decoding: bytes, as: UTF8.self)
        }
        guard lines.count <= Self.maximumLines + 1 else {
            throw SDPError(line: nil, "description has \(lines.count) lines; at most \(Self.maximumLines) allowed")
        }
        var version: Int?
        var origin: Origin?
        var sessionName: String?
        var connection: Connection?
        var times: [String] = []
        var attributes: [Attribute] = []
        var other: [OtherLine] = []
        var media: [Media] = []

        for (index, raw) in lines.enumerated() {
            let n = index + 1
            if raw.isEmpty {
                if index == lines.count - 1 { break }  // the final line break
                throw SDPError(line: n, "empty line; every line is <type>=<value>")
            }
            let utf8 = raw.utf8
            guard utf8.count >= 2, let t = utf8.first, t >= 97, t <= 122, utf8[utf8.index(after: utf8.startIndex)] == 61 else {
                throw SDPError(line: n, "'\(raw.prefix(40))' is not <type>=<value> with a lower-case letter type")
            }
            let type = Character(Unicode.Scalar(t))
            let value = String(decoding: utf8.dropFirst(2), as: UTF8.self)
            if index == 0 && type != "v" { throw SDPError(line: n, "a description starts with v=0") }
            switch type {
            case "v":
                guard version == nil, value == "0" else { throw SDPError(line: n, "v= must come once and be 0") }
                version = 0
            case "o":
                let f = value.split(separator: " ")
                guard origin == nil, media.isEmpty, f.count == 6 else {
                    throw SDPError(line: n, "o= needs 6 fields: username sess-id sess-version nettype addrtype address")
                }
                origin = Origin(
                    username: String(f[0]), sessionID: String(f[1]), sessionVersion: String(f[2]),
                    networkType: String(f[3]), addressType: String(f[4]), address: String(f[5]))
            case "s":
                guard sessionName == nil, media.isEmpty else { throw SDPError(line: n, "s= must come once, before m=") }
                sessionName = value
            case "c":
                let c = try Self.connection(value, line: n)
                if media.isEmpty {
                    connection = c
                } else {
                    media[media.count - 1].connection = c
                }
            case "t":
                guard media.isEmpty else { throw SDPError(line: n, "t= belongs before the first m=") }
                times.append(value)
            case "m":
                media.append(try Self.media(value, line: n))
            case "a":
                let a = Self.attribute(value)
                guard !a.name.isEmpty else { throw SDPError(line: n, "a= without a name") }
                if media.isEmpty {
                    attributes.append(a)
                } else {
                    media[media.count - 1].attributes.append(a)
                }
            default:
                let line = OtherLine(type: type, value: value)
                if media.isEmpty {
                    other.append(line)
                } else {
                    media[media.count - 1].otherLines.append(line)
                }
            }
        }
        guard version != nil else { throw SDPError(line: 1, "a description starts with v=0") }
        guard let origin else { throw SDPError(line: nil, "o= (origin) is missing") }
        guard let sessionName else { throw SDPError(line: nil, "s= (session name) is missing") }
        guard !times.isEmpty else { throw SDPError(line: nil, "t= (timing) is missing") }
        for (i, m) in media.enumerated() where m.connection == nil && connection == nil && m.port != 0 {
            throw SDPError(line: nil, "m= section \(i + 1) has no c= and there is no session-level c=")
        }
        self.init(
            origin: origin, sessionName: sessionName, connection: connection, times: times, attributes: attributes,
            otherLines: other, media: media)
    }

    static func connection(_ value: String, line: Int) throws(SDPError) -> Connection {
        let f = value.split(separator: " ")
        guard f.count == 3, f[0] == "IN", f[1] == "IP4" || f[1] == "IP6" else {
            throw SDPError(line: line, "c= needs 'IN IP4 <address>' or 'IN IP6 <address>', got '\(value.prefix(60))'")
        }
        return Connection(networkType: "IN", addressType: String(f[1]), address: String(f[2]))
    }

    static func media(_ value: String, line: Int) throws(SDPError) -> Media {
        let f = value.split(separator: " ")
        guard f.count >= 4 else {
            throw SDPError(line: line, "m= needs '<media> <port> <proto> <format>…', got '\(value.prefix(60))'")
        }
        let portField = f[1].split(separator: "/", maxSplits: 1)
        guard let port = UInt16(portField[0]) else {
            throw SDPError(line: line, "m= port '\(f[1])' is not a number in 0...65535")
        }
        var count: Int?
        if portField.count == 2 {
            guard let c = Int(portField[1]), (1...65535).contains(c) else {
                throw SDPError(line: line, "m= port count '\(portField[1])' is not a number in 1...65535")
            }
            count = c
        }
        return Media(
            media: String(f[0]), port: port, portCount: count, proto: String(f[2]), formats: f[3...].map(String.init))
    }

    static func attribute(_ value: String) -> Attribute {
        guard let colon = value.firstIndex(of: ":") else { return Attribute(value) }
        return Attribute(String(value[..<colon]), String(value[value.index(after: colon)...]))
    }
}

extension SessionDescription {
    /// The description as SDP text with CRLF line ends.
    public var serialized: String {
        var out = "v=\(version)\r\n"
        let o = origin
        out += "o=\(o.username) \(o.sessionID) \(o.sessionVersion) \(o.networkType) \(o.addressType) \(o.address)\r\n"
        out += "s=\(sessionName)\r\n"
        // RFC 8866 §5 order: v o s i u e p c b t r z k a
        for l in otherLines where "iuep".contains(l.type) { out += "\(l.type)=\(l.value)\r\n" }
        if let c = connection { out += "c=\(c.networkType) \(c.addressType) \(c.address)\r\n" }
        for l in otherLines where l.type == "b" { out += "b=\(l.value)\r\n" }
        for t in times { out += "t=\(t)\r\n" }
        for l in otherLines where !"iuepb".contains(l.type) { out += "\(l.type)=\(l.value)\r\n" }
        for a in attributes { out += Self.line(a) }
        for m in media {
            let port = m.portCount.map { "\(m.port)/\($0)" } ?? "\(m.port)"
            out += "m=\(m.media) \(port) \(m.proto) \(m.formats.joined(separator: " "))\r\n"
            for l in m.otherLines where l.type == "i" { out += "i=\(l.value)\r\n" }
            if let c = m.connection { out += "c=\(c.networkType) \(c.addressType) \(c.address)\r\n" }
            for l in m.otherLines where l.type != "i" { out += "\(l.type)=\(l.value)\r\n" }
            for a in m.attributes { out += Self.line(a) }
        }
        return out
    }

    static func line(_ a: Attribute) -> String { a.value.map { "a=\(a.name):\($0)\r\n" } ?? "a=\(a.name)\r\n" }
}
