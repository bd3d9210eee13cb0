import SRTP

/// One leg's state inside the relay's core: addresses, keys, counters.
final class LegCore {
    let name: String
    /// Plain RTP (RFC 3550) without keys: only where the operator allows it (a LAN leg).
    /// Such a leg never latches; it accepts packets only from the signaled address.
    var plain: Bool
    var rtcpMux: Bool
    var remote: MediaAddress?
    var remoteRTCP: MediaAddress?
    /// Unprotects what the remote sends (its keys); nil until negotiated.
    var inbound: SRTPContext?
    /// Protects what we send the remote (our keys for this leg); nil until negotiated.
    var outbound: SRTPContext?
    var stats = LegStatistics()
    var lastReceive: Double

    init(_ request: LegRequest, local: SRTPParameters?, now: Double, engine: SRTPCryptoEngine = .default)
        throws(SRTPConfigError)
    {
        name = request.name
        plain = request.plain
        rtcpMux = request.rtcpMux
        remote = request.remote
        remoteRTCP = request.remoteRTCP
        if !plain, let remoteCrypto = request.remoteCrypto, let local {
            inbound = try SRTPContext(
                profile: remoteCrypto.profile, keyingMaterial: remoteCrypto.keyingMaterial, engine: engine)
            outbound = try SRTPContext(profile: local.profile, keyingMaterial: local.keyingMaterial, engine: engine)
        }
        stats.clockRate = request.clockRate
        lastReceive = now
    }

    /// The answer arrived (or a re-INVITE changed keys): new contexts for both directions.
    func configure(_ keys: LegKeys) {
        plain = keys.inbound == nil
        inbound = keys.inbound
        outbound = keys.outbound
        rtcpMux = keys.rtcpMux
        if let rtp = keys.remote {
            remote = rtp
            remoteRTCP = keys.remoteRTCP
        }
    }

    /// Where RTCP for this leg goes.
    var rtcpDestination: MediaAddress? {
        if rtcpMux { return remote }
        return remoteRTCP ?? remote.map { $0.with(port: $0.port &+ 1) }
    }
}

/// Keys and addresses for a leg once its SDP answer is known, built off the worker thread.
/// No contexts: the leg carries plain RTP.
struct LegKeys: @unchecked Sendable {
    let inbound: SRTPContext?
    let outbound: SRTPContext?
    let rtcpMux: Bool
    let remote: MediaAddress?
    let remoteRTCP: MediaAddress?
}

/// What to do with a datagram.
enum RelayAction: Equatable {
    /// Send `length` bytes of the (re-protected) buffer from leg `toLeg`'s socket (its RTCP
    /// socket if `rtcpSocket`) to `destination`.
    case forward(toLeg: Int, rtcpSocket: Bool, length: Int, destination: MediaAddress)
    case drop(RelayDropReason)
}

/// The sans-I/O core of one call: two legs; each authenticated packet from one is
/// re-protected for the other. No key is shared between the legs.
final class CallCore {
    let id: String
    let legs: [LegCore]
    let createdAt: Double

    init(id: String, legs: [LegCore], now: Double) {
        self.id = id
        self.legs = legs
        createdAt = now
    }

    var lastActivity: Double { legs.map(\.lastReceive).max() ?? createdAt }

    /// RFC 5761 §4: with rtcp-mux, payload types 64–95 (RTCP packet types 192–223) are RTCP.
    @inline(__always)
    static func isRTCP(_ secondByte: UInt8) -> Bool { (64...95).contains(secondByte & 0x7F) }

    /// Handles a datagram that arrived on leg `leg` (its RTCP socket if `rtcpSocket`) from
    /// `source`. `buf` is the whole writable buffer; the datagram is `buf[0..<length]`.
    func receive(
        leg index: Int, rtcpSocket: Bool, buf: UnsafeMutableRawBufferPointer, length: Int, from source: MediaAddress,
        now: Double
    ) -> RelayAction {
        let leg = legs[index]
        guard length >= 8, buf[0] >> 6 == 2 else {
            let reason: RelayDropReason = length > 0 && buf[0] >> 6 == 2 ? .truncated : .notRTP
            leg.stats.countDrop(reason)
            return .drop(reason)
        }
        let rtcp = rtcpSocket || (leg.rtcpMux && Self.isRTCP(buf[1]))
        let plainLength: Int
        if leg.plain {
            // Nothing authenticates plain RTP: only the signaled address may send (no latching).
            guard source == (rtcpSocket ? leg.rtcpDestination : leg.remote) else {
                leg.stats.countDrop(.unexpectedSource)
                return .drop(.unexpectedSource)
            }
            plainLength = length
        } else {
            guard let inbound = leg.inbound else {
                leg.stats.countDrop(.notKeyed)
                return .drop(.notKeyed)
            }
            let result = rtcp ? inbound.unprotectRTCP(buf, length: length) : inbound.unprotectRTP(buf, length: length)
            switch result {
            case .ok(let n): plainLength = n
            case .dropped(let reason):
                let r = RelayDropReason(reason)
                leg.stats.countDrop(r)
                return .drop(r)
            }
        }
        // Authenticated: only now may the source address be learned (latching). A plain
        // leg keeps its signaled address.
        if !leg.plain { learn(source, leg: leg, rtcpSocket: rtcpSocket) }
        leg.lastReceive = now
        if rtcp {
            leg.stats.rtcpReceived &+= 1
        } else {
            leg.stats.packetsReceived &+= 1
            leg.stats.bytesReceived &+= UInt64(length)
            leg.stats.observe(seq: buf.be16(2), timestamp: buf.be32(4), now: now)
        }

        let otherIndex = 1 - index
        let other = legs[otherIndex]
        guard let destination = rtcp ? other.rtcpDestination : other.remote, other.plain || other.outbound != nil else {
            leg.stats.countDrop(.noDestination)
            return .drop(.noDestination)
        }
        let out: SRTPResult
        if let outbound = other.outbound {
            out = rtcp ? outbound.protectRTCP(buf, length: plainLength) : outbound.protectRTP(buf, length: plainLength)
        } else {
            out = .ok(length: plainLength)
        }
        switch out {
        case .ok(let n):
            if rtcp {
                other.stats.rtcpSent &+= 1
            } else {
                other.stats.packetsSent &+= 1
                other.stats.bytesSent &+= UInt64(n)
            }
            return .forward(toLeg: otherIndex, rtcpSocket: rtcp && !other.rtcpMux, length: n, destination: destination)
        case .dropped:
            leg.stats.countDrop(.protectFailed)
            return .drop(.protectFailed)
        }
    }

    @inline(__always)
    private func learn(_ source: MediaAddress, leg: LegCore, rtcpSocket: Bool) {
        if rtcpSocket {
            if leg.remoteRTCP != source { leg.remoteRTCP = source }
        } else if leg.remote != source {
            if leg.remote != nil { leg.stats.relatches &+= 1 }
            leg.remote = source
            if !leg.rtcpMux { leg.remoteRTCP = nil }
        }
    }

    /// Moves a leg's remote address (a re-INVITE with a new c=/m=).
    func updateRemote(leg: Int, rtp: MediaAddress, rtcp: MediaAddress?) {
        legs[leg].remote = rtp
        legs[leg].remoteRTCP = rtcp
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) fileprivate func be16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    @inline(__always) fileprivate func be32(_ o: Int) -> UInt32 {
        UInt32(self[o]) << 24 | UInt32(self[o + 1]) << 16 | UInt32(self[o + 2]) << 8 | UInt32(self[o + 3])
    }
}
