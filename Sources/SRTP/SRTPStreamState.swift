/// Per-SSRC state of one SRTP context: rollover counter, highest sequence number, replay
/// windows, and the SRTCP index of an outbound stream.
struct SRTPStreamState: Sendable {
    let ssrc: UInt32
    /// ROC (RFC 3711 §3.3.1).
    var roc: UInt32 = 0
    /// s_l: the highest sequence number processed (RFC 3711 §3.3.1).
    var highestSeq: UInt16 = 0
    var started = false
    var rtpWindow = ReplayWindow()
    var rtcpWindow = ReplayWindow()
    /// The last SRTCP index sent (outbound); the first packet carries 1, as libsrtp does.
    var rtcpIndex: UInt32 = 0

    init(ssrc: UInt32) { self.ssrc = ssrc }

    /// RFC 3711 Appendix A: the ROC guess `v` for a received sequence number. `nil` when the
    /// guess would be negative (a packet from before the stream's start).
    func estimateROC(seq: UInt16) -> UInt32? {
        guard started else { return roc }
        let sl = Int(highestSeq)
        let s = Int(seq)
        if sl < 32768 {
            if s - sl > 32768 { return roc == 0 ? nil : roc &- 1 }
            return roc
        } else {
            if sl - 32768 > s { return roc &+ 1 }
            return roc
        }
    }

    /// The 48-bit packet index i = 2^16 * v + SEQ.
    static func index(roc: UInt32, seq: UInt16) -> UInt64 { UInt64(roc) << 16 | UInt64(seq) }

    /// Updates ROC and s_l after a packet with guess `v` was accepted (RFC 3711 §3.3.1).
    mutating func update(seq: UInt16, roc v: UInt32) {
        if !started {
            started = true
            roc = v
            highestSeq = seq
        } else if v == roc &+ 1 {
            roc = v
            highestSeq = seq
        } else if v == roc && seq > highestSeq {
            highestSeq = seq
        }
    }
}
