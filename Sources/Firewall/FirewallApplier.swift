import Foundation

/// Applies the rendered ruleset atomically, keeps the previous one, restores it when asked
/// (no confirmation in time), and compares the live ruleset with the model.
public struct FirewallApplier: Sendable {
    public enum Backend: String, Sendable { case nftables, iptables }

    public let backend: Backend
    /// Where the previous ruleset and the pending confirmation are kept.
    public let directory: String

    public init(backend: Backend, directory: String) {
        self.backend = backend
        self.directory = directory
    }

    var previousPath: String { directory + "/firewall-previous.\(backend == .nftables ? "nft" : "rules")" }
    public var pendingPath: String { directory + "/firewall-pending" }

    /// The live ruleset as the tools print it: our table (nftables) or the filter tables and
    /// the set (iptables). Nil when nothing of ours is loaded.
    public func live() throws(FirewallError) -> String? {
        switch backend {
        case .nftables:
            let r = try Command.run("nft", ["list", "table", "inet", FirewallNames.nftTable])
            return r.ok ? r.stdout : nil
        case .iptables:
            let v4 = try Command.run("iptables-save", ["-t", "filter"])
            let v6 = try Command.run("ip6tables-save", ["-t", "filter"])
            guard v4.ok, v6.ok else { throw FirewallError("iptables-save failed: \(v4.stderr)\(v6.stderr)") }
            return "#v4\n" + v4.stdout + "#v6\n" + v6.stdout
        }
    }

    /// Loads `policy`'s rules in one step per tool; the ruleset before is saved first.
    public func apply(_ policy: FirewallPolicy) throws(FirewallError) {
        try FileManager.default.createDirectoryIfNeeded(directory)
        let previous = try live()
        try write(previous ?? "", to: previousPath)
        try load(policy)
    }

    func load(_ policy: FirewallPolicy) throws(FirewallError) {
        switch backend {
        case .nftables:
            let r = try Command.run("nft", ["-f", "-"], input: FirewallRenderer.nftables(policy))
            guard r.ok else { throw FirewallError("nft refused the ruleset: \(r.stderr)") }
        case .iptables:
            if policy.inputs.mediaMode == .perCall {
                let s = try Command.run("ipset", ["restore"], input: FirewallRenderer.ipsetSetup(policy))
                guard s.ok else { throw FirewallError("ipset refused the media set: \(s.stderr)") }
            }
            let v4 = try Command.run("iptables-restore", [], input: FirewallRenderer.iptables(policy, ipv6: false))
            guard v4.ok else { throw FirewallError("iptables-restore refused the IPv4 rules: \(v4.stderr)") }
            let v6 = try Command.run("ip6tables-restore", [], input: FirewallRenderer.iptables(policy, ipv6: true))
            guard v6.ok else {
                try? rollback()
                throw FirewallError("ip6tables-restore refused the IPv6 rules (IPv4 rolled back): \(v6.stderr)")
            }
        }
    }

    /// Puts the saved previous ruleset back (or removes ours when there was none).
    public func rollback() throws(FirewallError) {
        let previous = (try? String(contentsOfFile: previousPath, encoding: .utf8)) ?? ""
        switch backend {
        case .nftables:
            let script = "table inet \(FirewallNames.nftTable)\ndelete table inet \(FirewallNames.nftTable)\n" + previous
            let r = try Command.run("nft", ["-f", "-"], input: script)
            guard r.ok else { throw FirewallError("rollback failed: nft: \(r.stderr)") }
        case .iptables:
            let parts = previous.components(separatedBy: "#v6\n")
            let v4 = parts.first.map { $0.replacingOccurrences(of: "#v4\n", with: "") } ?? ""
            let v6 = parts.count > 1 ? parts[1] : ""
            // Nothing saved for a family: it had no filter rules, i.e. everything open.
            let open = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
            for (tool, saved) in [("iptables-restore", v4), ("ip6tables-restore", v6)] {
                let rules = saved.contains("*filter") ? saved : open
                let r = try Command.run(tool, [], input: rules)
                guard r.ok else { throw FirewallError("rollback failed: \(tool): \(r.stderr)") }
            }
        }
    }

    /// Differences between the live ruleset and what `policy` renders, line by line (set
    /// elements and counters ignored). Empty: no drift. The reference is made by loading the
    /// rendered rules into a scratch network namespace and listing them with the same tool.
    public func drift(_ policy: FirewallPolicy) throws(FirewallError) -> [String] {
        guard let live = try live() else { return ["the Trabant ruleset is not loaded"] }
        let expected = try reference(policy)
        let a = normalized(live)
        let b = normalized(expected)
        var out: [String] = []
        for line in b where !a.contains(line) { out.append("missing: \(line)") }
        for line in a where !b.contains(line) { out.append("unexpected: \(line)") }
        return out
    }

    func reference(_ policy: FirewallPolicy) throws(FirewallError) -> String {
        let ns = "trabant-verify-\(getpid())"
        let add = try Command.run("ip", ["netns", "add", ns])
        guard add.ok else { throw FirewallError("cannot make a scratch network namespace: \(add.stderr)") }
        defer { _ = try? Command.run("ip", ["netns", "del", ns]) }
        func inNS(_ tool: String, _ args: [String], _ input: String? = nil) throws(FirewallError) -> Command.Result {
            guard let exe = Command.path(tool) else { throw FirewallError("\(tool) is not installed") }
            return try Command.run("ip", ["netns", "exec", ns, exe] + args, input: input)
        }
        switch backend {
        case .nftables:
            _ = try inNS("nft", ["-f", "-"], FirewallRenderer.nftables(policy))
            return try inNS("nft", ["list", "table", "inet", FirewallNames.nftTable]).stdout
        case .iptables:
            if policy.inputs.mediaMode == .perCall { _ = try inNS("ipset", ["restore"], FirewallRenderer.ipsetSetup(policy)) }
            _ = try inNS("iptables-restore", [], FirewallRenderer.iptables(policy, ipv6: false))
            _ = try inNS("ip6tables-restore", [], FirewallRenderer.iptables(policy, ipv6: true))
            return "#v4\n" + (try inNS("iptables-save", ["-t", "filter"]).stdout) + "#v6\n" + (try inNS("ip6tables-save", ["-t", "filter"]).stdout)
        }
    }

    /// Rule lines only: no comments, timestamps, counters or set elements.
    func normalized(_ text: String) -> [String] {
        var out: [String] = []
        var inElements = false
        for raw in text.split(separator: "\n") {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("elements = {") {
                inElements = !line.hasSuffix("}")
                continue
            }
            if inElements {
                if line.hasSuffix("}") { inElements = false }
                continue
            }
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix(":") { line = line.replacingOccurrences(of: #"\[\d+:\d+\]"#, with: "", options: .regularExpression) }
            out.append(line)
        }
        return out
    }

    func write(_ text: String, to path: String) throws(FirewallError) {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
        } catch {
            throw FirewallError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}

extension FileManager {
    func createDirectoryIfNeeded(_ path: String) throws(FirewallError) {
        do {
            try createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw FirewallError("cannot create \(path): \(error.localizedDescription)")
        }
    }
}
