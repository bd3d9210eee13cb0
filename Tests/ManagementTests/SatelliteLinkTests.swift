import CallControl
import Foundation
import Synchronization
import Testing

@testable import Management
@testable import PKI

@Suite("Management: the server's link to a satellite", .serialized)
struct SatelliteLinkTests {
    final class Seen: Sendable {
        let kinds = Mutex<[String]>([])
    }

    static func waitFor(_ seconds: Double, _ condition: () async -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return await condition()
    }

    @Test func theLinkReconnectsAfterTheSatelliteRestarts() async throws {
        let dir = SatelliteUnderTest.tempDir()
        let port = 31390  // fixed: the satellite comes back on it; below the ephemeral range
        var sat = try await SatelliteUnderTest(dir: dir, slot: 41, bridgePort: port)
        let server = try ServerSide()
        let (key, release) = try await server.client(sat).use { try await $0.pair(code: try sat.code(), serverName: "s") }
        let record = SatelliteRecord(name: "dmz", host: "127.0.0.1", port: port, fingerprints: [key], pairedAt: Date(), release: release)
        let seen = Seen()
        let link = SatelliteLink(record: record, identity: server.identity, initialBackoff: 0.1, maxBackoff: 1) { e in
            seen.kinds.withLock { $0.append(e.kind) }
        }
        let running = Task { await link.run() }

        #expect(try await Self.waitFor(10) { await link.isOnline })
        #expect(try await Self.waitFor(5) { sat.bridge.events.subscriberCount == 1 })
        sat.bridge.events.publish(ControllerEvent(category: .security, kind: "first"))

        // The satellite goes away: the link notices and keeps trying.
        await sat.stop()
        #expect(try await Self.waitFor(10) { if case .offline = await link.state { true } else { false } })

        // Back (same identity, same pairing): the link reconnects by itself.
        sat = try await SatelliteUnderTest(dir: dir, slot: 41, bridgePort: port)
        #expect(try await Self.waitFor(15) { await link.isOnline && sat.bridge.events.subscriberCount == 1 })
        #expect(await link.connections == 2)
        sat.bridge.events.publish(ControllerEvent(category: .security, kind: "second"))
        #expect(try await Self.waitFor(5) { seen.kinds.withLock { $0.contains("second") } })
        #expect(seen.kinds.withLock { $0 }.filter { $0 == "first" || $0 == "second" } == ["first", "second"])

        running.cancel()
        await sat.stop()
        _ = await running.value
    }
}
