/// A UDP endpoint (IPv4 or IPv6 address and port) as a plain value: hashable, no allocation,
/// independent of any socket library, so the relay's core can compare and store it freely.
public struct MediaAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, stored in two words.
    public let high: UInt64
    public let low: UInt64
    public let isIPv6: Bool
    public let port: UInt16

    public init(ipv4 octets: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        high = 0
        low = UInt64(octets.0) << 24 | UInt64(octets.1) << 16 | UInt64(octets.2) << 8 | UInt64(octets.3)
        isIPv6 = false
        self.port = port
    }

    public init(ipv6 bytes: [UInt8], port: UInt16) {
        precondition(bytes.count == 16, "IPv6 address needs 16 bytes")
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        high = h
        low = l
        isIPv6 = true
        self.port = port
    }

    /// Parses "a.b.c.d" or an IPv6 literal (with or without brackets).
    public init?(host: String, port: UInt16) {
        var h = Substring(host)
        if h.hasPrefix("[") && h.hasSuffix("]") { h = h.dropFirst().dropLast() }
        if let v4 = Self.parseIPv4(h) {
            self.init(ipv4: v4, port: port)
        } else if let v6 = Self.parseIPv6(h) {
            self.init(ipv6: v6, port: port)
        } else {
            return nil
        }
    }

    /// The address bytes (4 or 16).
    public var addressBytes: [UInt8] {
        if !isIPv6 { return (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * UInt64($0))) } }
        return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    public var host: String {
        let b = addressBytes
        if !isIPv6 { return b.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The same address with another port.
    public func with(port: UInt16) -> MediaAddress {
        MediaAddress(raw: high, low, isIPv6: isIPv6, port: port)
    }

    /// From the two address words (no allocation).
    init(raw high: UInt64, _ low: UInt64, isIPv6: Bool, port: UInt16) {
        self.high = high
        self.low = low
        self.isIPv6 = isIPv6
        self.port = port
    }

    static func parseIPv4(_ s: Substring) -> (UInt8, UInt8, UInt8, UInt8)? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var o: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = UInt8(p) else { return nil }
            o.append(v)
        }
        return (o[0], o[1], o[2], o[3])
    }

    static func parseIPv6(_ s: Substring) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
