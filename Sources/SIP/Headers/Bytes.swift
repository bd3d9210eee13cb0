/// Byte-level helpers for the parsers: SIP's syntax is ASCII, and scanning UTF-8 bytes is
/// an order of magnitude cheaper than walking Swift Characters (grapheme clusters).
enum Bytes {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09

    @inline(__always) static func isWhitespace(_ b: UInt8) -> Bool { b == space || b == tab }

    /// The range without leading and trailing SP/HTAB.
    @inline(__always)
    static func trimmed(_ b: [UInt8], _ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound
        var hi = range.upperBound
        while lo < hi && isWhitespace(b[lo]) { lo += 1 }
        while hi > lo && isWhitespace(b[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    @inline(__always)
    static func string(_ b: [UInt8], _ range: Range<Int>) -> String {
        String(decoding: b[range], as: UTF8.self)
    }

    @inline(__always)
    static func firstIndex(of byte: UInt8, in b: [UInt8], _ range: Range<Int>) -> Int? {
        var i = range.lowerBound
        while i < range.upperBound {
            if b[i] == byte { return i }
            i += 1
        }
        return nil
    }

    @inline(__always)
    static func lastIndex(of byte: UInt8, in b: [UInt8], _ range: Range<Int>) -> Int? {
        var i = range.upperBound
        while i > range.lowerBound {
            i -= 1
            if b[i] == byte { return i }
        }
        return nil
    }

    /// Ranges between separators (empty pieces kept).
    static func split(_ b: [UInt8], _ range: Range<Int>, on byte: UInt8) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            if b[i] == byte {
                out.append(start..<i)
                start = i + 1
            }
            i += 1
        }
        out.append(start..<range.upperBound)
        return out
    }

    /// RFC 3261 §25.1 token characters.
    @inline(__always)
    static func isToken(_ v: UInt8) -> Bool {
        switch v {
        case 48...57, 65...90, 97...122: return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "`"), UInt8(ascii: "'"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    @inline(__always) static func lower(_ v: UInt8) -> UInt8 { v >= 65 && v <= 90 ? v + 32 : v }

    /// Case-insensitive ASCII comparison of a range with a lower-case literal.
    static func equalsLower(_ b: [UInt8], _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { lit in
            var i = 0
            for j in range {
                if lower(b[j]) != lit[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// A decimal number of at most `maxDigits` digits, nil otherwise.
    static func number(_ b: [UInt8], _ range: Range<Int>, maxDigits: Int = 9) -> Int? {
        guard !range.isEmpty, range.count <= maxDigits else { return nil }
        var n = 0
        for i in range {
            let d = b[i]
            guard d >= 48 && d <= 57 else { return nil }
            n = n * 10 + Int(d - 48)
        }
        return n
    }
}
