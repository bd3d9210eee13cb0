/// A client transaction over a reliable transport (RFC 3261 §17.1, RFC 6026), sans-I/O:
/// feed it responses and the clock; it says what to send and what to pass up.
public struct ClientTransaction: Sendable {
    public enum State: Sendable, Equatable {
        /// INVITE sent (calling) or non-INVITE sent (trying); no response yet.
        case calling, trying
        case proceeding
        /// INVITE: a 2xx arrived; further 2xx (forks) are passed up until Timer M (RFC 6026).
        case accepted
        case completed
        case terminated
    }

    public enum Output: Sendable, Equatable {
        /// Send this message on the transaction's connection.
        case send(SIPMessage)
        /// Pass this response to the transaction user.
        case deliver(SIPMessage)
        /// Timer B or F fired: no final response (the TU acts as if 408 arrived, §8.1.3.1).
        case timeout
        /// The connection failed (§17.1.4): the TU acts as if 503 arrived.
        case transportError
    }

    public let request: SIPMessage
    public let branch: String
    public let isInvite: Bool
    public private(set) var state: State
    /// When the running timer fires; nil when none runs.
    public private(set) var deadline: Double?
    let timers: SIPTimers

    /// Starts the transaction: the caller sends `request` (the transaction does not keep
    /// resending it on a reliable transport). The request must carry a Via with a branch.
    public init(request: SIPMessage, now: Double, timers: SIPTimers = SIPTimers()) throws(SIPTransactionError) {
        guard let method = request.method, let branch = request.topVia?.branch, branch.hasPrefix("z9hG4bK") else {
            throw SIPTransactionError("a client transaction needs a request whose top Via has an RFC 3261 branch")
        }
        guard method != "ACK" else { throw SIPTransactionError("ACK has no client transaction (§17.1.1.3)") }
        self.request = request
        self.branch = branch
        self.isInvite = method == "INVITE"
        self.state = isInvite ? .calling : .trying
        self.timers = timers
        self.deadline = now + timers.transactionTimeout
    }

    /// Does this response belong here (§17.1.3: branch and CSeq method)?
    public func matches(_ response: SIPMessage) -> Bool {
        response.topVia?.branch == branch && response.cseq?.method == request.cseq?.method
    }

    public mutating func receive(_ response: SIPMessage, now: Double) -> [Output] {
        guard let status = response.status else { return [] }
        switch (state, status) {
        case (.calling, 100..<200), (.trying, 100..<200), (.proceeding, 100..<200):
            state = .proceeding
            // Timer B only runs while calling (§17.1.1.2): a ringing INVITE waits for the TU's
            // CANCEL. Timer F keeps running for non-INVITE.
            if isInvite { deadline = nil }
            return [.deliver(response)]
        case (.calling, 200..<300), (.proceeding, 200..<300):
            if isInvite {
                state = .accepted
                deadline = now + timers.transactionTimeout  // Timer M
            } else {
                finish()
            }
            return [.deliver(response)]
        case (.accepted, 200..<300):
            return [.deliver(response)]  // a forked 2xx: the TU acknowledges and ends it
        case (.calling, 300...699), (.proceeding, 300...699), (.trying, 200...699):
            if isInvite {
                finish()  // Timer D is zero on a reliable transport
                return [.send(ack(for: response)), .deliver(response)]
            }
            finish()  // Timer K is zero
            return [.deliver(response)]
        default:
            return []  // late or retransmitted response: absorbed
        }
    }

    /// Call when the clock passes `deadline`.
    public mutating func expire(now: Double) -> [Output] {
        guard let deadline, now >= deadline else { return [] }
        let waiting = state == .calling || state == .trying || state == .proceeding
        finish()
        return waiting ? [.timeout] : []
    }

    public mutating func transportFailed() -> [Output] {
        guard state != .terminated else { return [] }
        let waiting = state != .accepted && state != .completed
        finish()
        return waiting ? [.transportError] : []
    }

    /// CANCEL for this INVITE (§9.1): same Request-URI, Call-ID, From, To, CSeq number,
    /// the same single Via, and the INVITE's Route headers.
    public func cancel() -> SIPMessage? {
        guard isInvite, state == .calling || state == .proceeding, let cseq = request.cseq else { return nil }
        // (§9.1: sent only once a provisional response arrived; the TU waits for one.)
        return derived(method: "CANCEL", to: request.value("to"), cseq: cseq.number)
    }

    /// The TU sent CANCEL for this INVITE: if no final response comes within 64·T1, the
    /// transaction ends (RFC 3261 §9.1).
    public mutating func cancelSent(now: Double) {
        guard isInvite, state == .calling || state == .proceeding else { return }
        deadline = now + timers.transactionTimeout
    }

    private mutating func finish() {
        state = .terminated
        deadline = nil
    }

    /// ACK for a non-2xx final response (§17.1.1.3).
    func ack(for response: SIPMessage) -> SIPMessage {
        derived(method: "ACK", to: response.value("to"), cseq: request.cseq?.number ?? 1)
    }

    private func derived(method: String, to: String?, cseq: UInt32) -> SIPMessage {
        var out = SIPMessage(startLine: .request(method: method, uri: request.requestURI ?? ""))
        if let via = request.vias.first { out.headers.append(.init("Via", via)) }
        out.headers.append(.init("Max-Forwards", "70"))
        for name in ["From", "Call-ID"] {
            if let v = request.value(name) { out.headers.append(.init(name, v)) }
        }
        if let to { out.headers.append(.init("To", to)) }
        out.headers.append(.init("CSeq", "\(cseq) \(method)"))
        for route in request.values("route") { out.headers.append(.init("Route", route)) }
        return out
    }
}

public struct SIPTransactionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
