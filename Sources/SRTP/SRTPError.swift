/// Why a packet was not protected or unprotected. Every datagram the relay drops is counted
/// under one of these reasons; none of them is ever a crash.
public enum SRTPDropReason: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Shorter than a header plus the authentication tag (or a header that runs past the end).
    case truncated
    /// RTP/RTCP version field is not 2.
    case badVersion
    /// The authentication tag did not verify: a forged, corrupted or wrongly keyed packet.
    case authenticationFailed
    /// The packet index was seen before or is older than the replay window (RFC 3711 §3.3.2).
    case replay
    /// The SSRC is not one this context accepts (fixed SSRC list, or too many streams).
    case unknownSSRC
    /// The buffer has no room for the authentication tag (protect only).
    case bufferTooSmall
    /// The SRTCP index space (2^31) or the key's packet limit is exhausted: re-key.
    case keyExhausted

    public var description: String {
        switch self {
        case .truncated: return "truncated"
        case .badVersion: return "bad_version"
        case .authenticationFailed: return "auth_failed"
        case .replay: return "replay"
        case .unknownSSRC: return "unknown_ssrc"
        case .bufferTooSmall: return "buffer_too_small"
        case .keyExhausted: return "key_exhausted"
        }
    }
}

/// The result of an in-place transform: the packet's new length, or why it was refused.
/// A plain enum so that the per-packet path allocates nothing.
public enum SRTPResult: Sendable, Equatable {
    case ok(length: Int)
    case dropped(SRTPDropReason)
}

/// A configuration error: bad key material, unknown suite. `message` says what and what is allowed.
public struct SRTPConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case unknownProfile
        case badKeyLength
        case engineUnavailable
        case cryptoFailure
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
}
