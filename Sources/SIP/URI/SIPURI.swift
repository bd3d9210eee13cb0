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
        let b = Array(text.utf8)
        guard b.count <= 4096 else { throw Self.error("URI longer than 4096 bytes") }
        let colon = Bytes.firstIndex(of: UInt8(ascii: ":"), in: b, 0..<b.count)
        let scheme: Scheme
        if let colon, Bytes.equalsLower(b, 0..<colon, "sip") {
            scheme = .sip
        } else if let colon, Bytes.equalsLower(b, 0..<colon, "sips") {
            scheme = .sips
        } else if let colon, Bytes.equalsLower(b, 0..<colon, "tel") {
            scheme = .tel
        } else {
            throw Self.error("URI '\(text.prefix(60))' does not start with sip:, sips: or tel:")
        }
        self.scheme = scheme
        var rest = (colon! + 1)..<b.count
        guard !rest.isEmpty, !b[rest].contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A || $0 == 0x3C || $0 == 0x3E })
        else { throw Self.error("URI '\(text.prefix(60))' is empty or contains white space or angle brackets") }

        headers = []
        if let q = Bytes.firstIndex(of: UInt8(ascii: "?"), in: b, rest) {
            guard scheme != .tel else { throw Self.error("tel: URIs have no headers") }
            for pair in Bytes.split(b, (q + 1)..<rest.upperBound, on: UInt8(ascii: "&")) where !pair.isEmpty {
                guard let eq = Bytes.firstIndex(of: UInt8(ascii: "="), in: b, pair), eq > pair.lowerBound else {
                    throw Self.error("URI header '\(Bytes.string(b, pair).prefix(40))' is not name=value")
                }
                headers.append((Bytes.string(b, pair.lowerBound..<eq), Bytes.string(b, (eq + 1)..<pair.upperBound)))
            }
            rest = rest.lowerBound..<q
        }
        let parts = Bytes.split(b, rest, on: UInt8(ascii: ";"))
        let address = parts[0]
        parameters = []
        for p in parts.dropFirst() {
            guard !p.isEmpty else { throw Self.error("URI has an empty parameter") }
            if let eq = Bytes.firstIndex(of: UInt8(ascii: "="), in: b, p) {
                parameters.append((Bytes.string(b, p.lowerBound..<eq), Bytes.string(b, (eq + 1)..<p.upperBound)))
            } else {
                parameters.append((Bytes.string(b, p), nil))
            }
        }
        password = nil
        port = nil
        if scheme == .tel {
            guard !address.isEmpty, b[address].allSatisfy({ Self.isTelCharacter($0) }) else {
                throw Self.error(
                    "tel: number '\(Bytes.string(b, address).prefix(40))' has characters other than digits and visual separators")
            }
            user = Bytes.string(b, address)
            host = ""
            return
        }
        var hostPort = address
        if let at = Bytes.lastIndex(of: UInt8(ascii: "@"), in: b, address) {
            let userInfo = address.lowerBound..<at
            guard !userInfo.isEmpty else { throw Self.error("URI has an empty user part before '@'") }
            if let c = Bytes.firstIndex(of: UInt8(ascii: ":"), in: b, userInfo) {
                user = Bytes.string(b, userInfo.lowerBound..<c)
                password = Bytes.string(b, (c + 1)..<at)
            } else {
                user = Bytes.string(b, userInfo)
            }
            hostPort = (at + 1)..<address.upperBound
        } else {
            user = nil
        }
        var hostRange = hostPort
        if !hostPort.isEmpty && b[hostPort.lowerBound] == UInt8(ascii: "[") {
            guard let close = Bytes.firstIndex(of: UInt8(ascii: "]"), in: b, hostPort) else {
                throw Self.error("IPv6 reference without ']'")
            }
            hostRange = hostPort.lowerBound..<(close + 1)
            let after = (close + 1)..<hostPort.upperBound
            if !after.isEmpty {
                guard b[after.lowerBound] == UInt8(ascii: ":"), let p = Bytes.number(b, (after.lowerBound + 1)..<after.upperBound, maxDigits: 5),
                    p <= 65535
                else { throw Self.error("port after '\(Bytes.string(b, hostRange))' is not a number in 0...65535") }
                port = UInt16(p)
            }
        } else if let c = Bytes.firstIndex(of: UInt8(ascii: ":"), in: b, hostPort) {
            guard Bytes.firstIndex(of: UInt8(ascii: ":"), in: b, (c + 1)..<hostPort.upperBound) == nil else {
                throw Self.error("host '\(Bytes.string(b, hostPort).prefix(40))' has more than one ':'")
            }
            hostRange = hostPort.lowerBound..<c
            guard let p = Bytes.number(b, (c + 1)..<hostPort.upperBound, maxDigits: 5), p <= 65535 else {
                throw Self.error("port '\(Bytes.string(b, (c + 1)..<hostPort.upperBound).prefix(10))' is not a number in 0...65535")
            }
            port = UInt16(p)
        }
        guard !hostRange.isEmpty, b[hostRange].allSatisfy({ Self.isHostCharacter($0) }) else {
            throw Self.error("host '\(Bytes.string(b, hostRange).prefix(40))' is not a host name or address")
        }
        host = Bytes.string(b, hostRange)
    }

    @inline(__always)
    static func isHostCharacter(_ v: UInt8) -> Bool {
        switch v {
        case 48...57, 65...90, 97...122, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "["), UInt8(ascii: "]"),
            UInt8(ascii: ":"):
            return true
        default: return false
        }
    }

    @inline(__always)
    static func isTelCharacter(_ v: UInt8) -> Bool {
        switch v {
        case 48...57, 65...70, 97...102, UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "#"):
            return true
        default: return false
        }
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
