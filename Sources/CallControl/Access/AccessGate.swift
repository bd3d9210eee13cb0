/// The controller's first line: which sources may connect and how much they may send.
/// Sans-I/O; the transport asks it at accept and for every request, with the time passed in.
///
/// - ACL: a connection from outside the known networks is refused before a byte is read.
/// - Per-source limits, like Kamailio's pike: new connections and requests per source
///   address within a sliding window; a source over the limit is blocked for a while.
/// - Scanner User-Agents (sipvicious, friendly-scanner, …) are refused and their source blocked.
public struct AccessGate: Sendable {
    public struct Limits: Sendable, Equatable {
        /// New connections per source per window.
        public var connectionsPerWindow: Int = 100
        /// Requests per source per window (responses are not counted).
        public var requestsPerWindow: Int = 20_000
        public var window: Double = 2
        /// How long a source stays blocked after exceeding a limit or sending a scanner UA.
        public var blockTime: Double = 60
        public init() {}
    }

    public enum Verdict: Sendable, Equatable {
        case allow
        case notInACL
        case blocked
        case connectionRateExceeded
        case requestRateExceeded
        case scanner

        /// Counter and log label.
        public var label: String {
            switch self {
            case .allow: return "allow"
            case .notInACL: return "not_in_acl"
            case .blocked: return "blocked_source"
            case .connectionRateExceeded: return "connection_rate"
            case .requestRateExceeded: return "request_rate"
            case .scanner: return "scanner_user_agent"
            }
        }
    }

    public internal(set) var networks: [CIDR]
    public let limits: Limits
    public let deniedUserAgents: [String]

    struct Source {
        var windowStart: Double
        var connections: Int
        var requests: Int
        var blockedUntil: Double
    }
    private var sources: [[UInt8]: Source] = [:]

    public static let defaultDeniedUserAgents = [
        "friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr", "iwar", "sipsak", "smap", "pplsip",
        "vaxsipuseragent", "sipptk", "eyebeam-scan",
    ]

    public init(networks: [CIDR], limits: Limits = Limits(), deniedUserAgents: [String] = AccessGate.defaultDeniedUserAgents) {
        self.networks = networks
        self.limits = limits
        self.deniedUserAgents = deniedUserAgents.map { $0.lowercased() }
    }

    /// Is `address` (16-byte form) inside a known network?
    public func inACL(_ address: [UInt8]) -> Bool { networks.contains { $0.contains(address) } }

    /// At accept, before reading.
    public mutating func admitConnection(from address: [UInt8], now: Double) -> Verdict {
        guard inACL(address) else { return .notInACL }
        return count(address, now: now, connection: true)
    }

    /// For each request read from an admitted connection.
    public mutating func admitRequest(from address: [UInt8], userAgent: String?, now: Double) -> Verdict {
        if let ua = userAgent?.lowercased(), deniedUserAgents.contains(where: { ua.contains($0) }) {
            sources[address, default: Source(windowStart: now, connections: 0, requests: 0, blockedUntil: 0)]
                .blockedUntil = now + limits.blockTime
            return .scanner
        }
        return count(address, now: now, connection: false)
    }

    /// Is this source blocked at `now`?
    public func isBlocked(_ address: [UInt8], now: Double) -> Bool { (sources[address]?.blockedUntil ?? 0) > now }

    private mutating func count(_ address: [UInt8], now: Double, connection: Bool) -> Verdict {
        var s = sources[address] ?? Source(windowStart: now, connections: 0, requests: 0, blockedUntil: 0)
        defer { sources[address] = s }
        if s.blockedUntil > now { return .blocked }
        if now - s.windowStart >= limits.window {
            s.windowStart = now
            s.connections = 0
            s.requests = 0
        }
        if connection {
            s.connections += 1
            if s.connections > limits.connectionsPerWindow {
                s.blockedUntil = now + limits.blockTime
                return .connectionRateExceeded
            }
        } else {
            s.requests += 1
            if s.requests > limits.requestsPerWindow {
                s.blockedUntil = now + limits.blockTime
                return .requestRateExceeded
            }
        }
        return .allow
    }

    /// Forgets sources whose window and block ended (bounded memory under a spoofing flood).
    public mutating func prune(now: Double) {
        sources = sources.filter { $0.value.blockedUntil > now || now - $0.value.windowStart < limits.window }
    }

    public var trackedSources: Int { sources.count }
}
