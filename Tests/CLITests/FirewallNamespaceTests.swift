import Foundation
import TestSupport
import Testing

/// The satellite's firewall in network namespaces this test makes: hosts `server`,
/// `satellite`, `pbx` and `outsider` on one bridge (10.77.0.0/24). The real satellite runs in
/// its namespace with the rules applied by `trabant firewall apply`.
@Suite("Firewall: reachability in network namespaces", .serialized)
struct FirewallNamespaceTests {
    static let isRoot = getuid() == 0

    @Test(
        .enabled(if: isRoot, "needs root: it makes network namespaces and loads nftables/iptables rules in them"),
        arguments: [("nftables", "per-call"), ("nftables", "range"), ("iptables", "per-call"), ("iptables", "range")])
    func onlyTheServerReachesBridgeSIPAndSSHAndMediaOpensPerCall(backend: String, media: String) async throws {
        guard let sipp = try requireTool("sipp"), let python = External.onPath("python3") else { return }
        let net = try await Lab()
        defer { net.tearDown() }
        let dir = net.root.appendingPathComponent("satellite-data").path
        let config = net.root.appendingPathComponent("satellite.yaml").path
        try """
            media:
              bind: 10.77.0.1
              port_range: 40000-40099
              port_quarantine: 0s
            sip:
              bind: 0.0.0.0
              advertise: 10.77.0.1
              acl: [10.77.0.0/24]
            management:
              listen: 0.0.0.0:3280
            metrics:
              listen: 127.0.0.1:9280
            firewall:
              backend: \(backend)
              server: [10.77.0.5]
              media: \(media)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let trabant = TrabantBinary.url.path

        // apply waits for its confirmation; confirm; it keeps the rules.
        let apply = try External.start("/usr/sbin/ip", ["netns", "exec", net.satellite, trabant, "firewall", "apply", "--config", config, "--data-dir", dir, "--confirm-within", "20"])
        try await Task.sleep(for: .seconds(1))
        let confirm = try await net.run(net.satellite, [trabant, "firewall", "confirm", "--data-dir", dir])
        #expect(confirm.status == 0, "\(confirm.output)")
        let applied = await External.wait(apply.0, log: apply.1, timeout: 20)
        #expect(applied.status == 0, "apply: \(applied.output)")
        let verify = try await net.run(net.satellite, [trabant, "firewall", "verify", "--config", config])
        #expect(verify.status == 0, "verify: \(verify.output)")

        // The real satellite, and a listener standing in for sshd.
        let sat = try External.start("/usr/sbin/ip", ["netns", "exec", net.satellite, trabant, "satellite", "--config", config, "--data-dir", dir])
        let sshd = try External.start(
            "/usr/sbin/ip", ["netns", "exec", net.satellite, python, "-c",
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',22))\ns.listen(8)\nwhile True: s.accept()[0].close()"])
        defer {
            sat.0.terminate()
            sshd.0.terminate()
        }
        #expect(try await net.waitForTCP(from: net.server, port: 3280), "the satellite came up")

        // TCP: the server reaches the bridge, SIP and SSH; the PBX and the outsider reach none.
        for port in [3280, 5060, 22] {
            #expect(try await net.tcp(from: net.server, port: port) == "open", "server → \(port)")
            #expect(try await net.tcp(from: net.pbx, port: port) == "filtered", "pbx → \(port)")
            #expect(try await net.tcp(from: net.outsider, port: port) == "filtered", "outsider → \(port)")
        }
        #expect(try await net.tcp(from: net.server, port: 5062) == "filtered", "nothing else, even from the server")

        // A call between two sipps on the server host: media ports open for it.
        let uas = try External.start("/usr/sbin/ip", ["netns", "exec", net.server, sipp,
            "-sf", "\(sippDirectory)/uas_srtp.xml", "-t", "t1", "-i", "10.77.0.5", "-p", "5080", "-mi", "10.77.0.5", "-mp", "6000",
            "-cp", "8888", "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        try await Task.sleep(for: .milliseconds(400))
        let uac = try External.start("/usr/sbin/ip", ["netns", "exec", net.server, sipp, "10.77.0.1:5060",
            "-sf", "\(sippDirectory)/uac_srtp.xml", "-t", "t1", "-i", "10.77.0.5", "-p", "5090", "-mi", "10.77.0.5", "-mp", "6100",
            "-cp", "8889", "-key", "target", "<sip:bob@10.77.0.5:5080;transport=tcp>", "-m", "1", "-d", "6000", "-nostdin",
            "-timeout", "30s", "-timeout_error"])
        var live: [Int] = []
        let deadline = Date().addingTimeInterval(8)
        while live.count < 2, Date() < deadline {
            live = try await net.udpPorts(in: net.satellite).filter { (40000...40099).contains($0) }
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(live.count >= 2, "the call's media sockets")
        try await Task.sleep(for: .milliseconds(300))  // the set update runs every 20 ms
        let idle = (40000...40099).first { !live.contains($0) }!
        #expect(try await net.udp(from: net.outsider, port: live[0]) == "silent", "a live port: reached, dropped by the relay")
        #expect(
            try await net.udp(from: net.outsider, port: idle) == (media == "range" ? "refused" : "silent"),
            "a port of no call: \(media == "range" ? "open range: the host answers" : "filtered")")

        let uacResult = await External.wait(uac.0, log: uac.1, timeout: 20)
        _ = await External.wait(uas.0, log: uas.1, timeout: 10)
        #expect(uacResult.status == 0, "the call: \(uacResult.output.suffix(800))")
        try await Task.sleep(for: .milliseconds(400))
        // After the hang-up the ports are closed; in per-call mode the firewall closed them too.
        #expect(
            try await net.udp(from: net.outsider, port: live[0]) == (media == "range" ? "refused" : "silent"),
            "the call's port after hang-up")
        // sipp sends no media: the only datagram that can be "not RTP" is the outsider's probe.
        // The relay counts an ended call's drops when it tears the call down: asked until then (bounded).
        var notRTP: Substring?
        let until = Date().addingTimeInterval(5)
        repeat {
            let metrics = try await net.run(net.satellite, [python, "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9280/metrics').read().decode())"])
            notRTP = metrics.output.split(separator: "\n").first { $0.hasPrefix("trabant_media_drops_total{reason=\"not_rtp\"}") }
            if notRTP == nil { try await Task.sleep(for: .milliseconds(200)) }
        } while notRTP == nil && Date() < until
        #expect(notRTP.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } == 1,
            "the outsider's datagram to the live port reached the relay: \(notRTP ?? "no counter")")
        if media == "per-call" {
            let set = try await net.run(net.satellite, backend == "nftables"
                ? ["/usr/sbin/nft", "list", "set", "inet", "trabant", "media_ports"] : ["/usr/sbin/ipset", "list", "trabant-media"])
            #expect(set.status == 0, "\(set.output)")
            // Only the members count: ipset's header names the range (40000-40099), which may
            // begin with the call's port.
            let out = set.output
            let members = backend == "nftables"
                ? out.range(of: "elements").map { String(out[$0.lowerBound...]) } ?? ""
                : out.range(of: "Members:").map { String(out[$0.upperBound...]) } ?? out
            #expect(!members.split(whereSeparator: { !$0.isNumber }).contains(Substring("\(live[0])")), "the set is empty again: \(out)")
        }
    }

    @Test(.enabled(if: isRoot, "needs root: it makes network namespaces and loads nftables rules in them"))
    func applyWithoutConfirmationRollsBackAndVerifyReportsDrift() async throws {
        let net = try await Lab()
        defer { net.tearDown() }
        let dir = net.root.appendingPathComponent("data").path
        let config = net.root.appendingPathComponent("satellite.yaml").path
        try "firewall:\n  backend: nftables\n  server: [10.77.0.5]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let trabant = TrabantBinary.url.path
        let apply = try await net.run(net.satellite, [trabant, "firewall", "apply", "--config", config, "--data-dir", dir, "--confirm-within", "2"])
        #expect(apply.status == 3, "not confirmed: \(apply.output)")
        #expect(apply.output.contains("the previous ruleset is back"))
        let after = try await net.run(net.satellite, ["/usr/sbin/nft", "list", "ruleset"])
        #expect(!after.output.contains("trabant"), "rolled back to nothing: \(after.output)")
        #expect(try await net.tcp(from: net.outsider, port: 22) == "refused", "open again: the host answers")

        // Applied and confirmed, then changed by hand: verify finds the drift.
        let keep = try External.start("/usr/sbin/ip", ["netns", "exec", net.satellite, trabant, "firewall", "apply", "--config", config, "--data-dir", dir, "--confirm-within", "20"])
        try await Task.sleep(for: .seconds(1))
        _ = try await net.run(net.satellite, [trabant, "firewall", "confirm", "--data-dir", dir])
        #expect(await External.wait(keep.0, log: keep.1, timeout: 20).status == 0)
        #expect(try await net.run(net.satellite, [trabant, "firewall", "verify", "--config", config]).status == 0)
        _ = try await net.run(net.satellite, ["/usr/sbin/nft", "add", "rule", "inet", "trabant", "input", "tcp", "dport", "8080", "accept"])
        let drift = try await net.run(net.satellite, [trabant, "firewall", "verify", "--config", config])
        #expect(drift.status == 2, "\(drift.output)")
        #expect(drift.output.contains("unexpected: tcp dport 8080 accept"), "\(drift.output)")
        // Another table is never touched.
        _ = try await net.run(net.satellite, ["/usr/sbin/nft", "add", "table", "inet", "other"])
        let again = try await net.run(net.satellite, [trabant, "firewall", "apply", "--config", config, "--data-dir", dir, "--confirm-within", "1"])
        #expect(again.status == 3, "applied, not confirmed, rolled back: \(again.output)")
        let tables = try await net.run(net.satellite, ["/usr/sbin/nft", "list", "tables"]).output
        #expect(tables.contains("inet other") && tables.contains("inet trabant"), "rolled back to the confirmed ruleset; the other table untouched: \(tables)")
    }
}

/// Four hosts on one bridge, each in its own network namespace, made and removed by the test.
final class Lab: Sendable {
    let tag: String
    let server: String
    let satellite: String
    let pbx: String
    let outsider: String
    let switchNS: String
    let root: URL

    init() async throws {
        tag = String(UInt32.random(in: 0..<1_000_000), radix: 36)
        server = "tb\(tag)srv"
        satellite = "tb\(tag)sat"
        pbx = "tb\(tag)pbx"
        outsider = "tb\(tag)out"
        switchNS = "tb\(tag)sw"
        root = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-lab-\(tag)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var cmds: [[String]] = [["netns", "add", switchNS], ["-n", switchNS, "link", "add", "br0", "type", "bridge"],
            ["-n", switchNS, "link", "set", "br0", "up"]]
        for (i, (ns, addr)) in [(satellite, "10.77.0.1"), (server, "10.77.0.5"), (pbx, "10.77.0.20"), (outsider, "10.77.0.99")].enumerated() {
            let host = "h\(i)\(tag)"
            let port = "p\(i)\(tag)"
            cmds += [
                ["netns", "add", ns], ["link", "add", host, "type", "veth", "peer", "name", port],
                ["link", "set", host, "netns", ns], ["link", "set", port, "netns", switchNS],
                ["-n", switchNS, "link", "set", port, "master", "br0"], ["-n", switchNS, "link", "set", port, "up"],
                ["-n", ns, "addr", "add", "\(addr)/24", "dev", host], ["-n", ns, "link", "set", host, "up"],
                ["-n", ns, "link", "set", "lo", "up"],
            ]
        }
        for c in cmds {
            let r = try await External.run("/usr/sbin/ip", c, timeout: 10)
            if r.status != 0 {
                tearDown()
                throw LabError(message: "ip \(c.joined(separator: " ")): \(r.output)")
            }
        }
    }

    func tearDown() {
        for ns in [server, satellite, pbx, outsider, switchNS] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            p.arguments = ["netns", "del", ns]
            try? p.run()
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: root)
    }

    func run(_ ns: String, _ args: [String], timeout: Double = 30) async throws -> External.Result {
        try await External.run("/usr/sbin/ip", ["netns", "exec", ns] + args, timeout: timeout)
    }

    static let probe = """
        import socket, sys
        kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        if kind == "tcp":
            s = socket.socket(); s.settimeout(1.0)
            r = s.connect_ex((host, port))
            print("open" if r == 0 else "refused" if r == 111 else "filtered")
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
            s.connect((host, port))
            try:
                s.send(b"not rtp, from the outsider")
                s.recv(100)
                print("answered")
            except ConnectionRefusedError:
                print("refused")
            except socket.timeout:
                print("silent")
        """

    func tcp(from ns: String, port: Int) async throws -> String {
        try await run(ns, [External.onPath("python3") ?? "python3", "-c", Self.probe, "tcp", "10.77.0.1", "\(port)"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func udp(from ns: String, port: Int) async throws -> String {
        try await run(ns, [External.onPath("python3") ?? "python3", "-c", Self.probe, "udp", "10.77.0.1", "\(port)"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func waitForTCP(from ns: String, port: Int) async throws -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try await tcp(from: ns, port: port) == "open" { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Bound UDP ports in a namespace (/proc/net/udp).
    func udpPorts(in ns: String) async throws -> [Int] {
        let r = try await run(ns, ["/bin/cat", "/proc/net/udp"])
        return r.output.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 1, let colon = fields[1].lastIndex(of: ":") else { return nil }
            return Int(fields[1][fields[1].index(after: colon)...], radix: 16)
        }
    }
}

struct LabError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
