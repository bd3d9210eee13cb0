import ArgumentParser
import CallControl
import Firewall
import Foundation
import Logging
import Management
import MediaRelay
import PKI
import ServiceLifecycle
import TrabantConfig

struct SatelliteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "satellite",
        abstract: "The DMZ satellite: SIP call controller, SRTP media relay, management bridge.",
        subcommands: [SatelliteRunCommand.self, PairingCodeCommand.self, UnpairCommand.self],
        defaultSubcommand: SatelliteRunCommand.self)
}

struct SatelliteRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the satellite: the SIP call controller (TCP/TLS, ACL), its SRTP media relay and the "
            + "management bridge (gRPC over mutual TLS 1.3 on port 3280).")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        var (settings, reader) = try options.load(SatelliteSettings.init, allowedKeys: SatelliteSettings.allowedKeys)
        if options.checkConfig {
            print("configuration OK\(reader.file.map { " (\($0))" } ?? " (defaults)")")
            return
        }
        try options.prepareDataDir()
        StderrLogHandler.bootstrap(format: options.logFormat ?? settings.log.format, level: settings.log.level)
        let logger = Logger(label: "trabant.satellite")
        if !reader.overridden.isEmpty {
            logger.info("configuration keys set from the environment", metadata: ["config.keys": "\(reader.overridden)"])
        }
        settings.sip.tlsIdentity = try options.identity(role: "satellite", logger: logger)
        let pins = PinSet()
        settings.sip.serverPins = pins
        let relay = try MediaRelay(configuration: settings.media, logger: Logger(label: "trabant.media"))
        // Per-call media: the firewall's set follows the relay's live ports.
        var firewallState = "unmanaged"
        var portSetTask: Task<Void, Never>?
        if settings.firewall.backend != .none {
            firewallState = "\(settings.firewall.backend.rawValue) \(settings.firewall.mediaMode.rawValue)"
            if settings.firewall.mediaMode == .perCall {
                let set = MediaPortSet(
                    backend: settings.firewall.backend == .nftables ? .nftables : .ipset,
                    elementTimeout: settings.firewall.elementTimeout, logger: Logger(label: "trabant.firewall"))
                relay.onPortsChanged { set.changed(opened: $0, closed: $1) }
                portSetTask = Task { await set.run() }
            }
        }
        let controller = CallController(settings: settings.sip, relay: relay, logger: Logger(label: "trabant.sip"))
        let events = EventHub()
        controller.onEvent { events.publish($0) }
        try await controller.start()
        let bridge = try BridgeServer(
            settings: settings.management, identity: IdentityStore(directory: options.dataDir),
            store: PairingStore(directory: options.dataDir), serverPins: pins, events: events,
            control: SatelliteRuntime(controller: controller, relay: relay, firewallState: { [firewallState] in firewallState }),
            logger: Logger(label: "trabant.bridge"))
        bridge.whenIdentityChanges { identity in
            do {
                try controller.replaceIdentity(identity)
            } catch {
                logger.error("SIP over TLS keeps the old identity until restart", metadata: ["error": "\(error)"])
            }
        }
        try await bridge.start()
        var metricsServer: MetricsServer?
        if let m = settings.metrics {
            metricsServer = try await MetricsServer(
                host: m.host, port: m.port, controller: controller, relay: relay, bridgeRefusals: { bridge.refusalCounts })
            logger.info("metrics at http://\(m.host):\(metricsServer!.port)/metrics")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: relay),
                    .init(service: controller, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await bridge.stop()
        portSetTask?.cancel()
        await metricsServer?.stop()
        logger.info("satellite stopped")
    }
}

/// Shows the one-time pairing code. Local only: it reads the satellite's private data
/// directory, which only the satellite's user can.
struct PairingCodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairing-code",
        abstract: "Show the one-time code that pairs this satellite with a server (run on the satellite).")

    @Option(help: "The satellite's data directory.")
    var dataDir: String = "./trabant-data"

    @Option(help: "How long a new code stays valid, in seconds.")
    var ttl: Double = 900

    func run() throws {
        let store = PairingStore(directory: dataDir)
        do {
            if let paired = try store.paired() {
                print("paired with \(paired.name) at \(paired.address) since \(paired.pairedAt) (key \(paired.fingerprints.first?.shortCode ?? "?"))")
                print("to pair again, run 'trabant satellite unpair' first")
                throw ExitCode(1)
            }
            guard (60...86400).contains(ttl) else {
                throw ValidationError("--ttl must be 60 to 86400 seconds, got \(ttl)")
            }
            guard let (code, expires) = try store.codeToShow(ttl: ttl) else { throw ExitCode(1) }
            let identity = try IdentityStore(directory: dataDir).loadOrCreate(role: "satellite").identity
            print("pairing code:  \(code)")
            print("valid until:   \(ISO8601DateFormatter().string(from: expires)) (single use)")
            print("satellite key: \(identity.fingerprint.shortCode)  (\(identity.fingerprint.hex))")
            print("on the server: trabant pair --satellite <this satellite's address> --code \(code)")
        } catch let e as PairingError {
            FileHandle.standardError.write(Data("trabant: \(e.message)\n".utf8))
            throw ExitCode(1)
        } catch let e as PKIError {
            FileHandle.standardError.write(Data("trabant: identity: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Forgets the paired server: the only way to pair again. Local only.
struct UnpairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpair",
        abstract: "Forget the paired server so that another can pair (run on the satellite).")

    @Option(help: "The satellite's data directory.")
    var dataDir: String = "./trabant-data"

    @Flag(help: "Confirm: the paired server loses access at once.")
    var yes = false

    func run() throws {
        let store = PairingStore(directory: dataDir)
        do {
            guard let paired = try store.paired() else {
                print("not paired")
                return
            }
            guard yes else {
                print("this forgets \(paired.name) at \(paired.address) (key \(paired.fingerprints.first?.shortCode ?? "?")); "
                    + "it loses access at once. Run again with --yes to do it.")
                throw ExitCode(1)
            }
            _ = try store.unpair()
            print("unpaired from \(paired.name); a running satellite shows a new pairing code within a second")
        } catch let e as PairingError {
            FileHandle.standardError.write(Data("trabant: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
