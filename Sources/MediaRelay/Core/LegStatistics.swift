/// Counters of one leg, and receive-side quality (RFC 3550 A.3 loss, A.8 jitter) computed
/// from the authenticated packets the leg's peer sent.
public struct LegStatistics: Sendable, Equatable {
    public var packetsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var packetsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var rtcpReceived: UInt64 = 0
    public var rtcpSent: UInt64 = 0
    /// Drops by reason, indexed by `RelayDropReason.rawValue`.
    public var drops: [UInt64] = Array(repeating: 0, count: RelayDropReason.allCases.count)
    /// Times the leg's remote address moved after an authenticated packet (e.g. Wi-Fi to LTE).
    public var relatches: UInt64 = 0
    /// RTP packets expected from the peer (from sequence numbers) and received.
    public var expected: UInt64 = 0
    /// Interarrival jitter in RTP timestamp units (RFC 3550 A.8).
    public var jitter: Double = 0
    /// The payload clock rate used for jitter (8000 for G.711).
    public var clockRate: Double = 8000

    var baseSeq: UInt32 = 0
    var maxExtSeq: UInt32 = 0
    var seqStarted = false
    var lastArrival: Double = 0
    var lastTimestamp: UInt32 = 0
    var transitStarted = false

    public init() {}

    public func drops(_ reason: RelayDropReason) -> UInt64 { drops[reason.rawValue] }

    public var totalDrops: UInt64 { drops.reduce(0, +) }

    /// Fraction of expected packets that never arrived (0 when nothing was expected).
    public var lossRatio: Double {
        guard expected > 0 else { return 0 }
        let received = min(packetsReceived, expected)
        return Double(expected - received) / Double(expected)
    }

    /// Jitter in milliseconds.
    public var jitterMilliseconds: Double { jitter / clockRate * 1000 }

    mutating func countDrop(_ reason: RelayDropReason) { drops[reason.rawValue] &+= 1 }

    /// Updates loss and jitter from an authenticated RTP packet (`now` in seconds).
    mutating func observe(seq: UInt16, timestamp: UInt32, now: Double) {
        if !seqStarted {
            seqStarted = true
            baseSeq = UInt32(seq)
            maxExtSeq = UInt32(seq)
        } else {
            let cycles = maxExtSeq & 0xFFFF_0000
            let maxLow = UInt16(truncatingIfNeeded: maxExtSeq)
            let delta = seq &- maxLow
            if delta < 0x8000 {
                // In order (or a gap); wrap when seq went around.
                let ext = (seq < maxLow ? cycles &+ 0x1_0000 : cycles) | UInt32(seq)
                if ext > maxExtSeq { maxExtSeq = ext }
            }
        }
        expected = UInt64(maxExtSeq &- baseSeq) + 1
        // D(i,j) = (R_j - R_i) - (S_j - S_i) in timestamp units; the timestamp difference is
        // taken modulo 2^32 so a wrap is no jump.
        let arrival = now * clockRate
        if transitStarted {
            let d = abs((arrival - lastArrival) - Double(Int32(bitPattern: timestamp &- lastTimestamp)))
            jitter += (d - jitter) / 16
        }
        lastArrival = arrival
        lastTimestamp = timestamp
        transitStarted = true
    }
}
