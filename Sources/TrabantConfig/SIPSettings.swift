import NIOCore
import CallControl
import SDP
import SRTP

/// The `sip:` section of the satellite's configuration (examples/satellite.yaml).
extension CallControllerSettings {
    public static let allowedKeys: Set<String> = [
        "sip.bind", "sip.advertise", "sip.tcp_port", "sip.tls_port", "sip.tls_certificate", "sip.tls_key", "sip.acl",
        "sip.srtp_suites", "sip.ring_timeout", "sip.session_expires", "sip.min_session_expires", "sip.max_calls",
        "sip.max_connections", "sip.drain_timeout", "sip.rate_window", "sip.max_connections_per_source",
        "sip.max_requests_per_source", "sip.block_time", "sip.deny_user_agents", "sip.threads", "sip.plain_rtp_networks",
    ]

    public init(_ r: ConfigReader, mediaAdvertise: String?) throws(ConfigError) {
        let bind = try r.address("sip.bind", default: "0.0.0.0")!
        let unspecified = bind == "0.0.0.0" || bind == "::"
        let advertise = try r.address("sip.advertise", default: nil) ?? mediaAdvertise ?? (unspecified ? "127.0.0.1" : bind)
        let acl = try Self.networks(r, "sip.acl", default: ["127.0.0.1/32", "::1/128"])
        let plainNetworks = try Self.networks(r, "sip.plain_rtp_networks", default: [])
        var suites: [SRTPProfile] = []
        for name in try r.stringList("sip.srtp_suites", default: SRTPPolicy.defaultSuites.map(\.rawValue)) {
            guard let p = SRTPProfile(rawValue: name) else {
                throw r.invalid(
                    "sip.srtp_suites", "'\(name)' is not a supported suite; allowed: \(SRTPProfile.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            suites.append(p)
        }
        guard !suites.isEmpty else { throw r.invalid("sip.srtp_suites", "at least one suite is needed") }
        let cert = try r.optionalString("sip.tls_certificate")
        let key = try r.optionalString("sip.tls_key")
        guard (cert == nil) == (key == nil) else {
            throw r.invalid(cert == nil ? "sip.tls_key" : "sip.tls_certificate", "sip.tls_certificate and sip.tls_key go together")
        }
        let tcpPort = try r.int("sip.tcp_port", in: 1...65535, default: 5060)
        let tlsPort = try r.int("sip.tls_port", in: 1...65535, default: 5061)
        let sessionExpires = Int(try r.seconds("sip.session_expires", in: 90...86400, default: 1800))
        let minSE = Int(try r.seconds("sip.min_session_expires", in: 90...86400, default: 90))
        guard minSE <= sessionExpires else {
            throw r.invalid("sip.min_session_expires", "must not exceed sip.session_expires (\(sessionExpires)s)")
        }
        var limits = AccessGate.Limits()
        limits.window = try r.seconds("sip.rate_window", in: 0.1...3600, default: limits.window)
        limits.connectionsPerWindow = try r.int("sip.max_connections_per_source", in: 1...1_000_000, default: limits.connectionsPerWindow)
        limits.requestsPerWindow = try r.int("sip.max_requests_per_source", in: 1...10_000_000, default: limits.requestsPerWindow)
        limits.blockTime = try r.seconds("sip.block_time", in: 0...86400, default: limits.blockTime)
        var core = CoreSettings(
            advertisedHost: advertise, advertisedPort: UInt16(tcpPort), srtp: SRTPPolicy(suites: suites), targetNetworks: acl,
            ringTimeout: try r.seconds("sip.ring_timeout", in: 1...3600, default: 120), sessionExpires: sessionExpires,
            minSessionExpires: minSE, maxCalls: try r.int("sip.max_calls", in: 1...1_000_000, default: 10_000))
        core.plainRTPNetworks = plainNetworks
        core.advertisedTLSPort = UInt16(tlsPort)
        self.init(
            bindHost: bind, tcpPort: tcpPort, tlsPort: tlsPort,
            tlsCertificatePath: cert, tlsKeyPath: key, acl: acl, limits: limits,
            deniedUserAgents: try r.stringList("sip.deny_user_agents", default: AccessGate.defaultDeniedUserAgents),
            core: core,
            drainTimeout: try r.seconds("sip.drain_timeout", in: 0...86400, default: 30),
            maxConnections: try r.int("sip.max_connections", in: 1...1_000_000, default: 4096),
            sipThreads: try r.int("sip.threads", in: 1...16, default: min(16, System.coreCount)))
    }

    public static func networks(_ r: ConfigReader, _ key: String, default fallback: [String]) throws(ConfigError) -> [CIDR] {
        var out: [CIDR] = []
        for text in try r.stringList(key, default: fallback) {
            do {
                out.append(try CIDR(parsing: text))
            } catch {
                throw r.invalid(key, "\(error)")
            }
        }
        return out
    }
}
