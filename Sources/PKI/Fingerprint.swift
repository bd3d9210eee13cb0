import Crypto

/// The SHA-256 of a public key's DER SubjectPublicKeyInfo: what a peer is pinned by. It
/// survives certificate renewal with the same key and is what `openssl pkey -pubin
/// -outform DER | sha256sum` prints for the key.
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    public init(spki: some Collection<UInt8>) {
        bytes = Array(SHA256.hash(data: Array(spki)))
    }

    /// From 64 hex digits, with or without colons.
    public init(hex text: String) throws(PKIError) {
        let digits = text.filter { $0 != ":" }.lowercased()
        if let bad = digits.first(where: { !$0.isHexDigit }) {
            throw PKIError(.badFingerprint, "'\(bad)' in the fingerprint is not a hex digit")
        }
        guard digits.count == 64 else {
            throw PKIError(.badFingerprint, "a fingerprint is 64 hex digits (SHA-256), got \(digits.count) characters")
        }
        var out: [UInt8] = []
        var chars = digits.makeIterator()
        while let hi = chars.next(), let lo = chars.next() {
            guard let b = UInt8(String([hi, lo]), radix: 16) else {
                throw PKIError(.badFingerprint, "'\(hi)\(lo)' in the fingerprint is not hex")
            }
            out.append(b)
        }
        bytes = out
    }

    /// Lower-case hex, 64 digits.
    public var hex: String { bytes.map { String(format2: $0) }.joined() }

    /// A short code to read aloud and compare: the first 100 bits in Crockford base32
    /// (no I, L, O, U), four groups of five — e.g. `7KQ2M-X0DGE-4HV9T-BC31R`.
    public var shortCode: String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var chars: [Character] = []
        var acc: UInt32 = 0
        var bits = 0
        for b in bytes {
            acc = acc << 8 | UInt32(b)
            bits += 8
            while bits >= 5, chars.count < 20 {
                bits -= 5
                chars.append(alphabet[Int((acc >> UInt32(bits)) & 31)])
            }
            if chars.count == 20 { break }
        }
        return stride(from: 0, to: 20, by: 5).map { String(chars[$0..<$0 + 5]) }.joined(separator: "-")
    }

    public var description: String { "sha256:\(hex)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Fingerprint(hex: text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
