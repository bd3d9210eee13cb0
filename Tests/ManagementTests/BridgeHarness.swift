import CallControl
import Foundation
import Logging
import Management
import MediaRelay
import PKI

/// A satellite with a real call controller and media relay on loopback, and its bridge on
/// a free port; its data directory is private to the test.
final class SatelliteUnderTest: Sendable {
    let dir: String
    let relay: MediaRelay
    let controller: CallController
    let bridge: BridgeServer
    let port: Int
    let sipPort: Int

    init(
        dir: String? = nil, slot: Int, pairing: PairingMode = .code, codeTTL: Double = 900,
        unpairedSources: [String] = ["127.0.0.0/8"], release: String = TrabantRelease.current,
        targetACL: [String] = ["127.0.0.1/32"], bridgePort: Int = 0
    ) async throws {
        let dir = dir ?? Self.tempDir()
        self.dir = dir
        var media = RelayConfiguration()
        media.bindHost = "127.0.0.1"
        let low = UInt16(56000 + slot * 100)
        media.portRange = low...(low + 99)
        media.portQuarantine = 0
        relay = try MediaRelay(configuration: media, logger: Logger(label: "test.media"))
        var logger = Logger(label: "test.bridge")
        logger.logLevel = .warning
        let pins = PinSet()
        var sip = CallControllerSettings(
            bindHost: "127.0.0.1", tcpPort: 0, tlsPort: 0, acl: try targetACL.map { try CIDR(parsing: $0) },
            core: CoreSettings(advertisedHost: "127.0.0.1", advertisedPort: 0, targetNetworks: try targetACL.map { try CIDR(parsing: $0) }),
            drainTimeout: 5)
        sip.serverPins = pins
        controller = CallController(settings: sip, relay: relay, logger: logger)
        sipPort = try await controller.start()["tcp"]!
        let settings = BridgeSettings(
            host: "127.0.0.1", port: bridgePort, pairing: pairing, codeTTL: codeTTL,
            unpairedSources: try unpairedSources.map { try CIDR(parsing: $0) }, release: release)
        let events = EventHub()
        controller.onEvent { events.publish($0) }
        bridge = try BridgeServer(
            settings: settings, identity: IdentityStore(directory: dir), store: PairingStore(directory: dir), serverPins: pins,
            events: events, control: SatelliteRuntime(controller: controller, relay: relay), logger: logger)
        port = try await bridge.start()
    }

    static func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("trabant-bridge-\(UUID().uuidString)").path
    }

    /// The code an operator reads on the satellite (`trabant satellite pairing-code`).
    func code() throws -> PairingCode {
        guard let (code, _) = try bridge.store.codeToShow(ttl: bridge.settings.codeTTL) else {
            throw PairingError(.alreadyPaired, "paired")
        }
        return code
    }

    func stop() async {
        await bridge.stop()
        await controller.stop()
        await relay.shutdown()
    }
}

/// A server's identity and a client to the satellite.
struct ServerSide {
    let identity: Identity

    init() throws { identity = try Identity.generate(role: "server") }

    func client(_ sat: SatelliteUnderTest, pins: Set<Fingerprint> = [], release: String = TrabantRelease.current) throws
        -> BridgeClient
    {
        try BridgeClient(host: "127.0.0.1", port: sat.port, identity: identity, satellitePins: pins, release: release)
    }
}
