/// A SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966), with parameters and headers.
/// Escaped characters (%XX) are kept as written; comparisons of user parts are the caller's.
public struct SIPURI: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable { case sip, sips, tel }

    public var scheme: Scheme
    /// The user part (sip/sips) or the telephone number (tel).
    public var user: String?
    public var password: String?
    /// Host name, IPv4 address or IPv6 reference with brackets ("[2001:db8::1]"); empty for tel.
    public var host: String
    public var port: UInt16?
    /// `;name=value` or `;name` (value nil), in order.
    public var parameters: [(String, String?)]
    /// `?name=value&…`, in order.
    public var headers: [(String, String)]

    public init(
        scheme: Scheme = .sip, user: String? = nil, host: String, port: UInt16? = nil,
        parameters: [(String, String?)] = [], headers: [(String, String)] = []
    ) {
        self.scheme = scheme
        self.user = user
        self.host = host
        self.port = port
        self.parameters = parameters
        self.headers = headers
    }

    public static func == (lhs: SIPURI, rhs: SIPURI) -> Bool {
        lhs.scheme == rhs.scheme && lhs.user == rhs.user && lhs.password == rhs.password
            && lhs.host.lowercased() == rhs.host.lowercased() && lhs.port == rhs.port
            && lhs.parameters.elementsEqual(rhs.parameters) { $0.0.lowercased() == $1.0.lowercased() && $0.1 == $1.1 }
            && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }

    /// The value of a parameter (`transport`, `lr`, …); `.some(nil)` for a flag.
    public func parameter(_ name: String) -> String?? {
        parameters.first { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    public init(parsing text: String) throws(SIPParseError) {
        guard text.utf8.count <= 4096 else { throw Self.error("URI longer than 4096 bytes") }
        guard let colon = text.firstIndex(of: ":"),
            let scheme = Scheme(rawValue: text[..<colon].lowercased())
        else {
            throw Self.error("URI '\(text.prefix(60))' does not start with sip:, sips: or tel:")
        }
        self.scheme = scheme
        var rest = text[text.index(after: colon)...]
        guard !rest.isEmpty, !rest.contains(where: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" })
        else { throw Self.error("URI '\(text.prefix(60))' is empty or contains white space or angle brackets") }

        headers = []
        if let q = rest.firstIndex(of: "?") {
            guard scheme != .tel else { throw Self.error("tel: URIs have no headers") }
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, !kv[0].isEmpty else { throw Self.error("URI header '\(pair.prefix(40))' is not name=value") }
                headers.append((String(kv[0]), String(kv[1])))
            }
            rest = rest[..<q]
        }
        var parts = rest.split(separator: ";", omittingEmptySubsequences: false)
        let address = parts.removeFirst()
        parameters = []
        for p in parts {
            guard !p.isEmpty else { throw Self.error("URI has an empty parameter") }
            let kv = p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            parameters.append((String(kv[0]), kv.count == 2 ? String(kv[1]) : nil))
        }
        password = nil
        port = nil
        if scheme == .tel {
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || "+-.()*#".contains($0) }) else {
                throw Self.error("tel: number '\(address.prefix(40))' has characters other than digits and visual separators")
            }
            user = String(address)
            host = ""
            return
        }
        var hostPort = address
        if let at = address.lastIndex(of: "@") {
            let userInfo = address[..<at]
            guard !userInfo.isEmpty else { throw Self.error("URI has an empty user part before '@'") }
            if let c = userInfo.firstIndex(of: ":") {
                user = String(userInfo[..<c])
                password = String(userInfo[userInfo.index(after: c)...])
            } else {
                user = String(userInfo)
            }
            hostPort = address[address.index(after: at)...]
        } else {
            user = nil
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw Self.error("IPv6 reference without ']'") }
            host = String(hostPort[...close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()) else {
                    throw Self.error("port after '\(host)' is not a number in 0...65535")
                }
                port = p
            }
        } else {
            let hp = hostPort.split(separator: ":", omittingEmptySubsequences: false)
            guard hp.count <= 2 else { throw Self.error("host '\(hostPort.prefix(40))' has more than one ':'") }
            host = String(hp[0])
            if hp.count == 2 {
                guard let p = UInt16(hp[1]) else { throw Self.error("port '\(hp[1].prefix(10))' is not a number in 0...65535") }
                port = p
            }
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-.[]:".contains($0) }), host.allSatisfy(\.isASCII)
        else { throw Self.error("host '\(host.prefix(40))' is not a host name or address") }
    }

    public var description: String {
        var s = scheme.rawValue + ":"
        if let user {
            s += user
            if let password { s += ":" + password }
            if scheme != .tel { s += "@" }
        }
        s += host
        if let port { s += ":\(port)" }
        for (k, v) in parameters { s += ";" + k + (v.map { "=" + $0 } ?? "") }
        if !headers.isEmpty { s += "?" + headers.map { "\($0.0)=\($0.1)" }.joined(separator: "&") }
        return s
    }

    static func error(_ message: String) -> SIPParseError { SIPParseError(.malformedURI, message) }
}
