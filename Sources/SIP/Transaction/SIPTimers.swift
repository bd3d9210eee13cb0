/// RFC 3261 §17 timer values. Only reliable transports (TCP, TLS) exist in Trabant, so
/// the retransmission timers (A, E, G) never run and the wait-for-retransmissions timers
/// (D, I, J, K) are zero (Table 4); what remains are the transaction time-outs.
public struct SIPTimers: Sendable, Equatable {
    /// Round-trip time estimate, 500 ms by default.
    public var t1: Double = 0.5

    public init(t1: Double = 0.5) { self.t1 = t1 }

    /// Timer B (INVITE client), F (non-INVITE client), H (INVITE server waits for ACK),
    /// L and M (RFC 6026: how long 2xx retransmissions and forks are absorbed): 64·T1.
    public var transactionTimeout: Double { 64 * t1 }
}
