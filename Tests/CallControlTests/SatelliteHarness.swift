import CallControl
import Foundation
import Logging
import MediaRelay
import PKI
import SDP
import Testing

/// A satellite in the test process: the media relay and the call controller on loopback,
/// with the controller on a free port and media ports from the test's own range.
final class SatelliteHarness: Sendable {
    let relay: MediaRelay
    let controller: CallController
    let port: Int

    /// `slot` picks a private range of media ports (61000+ is the relay tests' own).
    init(slot: Int, acl: [String] = ["127.0.0.1/32"], targetACL: [String]? = nil, limits: AccessGate.Limits = .init(),
         ringTimeout: Double = 30, tls: (certificate: String, key: String)? = nil, plainRTPNetworks: [String] = [],
         identity: Identity? = nil, serverPins: PinSet = PinSet()
    ) async throws {
        var media = RelayConfiguration()
        media.bindHost = "127.0.0.1"
        let low = UInt16(50000 + slot * 200)
        media.portRange = low...(low + 199)
        media.portQuarantine = 0
        relay = try MediaRelay(configuration: media, logger: Logger(label: "test.media"))
        let networks = try acl.map { try CIDR(parsing: $0) }
        let targets = try (targetACL ?? acl).map { try CIDR(parsing: $0) }
        var logger = Logger(label: "test.sip")
        logger.logLevel = .warning
        var core = CoreSettings(advertisedHost: "127.0.0.1", advertisedPort: 0, targetNetworks: targets, ringTimeout: ringTimeout)
        core.plainRTPNetworks = try plainRTPNetworks.map { try CIDR(parsing: $0) }
        core.advertisedTLSPort = 0  // the bound one
        var settings = CallControllerSettings(
            bindHost: "127.0.0.1", tcpPort: 0, tlsPort: 0, tlsCertificatePath: tls?.certificate, tlsKeyPath: tls?.key,
            acl: networks, limits: limits, core: core, drainTimeout: 5)
        settings.tlsIdentity = identity
        settings.serverPins = serverPins
        controller = CallController(settings: settings, relay: relay, logger: logger)
        port = try await controller.start()["tcp"]!
    }

    func stop() async {
        await controller.stop()
        await relay.shutdown()
    }
}

