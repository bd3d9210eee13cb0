import MediaRelay
import SDP
import SIP

/// A transport connection as the core knows it: an opaque number.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }
    public var description: String { "conn-\(raw)" }
}

/// Where to open a connection for a request with no connection yet.
public struct NextHop: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public var tls: Bool

    public init(host: String, port: UInt16, tls: Bool) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// From a SIP URI: sips or transport=tls means TLS (default port 5061), else TCP (5060).
    public init?(uri text: String) {
        guard let uri = try? SIPURI(parsing: text), uri.scheme != .tel else { return nil }
        let transport = uri.parameter("transport").flatMap { $0 }?.lowercased()
        tls = uri.scheme == .sips || transport == "tls"
        host = uri.host
        port = uri.port ?? (tls ? 5061 : 5060)
    }

    public var description: String { "\(tls ? "tls" : "tcp"):\(host):\(port)" }
}

/// What happens to the core: messages, connection ends, media results, the clock.
public enum CoreEvent: Sendable {
    case message(SIPMessage, connection: ConnectionID)
    case connectionClosed(ConnectionID)
    /// A `.sendTo` could not connect or write; `branch` names the client transaction.
    case sendFailed(branch: String)
    case mediaAllocated(call: String, Result<CallInfo, RelayError>)
    case tick
    /// Refuse new calls (503) from now on; end the running ones at `deadline`.
    case drain(deadline: Double)
    /// End a call now (the management bridge's HangupCall).
    case hangUp(call: String)
}

/// What the core asks the transport and the relay to do.
public enum CoreAction: Sendable {
    case send(SIPMessage, ConnectionID)
    /// Send on a connection to `hop` (reuse one or open one); report failure as `.sendFailed`.
    case sendTo(SIPMessage, NextHop, branch: String)
    case allocateMedia(CallRequest)
    /// Keys for a leg (the peer's and ours), or nil: the leg carries plain RTP from `rtp`.
    case configureMedia(call: String, leg: String, keys: (remote: SRTPParameters, local: SRTPParameters)?, rtcpMux: Bool,
        rtp: MediaAddress?, rtcp: MediaAddress?)
    case updateMediaRemote(call: String, leg: String, rtp: MediaAddress, rtcp: MediaAddress?)
    case releaseMedia(call: String, reason: CallEndReason)
}

/// The controller's settings that the core uses.
public struct CoreSettings: Sendable {
    /// Host and port we put in Via, Contact and Record-Route.
    public var advertisedHost: String
    public var advertisedPort: UInt16
    /// The TLS port we advertise on TLS legs (0: the bound one).
    public var advertisedTLSPort: UInt16 = 5061
    public var srtp: SRTPPolicy
    /// Networks the second leg may be originated to (the ACL's known networks).
    public var targetNetworks: [CIDR]
    /// Networks whose media may be plain RTP (RTP/AVP): a LAN PBX that cannot do SRTP.
    /// Empty (the default): every leg is SRTP.
    public var plainRTPNetworks: [CIDR] = []
    /// How long the second leg may ring before the call gets 408 (seconds).
    public var ringTimeout: Double
    /// RFC 4028: the interval we ask for and the smallest we accept.
    public var sessionExpires: Int
    public var minSessionExpires: Int
    public var timers: SIPTimers
    /// Most calls at once; more get 503 (the relay's port pool also limits).
    public var maxCalls: Int
    /// Starts the Call-IDs of the legs this core originates, so that a controller with
    /// several cores routes their messages back to this one ("t<shard>-").
    public var callIDPrefix = ""

    public init(
        advertisedHost: String, advertisedPort: UInt16 = 5060, srtp: SRTPPolicy = SRTPPolicy(), targetNetworks: [CIDR],
        ringTimeout: Double = 120, sessionExpires: Int = 1800, minSessionExpires: Int = 90, timers: SIPTimers = SIPTimers(),
        maxCalls: Int = 10_000
    ) {
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.srtp = srtp
        self.targetNetworks = targetNetworks
        self.ringTimeout = ringTimeout
        self.sessionExpires = sessionExpires
        self.minSessionExpires = minSessionExpires
        self.timers = timers
        self.maxCalls = maxCalls
    }
}

/// The header that names the second leg's target on an INVITE from the server.
public enum TrabantHeaders {
    /// `X-Trabant-Target: <sip:user@host:port;transport=tcp>` (docs/call-control.md).
    public static let target = "X-Trabant-Target"
    /// `X-Trabant-Target-Media: rtp` asks for plain RTP towards the target (a PBX without
    /// SRTP); its answer must then come from a network in `plainRTPNetworks`. Default `srtp`.
    public static let targetMedia = "X-Trabant-Target-Media"
}

/// Counters the core keeps (exported as Prometheus metrics by the controller).
public struct CoreCounters: Sendable, Equatable {
    public var callsStarted = 0
    public var callsAnswered = 0
    public var callsEnded: [String: Int] = [:]
    public var callsActive = 0
    public var requestsRefused: [Int: Int] = [:]
    public var messagesReceived = 0
    public var transactionTimeouts = 0
    public var sessionTimerExpiries = 0
    public init() {}

    /// Sums the counters of several cores.
    public mutating func add(_ o: CoreCounters) {
        callsStarted += o.callsStarted
        callsAnswered += o.callsAnswered
        callsActive += o.callsActive
        messagesReceived += o.messagesReceived
        transactionTimeouts += o.transactionTimeouts
        sessionTimerExpiries += o.sessionTimerExpiries
        callsEnded.merge(o.callsEnded, uniquingKeysWith: +)
        requestsRefused.merge(o.requestsRefused, uniquingKeysWith: +)
    }
}
