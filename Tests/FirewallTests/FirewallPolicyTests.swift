import CallControl
import Foundation
import FoundationXML
import Testing

@testable import Firewall

@Suite("Firewall: policy model, renderers, overview")
struct FirewallPolicyTests {
    static func policy(
        _ media: MediaMode = .perCall, servers: [String] = ["10.0.0.5", "2001:db8::5"], ssh: UInt16 = 22
    ) throws -> FirewallPolicy {
        try FirewallPolicy(
            FirewallInputs(
                servers: servers.map { try CIDR(parsing: $0) }, sshPort: ssh, mediaRange: 40000...40999, mediaMode: media,
                knownNetworks: [try CIDR(parsing: "10.0.0.0/8")]))
    }

    @Test func theModelHasTheFlowsOfTheSourceDocument() throws {
        let p = try Self.policy()
        let opened = p.flows.filter(\.opened)
        #expect(opened.filter { $0.proto == .tcp }.map(\.ports.lowerBound) == [3280, 5060, 5061, 22])
        #expect(opened.filter { $0.proto == .tcp }.allSatisfy { $0.sources.map(\.description) == ["10.0.0.5/32", "2001:db8::5/128"] })
        #expect(opened.filter { $0.proto == .udp }.allSatisfy { $0.ports == 40000...40999 && $0.sources.isEmpty })
        #expect(p.flows.contains { $0.direction == .outbound && $0.purpose.contains("second leg") })
        // No SSH rule when there is no SSH.
        #expect(!(try Self.policy(ssh: 0)).flows.contains { $0.ports.lowerBound == 22 })
    }

    @Test func aPolicyNeedsTheServer() {
        let e = #expect(throws: FirewallError.self) { try Self.policy(servers: []) }
        #expect(e?.message.contains("firewall.server") == true)
    }

    @Test func nftablesScriptTouchesOnlyItsTable() throws {
        let perCall = FirewallRenderer.nftables(try Self.policy())
        let tables = perCall.split(separator: "\n").filter { $0.hasPrefix("table") || $0.hasPrefix("delete") }
        #expect(tables == ["table inet trabant", "delete table inet trabant", "table inet trabant {"])
        #expect(perCall.contains("policy drop;"))
        #expect(perCall.contains("ip saddr { 10.0.0.5/32 } tcp dport { 22, 3280, 5060, 5061 } accept"))
        #expect(perCall.contains("ip6 saddr { 2001:db8::5/128 } tcp dport { 22, 3280, 5060, 5061 } accept"))
        #expect(perCall.contains("udp dport @media_ports accept"))
        #expect(perCall.contains("timeout 300s"))
        #expect(perCall.contains("packet-too-big") && perCall.contains("frag-needed"))
        let range = FirewallRenderer.nftables(try Self.policy(.range))
        #expect(range.contains("udp dport 40000-40999 accept"))
        #expect(!range.contains("set media_ports"))
    }

    @Test func iptablesRulesPerFamily() throws {
        let p = try Self.policy()
        let v4 = FirewallRenderer.iptables(p, ipv6: false)
        let v6 = FirewallRenderer.iptables(p, ipv6: true)
        #expect(v4.contains(":INPUT DROP [0:0]") && v4.hasSuffix("COMMIT\n"))
        #expect(v4.contains("-A INPUT -s 10.0.0.5/32 -p tcp -m multiport --dports 22,3280,5060,5061"))
        #expect(!v4.contains("2001:db8"))
        #expect(v6.contains("-A INPUT -s 2001:db8::5/128 -p tcp"))
        #expect(v6.contains("--icmpv6-type neighbour-solicitation"))
        #expect(v4.contains("-m set --match-set trabant-media dst"))
        #expect(FirewallRenderer.ipsetSetup(p) == "create trabant-media bitmap:port range 40000-40999 timeout 300 -exist\n")
        #expect(FirewallRenderer.iptables(try Self.policy(.range), ipv6: false).contains("--dport 40000:40999"))
    }

    /// The tools themselves accept what is rendered (in a scratch namespace; root only).
    @Test(.enabled(if: getuid() == 0, "needs root: nft -c and iptables-restore --test run in a scratch network namespace"))
    func theToolsAcceptTheRendering() throws {
        let ns = "tbcheck\(getpid() % 100000)"
        _ = try Command.run("ip", ["netns", "add", ns])
        defer { _ = try? Command.run("ip", ["netns", "del", ns]) }
        for mode in MediaMode.allCases {
            let p = try Self.policy(mode)
            let nft = try Command.run("ip", ["netns", "exec", ns, Command.path("nft")!, "-c", "-f", "-"], input: FirewallRenderer.nftables(p))
            #expect(nft.ok, "nft -c: \(nft.stderr)")
            _ = try Command.run("ip", ["netns", "exec", ns, Command.path("ipset")!, "restore"], input: FirewallRenderer.ipsetSetup(p))
            for v6 in [false, true] {
                let tool = Command.path(v6 ? "ip6tables-restore" : "iptables-restore")!
                let r = try Command.run("ip", ["netns", "exec", ns, tool, "--test"], input: FirewallRenderer.iptables(p, ipv6: v6))
                #expect(r.ok, "\(tool) --test (\(mode)): \(r.stderr)")
            }
        }
    }

    @Test func overviewInEveryFormat() throws {
        let p = try Self.policy()
        let table = Overview.render(p, as: .table)
        #expect(table.hasPrefix("from"))
        #expect(table.contains("management bridge (gRPC)"))
        let lines = table.split(separator: "\n")
        #expect(lines.count == p.flows.count + 2)
        let md = Overview.render(p, as: .markdown)
        #expect(md.hasPrefix("| from | to | protocol | port | direction | protection | purpose |\n|---|---|"))
        #expect(md.split(separator: "\n").count == p.flows.count + 2)
        let csv = Overview.render(p, as: .csv)
        let rows = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.count == p.flows.count + 1)
        #expect(rows[1].hasPrefix("\"server (10.0.0.5/32, 2001:db8::5/128) [LAN]\",satellite [DMZ],TCP,3280,in,"))
        let svg = Overview.render(p, as: .svg)
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        for zone in ["internet", "DMZ", "LAN"] { #expect(svg.contains(">\(zone)</text>")) }
        #expect(svg.components(separatedBy: "<line ").count - 1 == p.flows.count, "one arrow per flow")
        // Well-formed XML.
        let doc = try XMLDocument(xmlString: svg)
        #expect(doc.rootElement()?.name == "svg")
    }
}
