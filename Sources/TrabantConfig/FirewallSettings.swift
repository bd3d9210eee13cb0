import CallControl
import Firewall

/// Which tool manages the satellite's firewall.
public enum FirewallBackend: String, Sendable, CaseIterable {
    /// The satellite leaves the firewall alone (status "unmanaged").
    case none
    case nftables
    case iptables
}

/// The `firewall:` section of the satellite's configuration (examples/satellite.yaml).
public struct FirewallSettings: Sendable {
    public var backend: FirewallBackend
    public var servers: [CIDR]
    public var sshPort: UInt16
    public var mediaMode: MediaMode
    public var elementTimeout: Int

    public static let allowedKeys: Set<String> = [
        "firewall.backend", "firewall.server", "firewall.ssh_port", "firewall.media", "firewall.element_timeout",
    ]

    public init(_ r: ConfigReader) throws(ConfigError) {
        backend = FirewallBackend(
            rawValue: try r.oneOf("firewall.backend", FirewallBackend.allCases.map(\.rawValue), default: "none"))!
        servers = try CallControllerSettings.networks(r, "firewall.server", default: [])
        sshPort = UInt16(try r.int("firewall.ssh_port", in: 0...65535, default: 22))
        mediaMode = MediaMode(rawValue: try r.oneOf("firewall.media", MediaMode.allCases.map(\.rawValue), default: "per-call"))!
        elementTimeout = Int(try r.seconds("firewall.element_timeout", in: 30...86400, default: 300))
        if backend != .none && servers.isEmpty {
            throw r.invalid("firewall.server", "the Trabant server's address(es) are needed when firewall.backend is \(backend.rawValue)")
        }
    }
}

extension SatelliteSettings {
    /// The firewall's inputs: this configuration's ports, ranges and addresses.
    public var firewallInputs: FirewallInputs {
        FirewallInputs(
            servers: firewall.servers, sshPort: firewall.sshPort, sipTCPPort: UInt16(sip.tcpPort), sipTLSPort: UInt16(sip.tlsPort),
            bridgePort: UInt16(management.port), mediaRange: media.portRange, mediaMode: firewall.mediaMode,
            elementTimeout: firewall.elementTimeout, knownNetworks: sip.acl,
            metricsListen: metrics.map { "\($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" })
    }
}
