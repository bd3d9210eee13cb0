import SRTP

/// What the call controller asks of the relay for one leg.
public struct LegRequest: Sendable {
    /// A name for logs and statistics ("lan", "mobile").
    public var name: String
    /// The remote's RTP address as signaled (SDP c= and m=); `nil` until known. The relay
    /// moves it only after a packet from elsewhere authenticates (latching).
    public var remote: MediaAddress?
    /// The remote's RTCP address when not multiplexed; default: RTP port + 1.
    public var remoteRTCP: MediaAddress?
    /// RTP and RTCP on one port (RFC 5761).
    public var rtcpMux: Bool
    /// The keys the remote protects its packets with (from its SDP); `nil` while the leg
    /// waits for its peer's answer (`MediaRelay.configureLeg` sets them then).
    public var remoteCrypto: SRTPParameters?
    /// The keys we protect packets to the remote with; fresh random keys if `nil` (none
    /// for a leg that waits for its answer).
    public var localCrypto: SRTPParameters?
    /// RTP clock rate of the payload, for jitter (8000 for G.711).
    public var clockRate: Double
    /// Plain RTP without keys — only for a leg whose peer is in a network the operator listed
    /// (a LAN PBX). The relay then accepts packets only from `remote` (no latching) and sends
    /// this leg what it decrypted from the other one. Keys are ignored.
    public var plain: Bool

    public init(
        name: String, remote: MediaAddress? = nil, remoteRTCP: MediaAddress? = nil, rtcpMux: Bool = true,
        remoteCrypto: SRTPParameters?, localCrypto: SRTPParameters? = nil, clockRate: Double = 8000, plain: Bool = false
    ) {
        self.plain = plain
        self.name = name
        self.remote = remote
        self.remoteRTCP = remoteRTCP
        self.rtcpMux = rtcpMux
        self.remoteCrypto = remoteCrypto
        self.localCrypto = localCrypto
        self.clockRate = clockRate
    }
}

/// A call to anchor: exactly two legs, bridged.
public struct CallRequest: Sendable {
    public var id: String
    public var legs: [LegRequest]

    public init(id: String, legs: [LegRequest]) {
        self.id = id
        self.legs = legs
    }
}

/// What the relay allocated for one leg: where the remote must send, and our keys for it.
public struct LegInfo: Sendable {
    public var name: String
    public var local: MediaAddress
    public var localRTCP: MediaAddress?
    /// Our keys towards the remote; nil for a leg that waits for its answer or is plain.
    public var localCrypto: SRTPParameters?

    public init(name: String, local: MediaAddress, localRTCP: MediaAddress? = nil, localCrypto: SRTPParameters?) {
        self.name = name
        self.local = local
        self.localRTCP = localRTCP
        self.localCrypto = localCrypto
    }
}

public struct CallInfo: Sendable {
    public var id: String
    public var legs: [LegInfo]

    public init(id: String, legs: [LegInfo]) {
        self.id = id
        self.legs = legs
    }
}

/// Why a call ended.
public enum CallEndReason: String, Sendable, CaseIterable {
    case hangup
    case inactivity
    case lifetime
    case shutdown
    case error
}

public struct RelayError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable { case badRequest, duplicateCall, unknownCall, bindFailed, poolExhausted, shuttingDown }
    public let code: Code
    public let message: String
    public var description: String { message }
    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
