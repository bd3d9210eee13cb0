import CallControl

/// The names the rules use: our own nftables table, the ipset of live media ports.
public enum FirewallNames {
    public static let nftTable = "trabant"
    public static let nftMediaSet = "media_ports"
    public static let ipset = "trabant-media"
}

/// Firewall rules from the policy. Input is dropped by default; established and related
/// traffic, loopback, and the ICMP that path-MTU discovery (and IPv6 neighbour discovery)
/// needs are allowed; then the policy's inbound flows.
public enum FirewallRenderer {
    /// An `nft -f` script for a table of Trabant's own (`inet trabant`) that touches no other
    /// table. Loading it replaces that table in one transaction.
    public static func nftables(_ p: FirewallPolicy) -> String {
        let i = p.inputs
        let v4 = i.servers.filter(\.isIPv4).map(\.description)
        let v6 = i.servers.filter { !$0.isIPv4 }.map(\.description)
        let ports = p.serverPorts.map(String.init).joined(separator: ", ")
        var s = """
            #!/usr/sbin/nft -f
            # Trabant satellite firewall (rendered by 'trabant firewall render'; do not edit).
            # Only the table inet \(FirewallNames.nftTable) is touched.
            table inet \(FirewallNames.nftTable)
            delete table inet \(FirewallNames.nftTable)
            table inet \(FirewallNames.nftTable) {

            """
        if i.mediaMode == .perCall {
            s += """
                    set \(FirewallNames.nftMediaSet) {
                        type inet_service
                        flags timeout
                        timeout \(i.elementTimeout)s
                        comment "media ports of live calls (the relay adds and removes them)"
                    }

                """
        }
        s += """
                chain input {
                    type filter hook input priority filter; policy drop;
                    ct state established,related accept
                    ct state invalid drop
                    iif "lo" accept
                    icmp type destination-unreachable icmp code frag-needed accept comment "path MTU"
                    icmpv6 type { packet-too-big, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept comment "path MTU, neighbour discovery"

            """
        if !v4.isEmpty {
            s += "        ip saddr { \(v4.joined(separator: ", ")) } tcp dport { \(ports) } accept comment \"server: bridge, SIP, SSH\"\n"
        }
        if !v6.isEmpty {
            s += "        ip6 saddr { \(v6.joined(separator: ", ")) } tcp dport { \(ports) } accept comment \"server: bridge, SIP, SSH\"\n"
        }
        switch i.mediaMode {
        case .perCall:
            s += "        udp dport @\(FirewallNames.nftMediaSet) accept comment \"media of live calls\"\n"
        case .range:
            s += "        udp dport \(i.mediaRange.lowerBound)-\(i.mediaRange.upperBound) accept comment \"media range\"\n"
        }
        s += "    }\n}\n"
        return s
    }

    /// `iptables-restore` input for one family (the filter table is replaced). Per-call media
    /// uses the ipset `trabant-media` (bitmap:port, created by `ipsetSetup`).
    public static func iptables(_ p: FirewallPolicy, ipv6: Bool) -> String {
        let i = p.inputs
        let servers = i.servers.filter { $0.isIPv4 != ipv6 }.map(\.description)
        var lines = [
            "# Trabant satellite firewall, \(ipv6 ? "IPv6" : "IPv4") (rendered by 'trabant firewall render'; do not edit).",
            "*filter",
            ":INPUT DROP [0:0]",
            ":FORWARD DROP [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A INPUT -m conntrack --ctstate INVALID -j DROP",
            "-A INPUT -i lo -j ACCEPT",
        ]
        if ipv6 {
            for t in ["packet-too-big", "neighbour-solicitation", "neighbour-advertisement", "router-advertisement"] {
                lines.append("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type \(t) -j ACCEPT")
            }
        } else {
            lines.append("-A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT")
        }
        let ports = p.serverPorts.map(String.init).joined(separator: ",")
        for s in servers {
            lines.append(
                "-A INPUT -s \(s) -p tcp -m multiport --dports \(ports) -m comment --comment \"server: bridge, SIP, SSH\" -j ACCEPT")
        }
        switch i.mediaMode {
        case .perCall:
            lines.append(
                "-A INPUT -p udp -m set --match-set \(FirewallNames.ipset) dst -m comment --comment \"media of live calls\" -j ACCEPT")
        case .range:
            lines.append(
                "-A INPUT -p udp -m udp --dport \(i.mediaRange.lowerBound):\(i.mediaRange.upperBound) -m comment --comment \"media range\" -j ACCEPT")
        }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `ipset restore` input that makes the per-call set (idempotent: -exist).
    public static func ipsetSetup(_ p: FirewallPolicy) -> String {
        let r = p.inputs.mediaRange
        return "create \(FirewallNames.ipset) bitmap:port range \(r.lowerBound)-\(r.upperBound) timeout \(p.inputs.elementTimeout) -exist\n"
    }
}
