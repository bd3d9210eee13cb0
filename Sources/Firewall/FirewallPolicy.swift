import CallControl

/// How media ports are opened.
public enum MediaMode: String, Sendable, CaseIterable {
    /// Only the ports of live calls: a set the relay fills and empties as calls come and go.
    case perCall = "per-call"
    /// The whole media range, as in the source document.
    case range
}

/// What the satellite's firewall is built from (its configuration; `firewall:` section).
public struct FirewallInputs: Sendable, Equatable {
    /// The Trabant server's addresses: the bridge, SIP and SSH are open to these only.
    public var servers: [CIDR]
    /// 0: no SSH rule.
    public var sshPort: UInt16
    public var sipTCPPort: UInt16
    public var sipTLSPort: UInt16
    public var bridgePort: UInt16
    public var mediaRange: ClosedRange<UInt16>
    public var mediaMode: MediaMode
    /// Safety net: a per-call port leaves the set by itself after this many seconds unless
    /// the relay refreshes it.
    public var elementTimeout: Int
    /// For the overview: the known networks (SIP's ACL) and the Prometheus endpoint.
    public var knownNetworks: [CIDR]
    public var metricsListen: String?

    public init(
        servers: [CIDR], sshPort: UInt16 = 22, sipTCPPort: UInt16 = 5060, sipTLSPort: UInt16 = 5061, bridgePort: UInt16 = 3280,
        mediaRange: ClosedRange<UInt16> = 40000...49999, mediaMode: MediaMode = .perCall, elementTimeout: Int = 300,
        knownNetworks: [CIDR] = [], metricsListen: String? = "127.0.0.1:9280"
    ) {
        self.servers = servers
        self.sshPort = sshPort
        self.sipTCPPort = sipTCPPort
        self.sipTLSPort = sipTLSPort
        self.bridgePort = bridgePort
        self.mediaRange = mediaRange
        self.mediaMode = mediaMode
        self.elementTimeout = elementTimeout
        self.knownNetworks = knownNetworks
        self.metricsListen = metricsListen
    }
}

/// Where a flow comes from or goes to, by zone (the source document's three).
public enum Zone: String, Sendable, CaseIterable {
    case internet, dmz = "DMZ", lan = "LAN"
}

/// One allowed flow of the deployment: the firewall opens the inbound ones; the overview
/// lists them all.
public struct Flow: Sendable, Equatable {
    public enum Proto: String, Sendable { case tcp, udp }
    public enum Direction: String, Sendable { case inbound = "in", outbound = "out", local }

    public var from: String
    public var fromZone: Zone
    public var to: String
    public var toZone: Zone
    public var proto: Proto
    public var ports: ClosedRange<UInt16>
    public var direction: Direction
    public var protection: String
    public var purpose: String
    /// Sources the firewall admits for an inbound flow (empty: any).
    public var sources: [CIDR]
    /// The firewall opens it (inbound, not loopback).
    public var opened: Bool

    public var portText: String {
        ports.count == 1 ? "\(ports.lowerBound)" : "\(ports.lowerBound)-\(ports.upperBound)"
    }
}

/// The one model the firewall rules and the connection overview are both made from.
public struct FirewallPolicy: Sendable, Equatable {
    public let inputs: FirewallInputs
    public let flows: [Flow]

    public init(_ inputs: FirewallInputs) throws(FirewallError) {
        guard !inputs.servers.isEmpty else {
            throw FirewallError(
                "firewall.server: at least one address of the Trabant server is needed (the bridge, SIP and SSH open to it alone)")
        }
        guard inputs.elementTimeout >= 30 else {
            throw FirewallError("firewall.element_timeout: \(inputs.elementTimeout)s is too short (at least 30s)")
        }
        self.inputs = inputs
        let servers = inputs.servers.map(\.description).joined(separator: ", ")
        var flows: [Flow] = []
        func open(_ port: UInt16, _ protection: String, _ purpose: String) {
            flows.append(
                Flow(
                    from: "server (\(servers))", fromZone: .lan, to: "satellite", toZone: .dmz, proto: .tcp, ports: port...port,
                    direction: .inbound, protection: protection, purpose: purpose, sources: inputs.servers, opened: true))
        }
        open(inputs.bridgePort, "mutual TLS 1.3, pinned keys, source address", "management bridge (gRPC)")
        open(inputs.sipTCPPort, "firewall + ACL of known networks", "SIP over TCP (call legs from the server)")
        open(inputs.sipTLSPort, "TLS 1.3, pinned server key + ACL", "SIP over TLS (call legs from the server)")
        if inputs.sshPort != 0 { open(inputs.sshPort, "SSH keys; firewall: server host only", "administration (SSH)") }
        let mediaProtection =
            inputs.mediaMode == .perCall ? "SRTP, per-leg keys; only ports of live calls open" : "SRTP, per-leg keys; whole range open"
        for (who, zone) in [("phones", Zone.internet), ("PBX", Zone.lan)] {
            flows.append(
                Flow(
                    from: who, fromZone: zone, to: "satellite", toZone: .dmz, proto: .udp, ports: inputs.mediaRange,
                    direction: .inbound, protection: mediaProtection, purpose: "media (RTP/RTCP)", sources: [], opened: true))
        }
        let known = inputs.knownNetworks.isEmpty ? servers : inputs.knownNetworks.map(\.description).joined(separator: ", ")
        flows.append(
            Flow(
                from: "satellite", fromZone: .dmz, to: "server (\(known))", toZone: .lan, proto: .tcp,
                ports: inputs.sipTCPPort...inputs.sipTCPPort, direction: .outbound, protection: "literal addresses in the known networks",
                purpose: "SIP: the second leg of each call", sources: [], opened: false))
        for (who, zone) in [("phones", Zone.internet), ("PBX", Zone.lan)] {
            flows.append(
                Flow(
                    from: "satellite", fromZone: .dmz, to: who, toZone: zone, proto: .udp, ports: inputs.mediaRange,
                    direction: .outbound, protection: "SRTP", purpose: "media back to each leg (same sockets)", sources: [],
                    opened: false))
        }
        if let m = inputs.metricsListen, let colon = m.lastIndex(of: ":"), let port = UInt16(m[m.index(after: colon)...]) {
            flows.append(
                Flow(
                    from: "operator (local)", fromZone: .dmz, to: "satellite \(m)", toZone: .dmz, proto: .tcp, ports: port...port,
                    direction: .local, protection: "loopback only", purpose: "Prometheus /metrics", sources: [], opened: false))
        }
        self.flows = flows
    }

    /// The TCP flows the firewall opens to the server.
    var serverPorts: [UInt16] {
        flows.filter { $0.opened && $0.proto == .tcp }.map(\.ports.lowerBound).sorted()
    }
}

public struct FirewallError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
