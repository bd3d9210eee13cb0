import ArgumentParser
import Foundation
import Logging
import Metrics
import PKI
import Push
import PushRelay
import ServiceLifecycle
import TrabantConfig

/// `trabant push-relay`: the vendor's push service for customers without their own
/// Apple/Google credentials. It holds the provider credentials, accepts only registered
/// servers (mutual TLS, their keys), sees only sealed notices, and limits each server's rate.
struct PushRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push-relay",
        abstract: "The push relay: forwards registered servers' sealed pushes to APNs and FCM.",
        subcommands: [PushRelayRunCommand.self, PushRelayAddCommand.self, PushRelayRemoveCommand.self, PushRelayListCommand.self],
        defaultSubcommand: PushRelayRunCommand.self)
}

struct PushRelayRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the relay (HTTP/2 over TLS 1.3, client certificates of registered servers only).")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        let (settings, reader) = try options.load(PushRelaySettings.init, allowedKeys: PushRelaySettings.allowedKeys)
        if options.checkConfig {
            print("configuration OK\(reader.file.map { " (\($0))" } ?? " (defaults)")")
            return
        }
        try options.prepareDataDir()
        StderrLogHandler.bootstrap(format: options.logFormat ?? settings.log.format, level: settings.log.level)
        let logger = Logger(label: "trabant.push-relay")
        let servers = RelayServers(directory: options.dataDir)
        do {
            let registered = try servers.current()
            if registered.isEmpty {
                logger.warning("no server is registered yet: every connection is refused (trabant push-relay add-server)")
            }
        } catch {
            FileHandle.standardError.write(Data("trabant: \(error)\n".utf8))
            throw ExitCode(78)
        }
        // The relay tries each push once and hands Retry-After back: the server retries, within
        // its ring time, so a push is never in flight twice.
        var push = settings.push
        push.retry = RetryPolicy(attempts: 1)
        // And answers within half the server's own request timeout (20 s), so that the server
        // does not give up and send again while the relay still waits for the provider.
        push.requestTimeout = 10
        push.stateDirectory = options.dataDir
        let sender = try PushSender(settings: push, logger: Logger(label: "trabant.push"))
        let service = RelayService(servers: servers, logger: logger)
        let server: PushRelayServer
        var metrics: MetricsEndpoint?
        do {
            server = try await PushRelayServer(
                host: settings.host, port: settings.port, certificateChain: settings.certificateChain, key: settings.key,
                service: service, sender: sender, logger: logger)
            logger.info("push relay listening", metadata: ["relay.listen": "\(settings.host):\(server.port)"])
            if let m = settings.metrics {
                do {
                    metrics = try await MetricsEndpoint(host: m.host, port: m.port) { service.metrics(pushCounters: sender.counters) }
                } catch {
                    await server.stop()
                    throw error
                }
                logger.info("metrics at http://\(m.host):\(metrics!.port)/metrics")
            }
        } catch {
            try? await sender.shutdown()
            FileHandle.standardError.write(Data("trabant: the push relay cannot listen: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: WaitForSignal())], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await server.stop()
        await metrics?.stop()
        try await sender.shutdown()
        logger.info("push relay stopped")
    }
}

/// Runs until the service group is told to stop (SIGTERM, SIGINT).
struct WaitForSignal: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

struct PushRelayAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-server", abstract: "Register a server's key (from 'trabant push key' on that server), or change its limits.")

    @Option(help: "The relay's data directory.") var dataDir: String = "./trabant-data"
    @Option(help: "A name for the server (the customer): letters, digits, '-', '_', '.'.") var name: String
    @Option(help: "The server's key: sha256:HEX (64 hex digits).") var fingerprint: String
    @Option(help: "Pushes per second this server may send on average.") var perSecond: Double = 100
    @Option(help: "Pushes this server may send at once above its rate.") var burst: Double = 200

    func run() throws {
        do {
            let text = fingerprint.hasPrefix("sha256:") ? String(fingerprint.dropFirst(7)) : fingerprint
            let f = try Fingerprint(hex: text)
            try RelayServers(directory: dataDir).add(RegisteredServer(name: name, fingerprint: f, perSecond: perSecond, burst: burst))
            print("registered \(name) (\(f.shortCode)): \(perSecond)/s, burst \(Int(burst))")
        } catch let e as PKIError {
            FileHandle.standardError.write(Data("trabant: --fingerprint: \(e.message)\n".utf8))
            throw ExitCode(1)
        } catch let e as RelayError {
            FileHandle.standardError.write(Data("trabant: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct PushRelayRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-server", abstract: "Unregister a server: refused from its next request on.")

    @Option(help: "The relay's data directory.") var dataDir: String = "./trabant-data"
    @Option(help: "The server's name.") var name: String

    func run() throws {
        do {
            guard try RelayServers(directory: dataDir).remove(name: name) else {
                FileHandle.standardError.write(Data("trabant: no server named '\(name)' is registered\n".utf8))
                throw ExitCode(1)
            }
            print("removed \(name)")
        } catch let e as RelayError {
            FileHandle.standardError.write(Data("trabant: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct PushRelayListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "servers", abstract: "List the registered servers.")

    @Option(help: "The relay's data directory.") var dataDir: String = "./trabant-data"

    func run() throws {
        do {
            let all = try RelayServers(directory: dataDir).current()
            if all.isEmpty { print("no server is registered") }
            for s in all { print("\(s.name)\t\(s.fingerprint)\t\(s.perSecond)/s burst \(Int(s.burst))") }
        } catch {
            FileHandle.standardError.write(Data("trabant: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
