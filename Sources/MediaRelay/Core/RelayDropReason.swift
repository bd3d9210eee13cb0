import SRTP

/// Why the relay dropped a datagram. Counted per leg; every value is a refusal the source
/// document asks for ("all other UDP packets are discarded").
public enum RelayDropReason: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Not RTP or RTCP (wrong version, STUN, garbage).
    case notRTP = 0
    /// Too short for its header and authentication tag.
    case truncated
    /// Failed SRTP/SRTCP authentication (forged, corrupted, wrong key, injection).
    case authenticationFailed
    /// A replayed or too-old packet.
    case replay
    /// An SSRC the leg does not accept.
    case unknownSSRC
    /// Authenticated, but the other leg has no known address to send to yet.
    case noDestination
    /// Re-protecting for the other leg failed (buffer, key exhausted).
    case protectFailed
    /// The socket's send queue was full (overload); the packet was shed.
    case overload
    /// The leg's keys are not negotiated yet (its peer has not answered).
    case notKeyed
    /// Plain RTP (a LAN leg the operator allowed) from an address other than the signaled one.
    case unexpectedSource

    public var description: String {
        switch self {
        case .notRTP: return "not_rtp"
        case .truncated: return "truncated"
        case .authenticationFailed: return "auth_failed"
        case .replay: return "replay"
        case .unknownSSRC: return "unknown_ssrc"
        case .noDestination: return "no_destination"
        case .protectFailed: return "protect_failed"
        case .overload: return "overload"
        case .notKeyed: return "not_keyed"
        case .unexpectedSource: return "unexpected_source"
        }
    }

    init(_ srtp: SRTPDropReason) {
        switch srtp {
        case .truncated: self = .truncated
        case .badVersion: self = .notRTP
        case .authenticationFailed: self = .authenticationFailed
        case .replay: self = .replay
        case .unknownSSRC: self = .unknownSSRC
        case .bufferTooSmall, .keyExhausted: self = .protectFailed
        }
    }
}
