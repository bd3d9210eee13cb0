import Logging
import MediaRelay
import SDP
import SIP
import SRTP

/// The satellite's back-to-back user agent, sans-I/O: SIP messages, media results and the
/// clock go in (`handle`), messages to send and media operations come out. One instance
/// is confined to one event loop; it never blocks and never touches a socket.
///
/// Call flow (docs/call-control.md): an INVITE from the server names the second leg's
/// target in `X-Trabant-Target`; the core allocates media for both legs, originates the
/// second leg with its own offer and fresh keys, answers the first leg when the second
/// answers, and tears both down on BYE, CANCEL, failure or timeout from either side.
public final class B2BUACore {
    public internal(set) var settings: CoreSettings
    let logger: Logger
    var calls: [String: Call] = [:]
    var dialogs: [Dialog.ID: (call: String, side: Side)] = [:]
    var clients: [String: ClientRecord] = [:]
    var servers: [ServerTransaction.Key: ServerRecord] = [:]
    var clientTimers = DeadlineHeap<String>()
    var serverTimers = DeadlineHeap<ServerTransaction.Key>()
    var out: [CoreAction] = []
    var now: Double = 0
    var drainDeadline: Double?
    public internal(set) var counters = CoreCounters()
    var events: [ControllerEvent] = []
    var rng = SecureRandom()
    /// The advertised host as address bytes (it does not change): loop checks per INVITE.
    let advertisedBytes: [UInt8]?

    public static let allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"
    static let methods: Set<String> = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE"]
    /// Methods of SIP and its extensions that this user agent knows but does not serve (405).
    static let knownMethods: Set<String> = ["REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "INFO", "PRACK"]

    public init(settings: CoreSettings, logger: Logger = Logger(label: "trabant.sip")) {
        self.settings = settings
        self.logger = logger
        advertisedBytes = IPAddressBytes.parse(settings.advertisedHost)?.bytes
    }

    public var activeCalls: Int { calls.count }
    public var isDraining: Bool { drainDeadline != nil }
    /// Client transactions waiting for a final answer (BYEs of ended calls among them); an
    /// answered INVITE that only absorbs retransmitted 2xx (RFC 6026) is not waiting.
    public var outstandingRequests: Int {
        clients.values.count { [.calling, .trying, .proceeding].contains($0.transaction.state) }
    }

    /// Feeds one event; returns what to do, in order.
    public func handle(_ event: CoreEvent, now: Double) -> [CoreAction] {
        self.now = now
        out.removeAll(keepingCapacity: true)
        switch event {
        case .message(let m, let connection):
            counters.messagesReceived += 1
            if m.isRequest { request(m, connection) } else { response(m) }
        case .connectionClosed(let c):
            for call in calls.values { for leg in call.legs where leg.connection == c { leg.connection = nil } }
            for s in servers.values where s.connection == c { s.connectionOpen = false }
        case .sendFailed(let branch):
            for (k, r) in clients where r.transaction.branch == branch {
                run(r.transaction.transportFailed(), record: k)
            }
        case .mediaAllocated(let id, let result):
            mediaAllocated(id, result)
        case .tick:
            tick()
        case .hangUp(let id):
            _ = hangUp(id)
        case .drain(let deadline):
            drainDeadline = deadline
            logger.notice("draining: new calls get 503", metadata: ["sip.active_calls": "\(calls.count)"])
        }
        counters.callsActive = calls.count
        return out
    }

    // MARK: requests

    func request(_ m: SIPMessage, _ conn: ConnectionID) {
        guard let method = m.method else { return }
        // Method inspection comes first (RFC 3261 §8.2.1): what we do not implement is
        // refused without reading the rest.
        if !Self.methods.contains(method) {
            // …but not before the headers every response copies are sound.
            if m.callID?.isEmpty ?? true || m.cseq?.method != method || m.topVia == nil {
                return reply(m, 400, conn, reason: "Bad Request (Call-ID, CSeq or Via missing or malformed)")
            }
            var r = m.response(Self.knownMethods.contains(method) ? 405 : 501, toTag: randomToken())
            r.headers.append(.init("Allow", Self.allow))
            return refuse(r, conn)
        }
        if let missing = m.missingMandatoryHeader {
            if method != "ACK" { reply(m, 400, conn, reason: "Bad Request (missing or malformed \(missing))") }
            return
        }
        if let problem = Self.requestProblem(m) {
            if method != "ACK" { reply(m, problem.status, conn, reason: problem.reason, headers: problem.headers) }
            return
        }
        if method == "ACK" { return ack(m) }
        guard let key = ServerTransaction.Key(m) else { return reply(m, 400, conn, reason: "Bad Request (Via)") }
        if let existing = servers[key] {
            // A retransmission: the transaction answers it.
            let o = existing.transaction.receive(m, now: now)
            for case .send(let r) in o { out.append(.send(r, conn)) }
            return
        }
        if method == "CANCEL" { return cancel(m, conn, key: key) }
        // A B2BUA forwards INVITEs: with no hops left it must not (RFC 3261 §16.3); OPTIONS
        // to us is answered like any endpoint would (RFC 4475 §3.3.11).
        if let mf = m.maxForwards, mf <= 0, method != "OPTIONS" { return reply(m, 483, conn) }
        if m.to?.tag != nil { return inDialog(m, conn, key: key) }
        switch method {
        case "INVITE": newCall(m, conn, key: key)
        case "OPTIONS":
            var r = m.response(200, toTag: randomToken())
            r.headers += [.init("Allow", Self.allow), .init("Accept", "application/sdp"), .init("Supported", "timer")]
            out.append(.send(r, conn))
        default: reply(m, 481, conn)  // BYE, UPDATE outside a dialog
        }
    }

    func reply(_ m: SIPMessage, _ status: Int, _ conn: ConnectionID, reason: String? = nil, headers: [SIPMessage.Header] = []) {
        var r = m.response(status, reason, toTag: m.to?.tag == nil ? randomToken() : nil)
        r.headers += headers
        refuse(r, conn)
    }

    func refuse(_ r: SIPMessage, _ conn: ConnectionID) {
        if let s = r.status, s >= 300 { counters.requestsRefused[s, default: 0] += 1 }
        out.append(.send(r, conn))
    }

    func ack(_ m: SIPMessage) {
        // ACK to a non-2xx final answer: same branch as the INVITE (§17.2.1).
        if let key = ServerTransaction.Key(m), let s = servers[key] {
            _ = s.transaction.receive(m, now: now)
            if s.transaction.state == .terminated { servers[key] = nil }
            if s.transaction.state != .accepted { return }
        }
        // ACK to a 2xx: inside the dialog.
        guard let id = Dialog.ID(incoming: m), let (callID, side) = dialogs[id], let call = calls[callID] else { return }
        if side == .a && call.state == .answering {
            call.state = .confirmed
            call.ackDeadline = nil
            log(call, .debug, "caller acknowledged; call confirmed")
        }
        if call[side].answerInAck { answerInAck(m, call: call, side: side) }
    }

    // MARK: helpers

    func randomToken() -> String {
        String(UInt64.random(in: .min ... .max, using: &rng), radix: 36)
    }

    func newBranch() -> String { "z9hG4bK" + randomToken() + randomToken() }

    /// Our Via for a request on `leg` (TLS or TCP, with that transport's port).
    func via(_ branch: String, on leg: CallLeg) -> String {
        "SIP/2.0/\(leg.tls ? "TLS" : "TCP") \(hostPort(tls: leg.tls));branch=\(branch)"
    }

    /// Host and TCP port as advertised (Warning headers, From of our own requests).
    var hostPort: String { hostPort(tls: false) }

    func hostPort(tls: Bool) -> String {
        let h = settings.advertisedHost.contains(":") ? "[\(settings.advertisedHost)]" : settings.advertisedHost
        return "\(h):\(tls ? settings.advertisedTLSPort : settings.advertisedPort)"
    }

    /// Our Contact on `leg`: where its peer reaches us, over the leg's transport.
    func contact(on leg: CallLeg) -> String {
        leg.tls ? "<sip:\(hostPort(tls: true));transport=tls>" : "<sip:\(hostPort);transport=tcp>"
    }

    func log(_ call: Call, _ level: Logger.Level, _ message: Logger.Message, _ extra: Logger.Metadata = [:]) {
        var md: Logger.Metadata = ["call.id": "\(call.id)", "sip.call_id": "\(call[.a].callID)"]
        md.merge(extra) { $1 }
        logger.log(level: level, message, metadata: md)
    }

    /// Sends a request on a side's connection, or opens one to its next hop.
    func send(_ m: SIPMessage, to leg: CallLeg, branch: String) {
        if let c = leg.connection {
            out.append(.send(m, c))
        } else if let hop = leg.hop ?? leg.dialog.flatMap({ NextHop(uri: $0.nextHop) }) {
            out.append(.sendTo(m, hop, branch: branch))
        }
    }

    /// Starts a client transaction for `m` on a side.
    func start(_ m: SIPMessage, call: Call, side: Side, purpose: ClientPurpose) {
        guard let tx = try? ClientTransaction(request: m, now: now, timers: settings.timers) else { return }
        let k = tx.branch + "|" + (m.method ?? "")
        clients[k] = ClientRecord(transaction: tx, call: call.id, side: side, purpose: purpose, leg: call[side])
        track(client: k)
        send(m, to: call[side], branch: tx.branch)
    }

    /// Puts a client transaction's running timer on the heap.
    func track(client k: String) {
        guard let r = clients[k], let d = r.transaction.deadline, d != r.scheduled else { return }
        r.scheduled = d
        clientTimers.push(d, k)
    }

    /// Answers through the stored server transaction of `key`.
    func respond(_ r: SIPMessage, key: ServerTransaction.Key, conn: ConnectionID?) {
        guard let s = servers[key] else { return }
        let o = s.transaction.respond(r, now: now)
        if s.transaction.state == .terminated { servers[key] = nil }
        if let d = s.transaction.deadline { serverTimers.push(d, key) }
        if let status = r.status, status >= 300 { counters.requestsRefused[status, default: 0] += 1 }
        // The request's connection; if it closed, the leg's current one (a reconnected peer).
        let open = calls[s.call]?[s.side].connection
        guard let conn = conn ?? (s.connectionOpen ? s.connection : open) else { return }
        for case .send(let m) in o { out.append(.send(m, conn)) }
    }
}
