/// The three primitives SRTP needs, each keyed once and then used per packet.
///
/// Invariants every implementation keeps (the template is swift-nio-ssh's
/// `SSHTransportProtection`):
/// - keys are set up in `init`; per-packet calls do not re-key and, on the fast engine, do
///   not allocate;
/// - buffers are transformed in place; nothing is retained after a call returns;
/// - an instance is used by one thread at a time (a leg lives on one event loop).

/// AES in counter mode (RFC 3711 §4.1.1): XORs data with the keystream that starts at `iv`.
protocol AESCounterMode: AnyObject {
    func xorKeystream(iv: UnsafeRawPointer, _ data: UnsafeMutableRawBufferPointer)
}

/// HMAC-SHA1 (RFC 3711 §4.2.1) over the concatenation of two byte ranges.
protocol HMACSHA1: AnyObject {
    /// Writes the full 20-byte MAC of `a || b` to `mac`.
    func authenticate(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, mac: UnsafeMutableRawPointer)
}

/// AES-GCM with a 12-byte nonce and a 16-byte tag (RFC 7714).
protocol AESGCMCipher: AnyObject {
    func seal(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) -> Bool
    func open(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) -> Bool
}

/// Which implementation of the primitives a context uses. Both pass the same known-answer and
/// libsrtp interop tests; docs/srtp-crypto.md has the measured cost of each.
public enum SRTPCryptoEngine: String, Sendable, CaseIterable, CustomStringConvertible {
    /// BoringSSL's C API as linked by swift-crypto on Linux: in place, no allocation per packet.
    case boringSSL = "boringssl"
    /// swift-crypto's public Swift API: portable (Apple platforms), allocates per packet.
    case swiftCrypto = "swift-crypto"

    public var description: String { rawValue }

    /// The fastest engine on this platform.
    public static var `default`: SRTPCryptoEngine {
        #if canImport(CSRTPBoring)
        return .boringSSL
        #else
        return .swiftCrypto
        #endif
    }

    /// Engines usable on this platform.
    public static var available: [SRTPCryptoEngine] {
        #if canImport(CSRTPBoring)
        return [.boringSSL, .swiftCrypto]
        #else
        return [.swiftCrypto]
        #endif
    }

    func makeCounterMode(key: [UInt8]) throws(SRTPConfigError) -> any AESCounterMode {
        switch self {
        case .boringSSL:
            #if canImport(CSRTPBoring)
            return try BoringAESCounterMode(key: key)
            #else
            throw Self.unavailable
            #endif
        case .swiftCrypto:
            return try SwiftCryptoAESCounterMode(key: key)
        }
    }

    func makeHMAC(key: [UInt8]) throws(SRTPConfigError) -> any HMACSHA1 {
        switch self {
        case .boringSSL:
            #if canImport(CSRTPBoring)
            return try BoringHMACSHA1(key: key)
            #else
            throw Self.unavailable
            #endif
        case .swiftCrypto:
            return SwiftCryptoHMACSHA1(key: key)
        }
    }

    func makeGCM(key: [UInt8]) throws(SRTPConfigError) -> any AESGCMCipher {
        switch self {
        case .boringSSL:
            #if canImport(CSRTPBoring)
            return try BoringAESGCM(key: key)
            #else
            throw Self.unavailable
            #endif
        case .swiftCrypto:
            return try SwiftCryptoAESGCM(key: key)
        }
    }

    private static var unavailable: SRTPConfigError {
        SRTPConfigError(
            .engineUnavailable,
            "SRTP crypto engine 'boringssl' is not available on this platform; allowed: "
                + available.map(\.rawValue).joined(separator: ", "))
    }
}
