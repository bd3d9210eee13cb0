/// Bencode (the BitTorrent encoding) as rtpengine's "ng" control protocol uses it: each UDP
/// datagram is `<cookie> <bencoded dictionary>`, and the reply echoes the cookie.
///
/// Values are byte strings, integers, lists and dictionaries. Dictionary keys are encoded in
/// ascending byte order; the decoder accepts them in any order (rtpengine does not sort),
/// rejects duplicates, and throws on malformed input instead of trapping (depth, lengths and
/// integers are all bounded).
public enum BencodeValue: Sendable, Hashable {
    case string([UInt8])
    case integer(Int)
    case list([BencodeValue])
    case dictionary([String: BencodeValue])
}

public struct BencodeError: Error, CustomStringConvertible, Equatable {
    /// Byte offset in the input where decoding failed.
    public let offset: Int
    public let reason: String
    public init(offset: Int, _ reason: String) {
        self.offset = offset
        self.reason = reason
    }
    public var description: String { "bencode: \(reason) at byte \(offset)" }
}

public enum Bencode {
    /// Nesting deeper than this is rejected (it bounds the decoder's recursion).
    public static let maximumDepth = 64

    public static func encode(_ value: BencodeValue) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    public static func encode(_ value: BencodeValue, into out: inout [UInt8]) {
        switch value {
        case .string(let bytes):
            out += String(bytes.count).utf8
            out.append(UInt8(ascii: ":"))
            out += bytes
        case .integer(let n):
            out.append(UInt8(ascii: "i"))
            out += String(n).utf8
            out.append(UInt8(ascii: "e"))
        case .list(let items):
            out.append(UInt8(ascii: "l"))
            for item in items { encode(item, into: &out) }
            out.append(UInt8(ascii: "e"))
        case .dictionary(let dict):
            out.append(UInt8(ascii: "d"))
            for (key, item) in dict.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                encode(.string(Array(key.utf8)), into: &out)
                encode(item, into: &out)
            }
            out.append(UInt8(ascii: "e"))
        }
    }

    /// Decodes exactly one value; trailing bytes are an error.
    public static func decode(_ bytes: [UInt8]) throws(BencodeError) -> BencodeValue {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        guard parser.index == bytes.count else {
            throw BencodeError(offset: parser.index, "trailing data after the value")
        }
        return value
    }

    /// Decodes one value at the start of `bytes`; returns it and the number of bytes it used.
    public static func decodePrefix(_ bytes: [UInt8]) throws(BencodeError) -> (value: BencodeValue, length: Int) {
        var parser = Parser(bytes: bytes)
        let value = try parser.value(depth: 0)
        return (value, parser.index)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func value(depth: Int) throws(BencodeError) -> BencodeValue {
            guard depth < Bencode.maximumDepth else { throw BencodeError(offset: index, "nested too deeply") }
            guard index < bytes.count else { throw BencodeError(offset: index, "unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "i"):
                index += 1
                return .integer(try integer(until: UInt8(ascii: "e")))
            case UInt8(ascii: "l"):
                index += 1
                var items: [BencodeValue] = []
                while true {
                    guard index < bytes.count else { throw BencodeError(offset: index, "unterminated list") }
                    if bytes[index] == UInt8(ascii: "e") { break }
                    items.append(try value(depth: depth + 1))
                }
                index += 1
                return .list(items)
            case UInt8(ascii: "d"):
                index += 1
                var dict: [String: BencodeValue] = [:]
                while true {
                    guard index < bytes.count else { throw BencodeError(offset: index, "unterminated dictionary") }
                    if bytes[index] == UInt8(ascii: "e") { break }
                    let keyOffset = index
                    guard bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") else {
                        throw BencodeError(offset: index, "dictionary key is not a string")
                    }
                    let raw = try string()
                    let key = String(decoding: raw, as: UTF8.self)
                    guard Array(key.utf8) == raw else { throw BencodeError(offset: keyOffset, "dictionary key is not UTF-8") }
                    guard dict[key] == nil else { throw BencodeError(offset: keyOffset, "duplicate dictionary key '\(key)'") }
                    dict[key] = try value(depth: depth + 1)
                }
                index += 1
                return .dictionary(dict)
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .string(try string())
            default:
                throw BencodeError(offset: index, "unexpected byte 0x\(String(bytes[index], radix: 16))")
            }
        }

        /// `<length>:<bytes>`, with `index` at the first digit.
        mutating func string() throws(BencodeError) -> [UInt8] {
            let start = index
            let length = try integer(until: UInt8(ascii: ":"))
            guard length >= 0, bytes[start] != UInt8(ascii: "-") else {
                throw BencodeError(offset: start, "negative string length")
            }
            guard length <= bytes.count - index else {
                throw BencodeError(offset: start, "string length \(length) runs past the end of input")
            }
            let s = Array(bytes[index..<(index + length)])
            index += length
            return s
        }

        /// Decimal digits (optionally negative) up to `terminator`, which is consumed.
        /// No leading zeros, no "-0", no overflow.
        mutating func integer(until terminator: UInt8) throws(BencodeError) -> Int {
            let start = index
            var negative = false
            if index < bytes.count && bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let digitsStart = index
            var n = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let digit = Int(bytes[index] - UInt8(ascii: "0"))
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
                guard !o1 && !o2 else { throw BencodeError(offset: start, "integer out of range") }
                n = s
                index += 1
            }
            let count = index - digitsStart
            guard count > 0 else { throw BencodeError(offset: start, "expected digits") }
            guard index < bytes.count, bytes[index] == terminator else {
                throw BencodeError(offset: index, "expected '\(Character(Unicode.Scalar(terminator)))'")
            }
            if count > 1 && bytes[digitsStart] == UInt8(ascii: "0") {
                throw BencodeError(offset: start, "leading zero in integer")
            }
            if negative && n == 0 { throw BencodeError(offset: start, "negative zero") }
            index += 1
            return n
        }
    }
}

// MARK: - Building and reading values from Swift

extension BencodeValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    /// A byte string holding `string`'s UTF-8.
    public init(_ string: String) { self = .string(Array(string.utf8)) }

    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(arrayLiteral elements: BencodeValue...) { self = .list(elements) }
    /// A repeated key keeps the last value (never traps).
    public init(dictionaryLiteral elements: (String, BencodeValue)...) {
        self = .dictionary(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// A dictionary of strings, e.g. `["command": "ping"]` built at run time.
    public static func stringDictionary(_ strings: [String: String]) -> BencodeValue {
        .dictionary(strings.mapValues { BencodeValue($0) })
    }

    /// A list of strings, e.g. `["origin"]` for rtpengine's `replace` flag.
    public static func stringList(_ strings: [String]) -> BencodeValue {
        .list(strings.map { BencodeValue($0) })
    }

    /// A byte string's UTF-8 text (invalid sequences are replaced), or nil for other kinds.
    public var stringValue: String? {
        if case .string(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    public var bytesValue: [UInt8]? {
        if case .string(let b) = self { return b }
        return nil
    }

    public var integerValue: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }

    public var listValue: [BencodeValue]? {
        if case .list(let l) = self { return l }
        return nil
    }

    public var dictionaryValue: [String: BencodeValue]? {
        if case .dictionary(let d) = self { return d }
        return nil
    }

    /// The value under `key` if this is a dictionary that has it.
    public subscript(key: String) -> BencodeValue? {
        if case .dictionary(let d) = self { return d[key] }
        return nil
    }
}

// MARK: - ng framing

/// rtpengine's ng framing: `<cookie> <bencoded message>`.
public enum NgFrame {
    public static func encode(cookie: String, message: BencodeValue) -> [UInt8] {
        Array(cookie.utf8) + [UInt8(ascii: " ")] + Bencode.encode(message)
    }

    /// Splits a datagram at its first space into the cookie and the decoded message.
    public static func decode(_ datagram: [UInt8]) throws(BencodeError) -> (cookie: String, message: BencodeValue) {
        guard let space = datagram.firstIndex(of: UInt8(ascii: " ")) else {
            throw BencodeError(offset: 0, "ng datagram has no cookie")
        }
        let cookie = String(decoding: datagram[..<space], as: UTF8.self)
        let message = try Bencode.decode(Array(datagram[(space + 1)...]))
        return (cookie, message)
    }
}
