import ArgumentParser
import Firewall
import Foundation
import TrabantConfig

extension FirewallBackend: ExpressibleByArgument {}
extension Overview.Format: ExpressibleByArgument {}

/// Loads the satellite's configuration and builds the firewall policy, or exits with the error.
struct PolicyOptions: ParsableArguments {
    @Option(help: "The satellite's YAML configuration (environment variables TRABANT_<SECTION>__<KEY> override it).")
    var config: String?

    func load() throws -> (SatelliteSettings, FirewallPolicy) {
        let options = try RoleOptions.parse(config.map { ["--config", $0] } ?? [])
        let (settings, _) = try options.load(SatelliteSettings.init, allowedKeys: SatelliteSettings.allowedKeys)
        do {
            return (settings, try FirewallPolicy(settings.firewallInputs))
        } catch {
            FileHandle.standardError.write(Data("trabant: configuration error: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

struct FirewallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall",
        abstract: "The satellite's firewall: render, apply (with automatic rollback), confirm, verify, show.",
        subcommands: [
            FirewallRenderCommand.self, FirewallApplyCommand.self, FirewallConfirmCommand.self, FirewallVerifyCommand.self,
            FirewallShowCommand.self,
        ])
}

struct FirewallRenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the ruleset: an nft -f script (table inet trabant only), or iptables-restore input.")

    @OptionGroup var policy: PolicyOptions

    @Option(help: "nftables or iptables (default: firewall.backend, else nftables).")
    var backend: FirewallBackend?

    @Option(help: "For iptables: ipv4 or ipv6 rules (iptables-restore / ip6tables-restore input), or ipset (the per-call set).")
    var family: String = "ipv4"

    func run() throws {
        let (settings, p) = try policy.load()
        switch backend ?? (settings.firewall.backend == .none ? .nftables : settings.firewall.backend) {
        case .nftables, .none:
            print(FirewallRenderer.nftables(p), terminator: "")
        case .iptables:
            switch family {
            case "ipv4": print(FirewallRenderer.iptables(p, ipv6: false), terminator: "")
            case "ipv6": print(FirewallRenderer.iptables(p, ipv6: true), terminator: "")
            case "ipset": print(FirewallRenderer.ipsetSetup(p), terminator: "")
            default: throw ValidationError("--family must be ipv4, ipv6 or ipset, got '\(family)'")
            }
        }
    }
}

/// The connection overview of the configured deployment, from the firewall's own model.
struct PortsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ports",
        abstract: "Print the connection overview (from, to, protocol, port, direction, protection, purpose).")

    @OptionGroup var policy: PolicyOptions

    @Option(help: "table, markdown, csv or svg.")
    var format: Overview.Format = .table

    func run() throws {
        let (_, p) = try policy.load()
        print(Overview.render(p, as: format), terminator: "")
    }
}

extension FirewallSettings {
    /// The backend a firewall command acts on: --backend, else firewall.backend, else nftables.
    func effective(_ override: FirewallBackend?) -> FirewallApplier.Backend {
        switch override ?? backend {
        case .iptables: return .iptables
        case .nftables, .none: return .nftables
        }
    }
}

/// Applies the ruleset, then waits for a confirmation; without one in time the previous
/// ruleset comes back by itself (an operator who locked himself out gets back in).
struct FirewallApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Load the ruleset atomically; roll back unless confirmed in time ('trabant firewall confirm' or typing yes).")

    @OptionGroup var policy: PolicyOptions

    @Option(help: "The satellite's data directory (the previous ruleset is kept there).")
    var dataDir: String = "./trabant-data"

    @Option(help: "nftables or iptables (default: firewall.backend, else nftables).")
    var backend: FirewallBackend?

    @Option(help: "Seconds to wait for the confirmation before rolling back.")
    var confirmWithin: Double = 30

    func run() async throws {
        guard (1...3600).contains(confirmWithin) else { throw ValidationError("--confirm-within must be 1 to 3600 seconds") }
        // The operator's SSH session may die with the rules that cut it: this process must live
        // on to roll back (a hang-up does not end it).
        signal(SIGHUP, SIG_IGN)
        let (settings, p) = try policy.load()
        let applier = FirewallApplier(backend: settings.firewall.effective(backend), directory: dataDir)
        if FileManager.default.fileExists(atPath: applier.pendingPath) {
            // The saved previous ruleset is the known-good one; a second apply would replace it.
            FileHandle.standardError.write(Data(
                "trabant: another 'firewall apply' waits for its confirmation; confirm it or let it roll back first\n".utf8))
            throw ExitCode(1)
        }
        do {
            try applier.apply(p)
        } catch {
            FileHandle.standardError.write(Data("trabant: firewall not applied: \(error)\n".utf8))
            throw ExitCode(1)
        }
        _ = FileManager.default.createFile(atPath: applier.pendingPath, contents: Data("\(Date().timeIntervalSince1970 + confirmWithin)\n".utf8))
        print("applied (\(applier.backend.rawValue)); confirm within \(Int(confirmWithin)) s with 'trabant firewall confirm --data-dir \(dataDir)' or by typing yes — otherwise the previous ruleset comes back")
        let interactive = isatty(0) == 1
        let deadline = Date().addingTimeInterval(confirmWithin)
        let typed = Task.detached { () -> Bool in
            guard interactive else { return false }
            return readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
        }
        while Date() < deadline {
            if !FileManager.default.fileExists(atPath: applier.pendingPath) {
                print("confirmed")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
            if interactive, await Self.finished(typed), await typed.value {
                try? FileManager.default.removeItem(atPath: applier.pendingPath)
                print("confirmed")
                return
            }
        }
        try? FileManager.default.removeItem(atPath: applier.pendingPath)
        do {
            try applier.rollback()
        } catch {
            FileHandle.standardError.write(Data("trabant: not confirmed, and the rollback failed: \(error)\n".utf8))
            throw ExitCode(2)
        }
        FileHandle.standardError.write(Data("trabant: not confirmed within \(Int(confirmWithin)) s: the previous ruleset is back\n".utf8))
        throw ExitCode(3)
    }

    static func finished(_ t: Task<Bool, Never>) async -> Bool {
        await withTaskGroup(of: Bool.self) { g in
            g.addTask { _ = await t.value; return true }
            g.addTask { try? await Task.sleep(for: .milliseconds(1)); return false }
            let first = await g.next() ?? false
            g.cancelAll()
            return first
        }
    }
}

struct FirewallConfirmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm", abstract: "Keep the ruleset that 'trabant firewall apply' is waiting about.")

    @Option(help: "The satellite's data directory.")
    var dataDir: String = "./trabant-data"

    func run() throws {
        let path = dataDir + "/firewall-pending"
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("trabant: no firewall apply is waiting for a confirmation\n".utf8))
            throw ExitCode(1)
        }
        try FileManager.default.removeItem(atPath: path)
        print("confirmed")
    }
}

/// Compares the live ruleset with the model; exit 2 on drift.
struct FirewallVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Compare the live ruleset with the configuration's; report any drift (exit 2).")

    @OptionGroup var policy: PolicyOptions

    @Option(help: "nftables or iptables (default: firewall.backend, else nftables).")
    var backend: FirewallBackend?

    func run() throws {
        let (settings, p) = try policy.load()
        let applier = FirewallApplier(backend: settings.firewall.effective(backend), directory: NSTemporaryDirectory())
        let drift: [String]
        do {
            drift = try applier.drift(p)
        } catch {
            FileHandle.standardError.write(Data("trabant: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if drift.isEmpty {
            print("the live \(applier.backend.rawValue) ruleset matches the configuration")
            return
        }
        print("drift (\(drift.count) lines):")
        for d in drift { print("  \(d)") }
        throw ExitCode(2)
    }
}

struct FirewallShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the live ruleset.")

    @Option(help: "nftables or iptables.")
    var backend: FirewallBackend = .nftables

    func run() throws {
        let applier = FirewallApplier(backend: backend == .iptables ? .iptables : .nftables, directory: NSTemporaryDirectory())
        do {
            print(try applier.live() ?? "(no Trabant ruleset loaded)", terminator: "")
        } catch {
            FileHandle.standardError.write(Data("trabant: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
