/// A server transaction over a reliable transport (RFC 3261 §17.2, RFC 6026), sans-I/O.
/// The TU hands it responses to send; retransmitted requests get the last response again.
public struct ServerTransaction: Sendable {
    public enum State: Sendable, Equatable {
        case trying, proceeding
        /// INVITE answered 2xx: the ACK goes to the TU; absorbs retransmissions until Timer L.
        case accepted
        /// Final non-2xx response sent; INVITE waits for its ACK (Timer H).
        case completed
        case confirmed
        case terminated
    }

    public enum Output: Sendable, Equatable {
        case send(SIPMessage)
        /// Pass this request (the ACK to a 2xx) to the TU.
        case deliver(SIPMessage)
        /// Timer H fired: the ACK never came (§17.2.1); the TU treats the dialog as failed.
        case timeout
    }

    /// Identifies a server transaction (§17.2.3): branch, sent-by and method (ACK
    /// matches the INVITE it acknowledges; CANCEL is a transaction of its own).
    public struct Key: Hashable, Sendable {
        public let branch: String
        public let sentBy: String
        public let method: String

        public init(branch: String, sentBy: String, method: String) {
            self.branch = branch
            self.sentBy = sentBy
            self.method = method
        }

        public init?(_ request: SIPMessage) {
            guard let via = request.topVia, let method = request.method else { return nil }
            if let branch = via.branch, branch.hasPrefix("z9hG4bK") {
                self.branch = branch
            } else {
                // An RFC 2543 peer (no magic cookie, §17.2.3): the Request-URI, tags, Call-ID,
                // CSeq number and top Via identify the transaction instead.
                guard let callID = request.callID, let cseq = request.cseq else { return nil }
                let toTag = method == "ACK" ? "" : (request.to?.tag ?? "")
                self.branch = "rfc2543;\(request.requestURI ?? "");\(request.from?.tag ?? "");\(toTag);\(callID);"
                    + "\(cseq.number);\(via.branch ?? "")"
            }
            self.sentBy = "\(via.host.lowercased()):\(via.port ?? 5060)"
            self.method = method == "ACK" ? "INVITE" : method
        }
    }

    public let request: SIPMessage
    public let key: Key
    public let isInvite: Bool
    public private(set) var state: State
    public private(set) var deadline: Double?
    public private(set) var lastResponse: SIPMessage?
    let timers: SIPTimers

    public init(request: SIPMessage, timers: SIPTimers = SIPTimers()) throws(SIPTransactionError) {
        guard let key = Key(request) else {
            throw SIPTransactionError("a server transaction needs a request with a Via, Call-ID and CSeq")
        }
        guard request.method != "ACK" else { throw SIPTransactionError("ACK creates no server transaction") }
        self.request = request
        self.key = key
        self.isInvite = request.method == "INVITE"
        self.state = isInvite ? .proceeding : .trying
        self.timers = timers
    }

    /// The TU answers; returns what to send (nothing once a final response went out).
    public mutating func respond(_ response: SIPMessage, now: Double) -> [Output] {
        guard let status = response.status else { return [] }
        switch (state, status) {
        case (.trying, 100..<200), (.proceeding, 100..<200):
            state = .proceeding
        case (.trying, 200...699), (.proceeding, 200...699):
            if !isInvite {
                state = .terminated  // Timer J is zero on a reliable transport
            } else if status < 300 {
                state = .accepted
                deadline = now + timers.transactionTimeout  // Timer L
            } else {
                state = .completed
                deadline = now + timers.transactionTimeout  // Timer H
            }
        case (.accepted, 200..<300):
            break  // the TU may resend its 2xx
        default:
            return []
        }
        lastResponse = response
        return [.send(response)]
    }

    /// A request that matched `key` arrived again (retransmission) or the ACK.
    public mutating func receive(_ request: SIPMessage, now: Double) -> [Output] {
        if request.method == "ACK" {
            switch state {
            case .completed:
                state = .terminated  // confirmed; Timer I is zero on a reliable transport
                deadline = nil
                return []
            case .accepted:
                return [.deliver(request)]
            default:
                return []
            }
        }
        switch state {
        case .proceeding, .completed:
            return lastResponse.map { [.send($0)] } ?? []
        default:
            return []
        }
    }

    public mutating func expire(now: Double) -> [Output] {
        guard let deadline, now >= deadline else { return [] }
        let waitingForAck = state == .completed
        state = .terminated
        self.deadline = nil
        return waitingForAck ? [.timeout] : []
    }
}
