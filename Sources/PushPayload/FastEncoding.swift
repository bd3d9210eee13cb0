import Foundation

/// Encoders on the push hot path: Foundation's JSONEncoder and NSString replacing were a
/// third of the sender's time per push (`perf`, docs/benchmarks.md).
public enum FastEncoding {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// RFC 4648 §5 base64url, without padding.
    public static func base64URL<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let n = bytes.count
        return String(unsafeUninitializedCapacity: (n * 4 + 2) / 3) { out in
            var o = 0
            var it = bytes.makeIterator()
            var left = n
            while left >= 3 {
                let v = UInt32(it.next()!) << 16 | UInt32(it.next()!) << 8 | UInt32(it.next()!)
                out[o] = alphabet[Int(v >> 18)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                out[o + 2] = alphabet[Int(v >> 6 & 63)]
                out[o + 3] = alphabet[Int(v & 63)]
                o += 4
                left -= 3
            }
            if left == 2 {
                let v = UInt32(it.next()!) << 16 | UInt32(it.next()!) << 8
                out[o] = alphabet[Int(v >> 18)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                out[o + 2] = alphabet[Int(v >> 6 & 63)]
                o += 3
            } else if left == 1 {
                let v = UInt32(it.next()!) << 16
                out[o] = alphabet[Int(v >> 18)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                o += 2
            }
            return o
        }
    }

    /// A JSON string literal (RFC 8259 §7): quotes, backslash and control characters escaped.
    public static func quoted(_ s: String) -> String {
        // Most strings here (base64url, ids) need no escape: copied whole.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) { return "\"" + s + "\"" }
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
        return out
    }

    /// A JSON number for a finite double (JSON has no NaN or infinity).
    public static func number(_ d: Double) -> String? {
        guard d.isFinite else { return nil }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
