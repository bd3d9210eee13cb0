/// A dialog (RFC 3261 §12): the state two user agents share for a call, and the rules for
/// building and accepting requests inside it. Sans-I/O; values only.
public struct Dialog: Sendable, Equatable {
    public enum Role: Sendable, Equatable { case uac, uas }

    /// Call-ID, local tag and remote tag identify a dialog (§12).
    public struct ID: Hashable, Sendable, CustomStringConvertible {
        public let callID: String
        public let localTag: String
        public let remoteTag: String

        public init(callID: String, localTag: String, remoteTag: String) {
            self.callID = callID
            self.localTag = localTag
            self.remoteTag = remoteTag
        }

        /// The ID a request received inside this dialog carries (its To tag is ours).
        public init?(incoming request: SIPMessage) {
            guard let callID = request.callID, let local = request.to?.tag, let remote = request.from?.tag else { return nil }
            self.init(callID: callID, localTag: local, remoteTag: remote)
        }

        public var description: String { "\(callID);local=\(localTag);remote=\(remoteTag)" }
    }

    public let role: Role
    public let id: ID
    /// Our From (as UAC) or To (as UAS) header value, with our tag.
    public let localAddress: String
    /// The peer's address with its tag.
    public let remoteAddress: String
    public private(set) var localSequence: UInt32
    public private(set) var remoteSequence: UInt32?
    /// Where requests inside the dialog go (the peer's Contact), updated by target refreshes.
    public private(set) var remoteTarget: String
    /// Record-Route set, in the order requests carry it.
    public let routeSet: [String]
    /// The request was sips or arrived over TLS with a sips Request-URI (§12.1.1).
    public let secure: Bool

    /// The dialog a UAS makes when it answers `request` with a 101–299 that carries `localTag`
    /// (§12.1.1). Nil when the request has no Contact or From tag.
    public init?(uasFor request: SIPMessage, localTag: String) {
        guard let callID = request.callID, let from = request.from, let remoteTag = from.tag,
            let contact = request.contacts.first, let cseq = request.cseq, let to = request.value("to")
        else { return nil }
        role = .uas
        id = ID(callID: callID, localTag: localTag, remoteTag: remoteTag)
        localAddress = request.to?.tag == nil ? to + ";tag=\(localTag)" : to
        remoteAddress = request.value("from") ?? ""
        localSequence = 0
        remoteSequence = cseq.number
        remoteTarget = contact.uri.description
        routeSet = request.listValues("record-route")
        secure = request.requestURI?.lowercased().hasPrefix("sips:") ?? false
    }

    /// The dialog a UAC makes from its request and a 101–299 response with a To tag (§12.1.2).
    public init?(uacFor request: SIPMessage, response: SIPMessage) {
        guard let callID = request.callID, let from = request.from, let localTag = from.tag,
            let to = response.to, let remoteTag = to.tag, let cseq = request.cseq
        else { return nil }
        role = .uac
        id = ID(callID: callID, localTag: localTag, remoteTag: remoteTag)
        localAddress = request.value("from") ?? ""
        remoteAddress = response.value("to") ?? ""
        localSequence = cseq.number
        remoteSequence = nil
        remoteTarget = response.contacts.first?.uri.description ?? request.requestURI ?? ""
        routeSet = response.listValues("record-route").reversed()
        secure = request.requestURI?.lowercased().hasPrefix("sips:") ?? false
    }

    /// A new request inside the dialog (§12.2.1.1). CSeq grows by one except for ACK and
    /// CANCEL, which reuse `cseq` of the INVITE they belong to.
    public mutating func request(
        _ method: String, via: String, contact: String? = nil, cseq: UInt32? = nil
    ) -> SIPMessage {
        let number: UInt32
        if let cseq {
            number = cseq
        } else {
            localSequence &+= 1
            number = localSequence
        }
        var uri = remoteTarget
        var routes = routeSet
        if let first = routeSet.first, let route = try? NameAddress(parsing: first), route.uri.parameter("lr") == nil {
            // Strict routing (§12.2.1.1): the first route becomes the Request-URI.
            var target = route.uri
            target.parameters.removeAll { ["method", "maddr", "ttl", "transport", "lr"].contains($0.0.lowercased()) }
            uri = target.description
            routes = Array(routeSet.dropFirst()) + ["<\(remoteTarget)>"]
        }
        var m = SIPMessage(startLine: .request(method: method, uri: uri))
        m.headers.append(.init("Via", via))
        m.headers.append(.init("Max-Forwards", "70"))
        m.headers.append(.init("From", localAddress))
        m.headers.append(.init("To", remoteAddress))
        m.headers.append(.init("Call-ID", id.callID))
        m.headers.append(.init("CSeq", "\(number) \(method)"))
        for r in routes { m.headers.append(.init("Route", r)) }
        if let contact { m.headers.append(.init("Contact", contact)) }
        return m
    }

    /// Where a request built by `request(_:)` goes: the first Route's URI, else the target.
    public var nextHop: String {
        if let first = routeSet.first, let route = try? NameAddress(parsing: first) { return route.uri.description }
        return remoteTarget
    }

    /// Checks a request received inside the dialog (§12.2.2): a CSeq lower than the last
    /// one gets 500. Target-refresh requests (re-INVITE, UPDATE) move the remote target.
    public mutating func receive(_ request: SIPMessage) -> Result<Void, DialogError> {
        guard let cseq = request.cseq else { return .failure(DialogError(status: 400, "CSeq missing")) }
        if request.method != "ACK" && request.method != "CANCEL" {
            if let last = remoteSequence, cseq.number <= last {
                return .failure(DialogError(status: 500, "CSeq \(cseq.number) is not above the last one, \(last)"))
            }
            remoteSequence = cseq.number
        }
        if request.method == "INVITE" || request.method == "UPDATE", let contact = request.contacts.first {
            remoteTarget = contact.uri.description
        }
        return .success(())
    }

    /// A 2xx to our re-INVITE or UPDATE may move the remote target too (§12.2.1.2).
    public mutating func refreshTarget(from response: SIPMessage) {
        if let contact = response.contacts.first { remoteTarget = contact.uri.description }
    }
}

public struct DialogError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { message }
}
