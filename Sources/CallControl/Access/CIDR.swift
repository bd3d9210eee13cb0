import Foundation

/// An IPv4 or IPv6 network in CIDR notation ("10.0.0.0/8", "2001:db8::/32"). A bare
/// address is a /32 or /128. IPv4-mapped IPv6 sources (::ffff:a.b.c.d) match IPv4 networks.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// 16 bytes; IPv4 networks are stored IPv4-mapped.
    public let bytes: [UInt8]
    /// Prefix length over the 128-bit form.
    public let prefix: Int
    public let isIPv4: Bool

    public init(parsing text: String) throws(CIDRError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddressBytes.parse(String(parts[0])) else {
            throw CIDRError("'\(text)' is not an IPv4 or IPv6 address (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")
        }
        let v4 = address.isIPv4
        let maximum = v4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maximum).contains(p) else {
                throw CIDRError("'\(text)': prefix length must be 0...\(maximum)")
            }
            length = p
        }
        let prefix = v4 ? length + 96 : length
        var masked = address.bytes
        for i in 0..<16 {
            let bits = max(0, min(8, prefix - i * 8))
            masked[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
        self.bytes = masked
        self.prefix = prefix
        self.isIPv4 = v4
    }

    /// Whether an address (text form, as a socket reports it) lies in this network.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == 16 else { return false }
        var remaining = prefix
        var i = 0
        while remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[i] & mask != bytes[i] { return false }
            remaining -= bits
            i += 1
        }
        return true
    }

    public var description: String {
        isIPv4
            ? bytes[12...].map(String.init).joined(separator: ".") + "/\(prefix - 96)"
            : IPAddressBytes.format(bytes) + "/\(prefix)"
    }
}

public struct CIDRError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Textual IP addresses to the 16-byte form (IPv4 as ::ffff:a.b.c.d) and back.
public enum IPAddressBytes {
    public static func parse(_ text: String) -> (bytes: [UInt8], isIPv4: Bool)? {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let v4 = parseV4(t) { return ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + v4, true) }
        guard let v6 = parseV6(t) else { return nil }
        return (v6, false)
    }

    static func parseV4(_ t: Substring) -> [UInt8]? {
        let p = t.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 4 else { return nil }
        var out: [UInt8] = []
        for x in p {
            // No leading zeros: resolvers read "010" as octal.
            guard !x.isEmpty, x.count <= 3, x.allSatisfy(\.isASCII), let v = UInt8(x), x.count == 1 || x.first != "0" else {
                return nil
            }
            out.append(v)
        }
        return out
    }

    static func parseV6(_ t: Substring) -> [UInt8]? {
        var t = t
        if let pct = t.firstIndex(of: "%") { t = t[..<pct] }  // zone id
        guard t.contains(":"), t.utf8.count <= 45 else { return nil }
        let halves = t.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt8]? {
            if s.isEmpty { return [] }
            var out: [UInt8] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, g) in items.enumerated() {
                if i == items.count - 1, g.contains("."), let v4 = parseV4(g) {
                    out += v4
                    continue
                }
                guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 16 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    public static func format(_ b: [UInt8]) -> String {
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            return b[12...].map(String.init).joined(separator: ".")
        }
        // RFC 5952 §4.2: the longest run of two or more zero groups (the first of equals) is "::".
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]) }
        var best = (start: -1, length: 1)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.length { best = (i, j - i) }
            i = j
        }
        let text = { (g: ArraySlice<UInt16>) in g.map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.start >= 0 else { return text(groups[...]) }
        return text(groups[..<best.start]) + "::" + text(groups[(best.start + best.length)...])
    }
}
