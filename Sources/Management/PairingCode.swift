import Crypto
import Foundation
import PKI

/// The one-time code an unpaired satellite shows, and the proofs both sides derive from it.
/// 100 random bits in Crockford base32, four groups of five: `7KQ2M-X0DGE-4HV9T-BC31R`.
public struct PairingCode: Sendable, Equatable, CustomStringConvertible {
    /// The 20 symbols without dashes, upper case.
    public let symbols: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    public static func random() -> PairingCode {
        var g = SystemRandomNumberGenerator()
        return PairingCode(symbols: String((0..<20).map { _ in alphabet[Int(g.next() % 32)] }))
    }

    private init(symbols: String) { self.symbols = symbols }

    /// Reads what a person typed: case, dashes and spaces do not matter; I and L read as 1,
    /// O as 0 (Crockford). Throws when it is not 20 symbols of the alphabet.
    public init(typed text: String) throws(PairingError) {
        var out = ""
        for c in text.uppercased() where c != "-" && c != " " {
            let mapped: Character = c == "I" || c == "L" ? "1" : c == "O" ? "0" : c
            guard Self.alphabet.contains(mapped) else {
                throw PairingError(.badCode, "'\(c)' is not in a pairing code (allowed: 0-9 and A-Z without I, L, O, U)")
            }
            out.append(mapped)
        }
        guard out.count == 20 else {
            throw PairingError(.badCode, "a pairing code has 20 symbols (XXXXX-XXXXX-XXXXX-XXXXX), got \(out.count)")
        }
        symbols = out
    }

    public var description: String {
        let s = Array(symbols)
        return stride(from: 0, to: 20, by: 5).map { String(s[$0..<$0 + 5]) }.joined(separator: "-")
    }

    /// The server's proof: it knows the code and saw these two keys in the handshake.
    public func proof(satellite: Fingerprint, server: Fingerprint) -> [UInt8] {
        mac("trabant-pair-v1\n", satellite, server)
    }

    /// The satellite's answer: it knows the code too, and saw the same keys.
    public func confirmation(satellite: Fingerprint, server: Fingerprint) -> [UInt8] {
        mac("trabant-pair-v1-ack\n", satellite, server)
    }

    private func mac(_ label: String, _ satellite: Fingerprint, _ server: Fingerprint) -> [UInt8] {
        let key = SymmetricKey(data: Array(symbols.utf8))
        return Array(HMAC<SHA256>.authenticationCode(for: Array(label.utf8) + satellite.bytes + server.bytes, using: key))
    }

    /// Compares without leaking where the first difference is.
    public static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

public struct PairingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case badCode, badAddress, noCode, expired, wrongProof, alreadyPaired, notPaired, io, refused
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
