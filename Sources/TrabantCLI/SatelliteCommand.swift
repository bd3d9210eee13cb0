import ArgumentParser
import Foundation
import Logging
import CallControl
import MediaRelay
import PKI
import ServiceLifecycle
import TrabantConfig

struct SatelliteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "satellite",
        abstract: "Run the DMZ satellite: the SIP call controller (TCP/TLS, ACL) and its SRTP media relay. The "
            + "management bridge and firewall follow.")

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
        let relay = try MediaRelay(configuration: settings.media, logger: Logger(label: "trabant.media"))
        let controller = CallController(settings: settings.sip, relay: relay, logger: Logger(label: "trabant.sip"))
        try await controller.start()
        var metricsServer: MetricsServer?
        if let m = settings.metrics {
            metricsServer = try await MetricsServer(host: m.host, port: m.port, controller: controller, relay: relay)
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
        await metricsServer?.stop()
        logger.info("satellite stopped")
    }
}
