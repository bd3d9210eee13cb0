import Foundation
import CallControl
import GRPCCore
import Testing

@testable import Management
@testable import PKI

/// Pairing over the real bridge: gRPC, mutual TLS 1.3, loopback.
@Suite("Management: pairing over the bridge", .serialized)
struct PairingBridgeTests {
    @Test func pairOnceThenOnlyThatServer() async throws {
        let sat = try await SatelliteUnderTest(slot: 0)
        let server = try ServerSide()
        let code = try sat.code()

        // Before pairing nothing but Pair is served.
        let early = try server.client(sat)
        let refused = await #expect(throws: BridgeClientError.self) { try await early.status() }
        #expect(refused?.message.contains("not paired") == true)
        await early.close()

        let client = try server.client(sat)
        let (satelliteKey, release) = try await client.pair(code: code, serverName: "lan-server")
        #expect(satelliteKey == sat.bridge.identity.fingerprint, "the key the satellite presents is its identity")
        #expect(release == TrabantRelease.current)
        let paired = try #require(sat.bridge.paired)
        #expect(paired.fingerprints == [server.identity.fingerprint])
        #expect(paired.address == "127.0.0.1")
        #expect(paired.name == "lan-server")
        #expect(sat.bridge.serverPins.contains(server.identity.fingerprint), "SIP over TLS pins the server too")

        let status = try await client.status()
        #expect(status.release == TrabantRelease.current)
        #expect(status.satelliteFingerprint == satelliteKey.hex)
        #expect(status.portsTotal == 100)
        #expect(status.firewallState == "unmanaged")
        #expect(status.load.count == 3)
        await client.close()

        // A second server with its own key: the handshake fails, counted.
        let other = try ServerSide()
        let intruder = try other.client(sat, pins: [satelliteKey])
        let denied = await #expect(throws: BridgeClientError.self) { try await intruder.status() }
        #expect(denied != nil)
        #expect((sat.bridge.refusalCounts["bridge_key_not_pinned"] ?? 0) >= 1)
        let metrics = PrometheusText.render(await sat.controller.snapshot(), relay: sat.relay.metrics, bridgeRefusals: sat.bridge.refusalCounts)
        #expect(metrics.contains("trabant_bridge_refusals_total{kind=\"bridge_key_not_pinned\"}"), "\(metrics)")
        // And it cannot pair either, not even with a code.
        let pairAgain = await #expect(throws: BridgeClientError.self) {
            try await other.client(sat).pair(code: code, serverName: "x")
        }
        #expect(pairAgain?.message.contains("refused this server's key") == true)
        await intruder.close()
        await sat.stop()
    }

    @Test func wrongCodeIsRefusedAndNothingIsPinned() async throws {
        let sat = try await SatelliteUnderTest(slot: 1)
        let server = try ServerSide()
        _ = try sat.code()
        let client = try server.client(sat)
        let wrong = await #expect(throws: BridgeClientError.self) {
            try await client.pair(code: PairingCode.random(), serverName: "s")
        }
        #expect(wrong?.code == .permissionDenied)
        #expect(wrong?.message.contains("attempts left") == true)
        #expect(sat.bridge.paired == nil)
        #expect(sat.bridge.refusalCounts["pairing_refused"] == 1)
        await client.close()
        await sat.stop()
    }

    /// A man in the middle that terminates TLS on both sides and relays every byte: the
    /// proof the server computes (over the relay's key) does not fit what the satellite sees.
    @Test func aManInTheMiddleCannotRelayThePairing() async throws {
        let sat = try await SatelliteUnderTest(slot: 7)
        let relay = try await TLSRelay(to: sat.port)
        let server = try ServerSide()
        let code = try sat.code()
        let client = try BridgeClient(host: "127.0.0.1", port: relay.port, identity: server.identity, satellitePins: [])
        let e = await #expect(throws: BridgeClientError.self) { try await client.pair(code: code, serverName: "s") }
        #expect(e?.message.contains("wrong pairing proof") == true, "\(e?.message ?? "")")
        #expect(client.satelliteKeys.first != sat.bridge.identity.fingerprint, "the client saw the relay's key")
        #expect(sat.bridge.paired == nil, "nothing was pinned")
        #expect(sat.bridge.refusalCounts["pairing_refused"] == 1)
        await client.close()
        relay.stop()
        // The same code still pairs the real server directly (one failure is not a burn).
        let direct = try server.client(sat)
        _ = try await direct.pair(code: code, serverName: "s")
        #expect(sat.bridge.paired?.fingerprints == [server.identity.fingerprint])
        await direct.close()
        await sat.stop()
    }

    @Test func theRightKeyFromAnotherAddressIsClosedBeforeTLS() async throws {
        let sat = try await SatelliteUnderTest(slot: 2)
        let server = try ServerSide()
        let client = try server.client(sat)
        let (satelliteKey, _) = try await client.pair(code: try sat.code(), serverName: "s")
        await client.close()
        // The server is recorded at another address (it paired from 127.0.0.2).
        var record = try #require(try sat.bridge.store.paired())
        record.address = "127.0.0.2"
        try sat.bridge.store.save(record)
        try sat.bridge.reload()

        let again = try server.client(sat, pins: [satelliteKey])
        await #expect(throws: BridgeClientError.self) { try await again.status() }
        #expect((sat.bridge.refusalCounts["bridge_source_refused"] ?? 0) >= 1)
        #expect(sat.bridge.refusalCounts["bridge_key_not_pinned"] == nil, "closed before the handshake: no key was seen")
        await again.close()
        await sat.stop()
    }

    @Test func unpairLocallyThenPairAnotherServer() async throws {
        let sat = try await SatelliteUnderTest(slot: 3)
        let first = try ServerSide()
        let c1 = try first.client(sat)
        let (satelliteKey, _) = try await c1.pair(code: try sat.code(), serverName: "first")
        await c1.close()

        // `trabant satellite unpair` on the satellite: the files change, the bridge follows.
        #expect(try sat.bridge.store.unpair()?.name == "first")
        let deadline = Date().addingTimeInterval(5)
        while sat.bridge.paired != nil, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(sat.bridge.paired == nil)

        let second = try ServerSide()
        let c2 = try second.client(sat)
        _ = try await c2.pair(code: try sat.code(), serverName: "second")
        #expect(try await c2.status().satelliteFingerprint == satelliteKey.hex)
        await c2.close()
        // The first server is out now.
        let old = try first.client(sat, pins: [satelliteKey])
        await #expect(throws: BridgeClientError.self) { try await old.status() }
        await old.close()
        await sat.stop()
    }

    @Test func bothSidesRestartedKeepTheirPairing() async throws {
        let dir = SatelliteUnderTest.tempDir()
        let server = try ServerSide()
        var sat = try await SatelliteUnderTest(dir: dir, slot: 4)
        let c = try server.client(sat)
        let (satelliteKey, _) = try await c.pair(code: try sat.code(), serverName: "s")
        await c.close()
        await sat.stop()

        sat = try await SatelliteUnderTest(dir: dir, slot: 4)
        #expect(sat.bridge.identity.fingerprint == satelliteKey, "the same identity from disk")
        #expect(sat.bridge.paired?.fingerprints == [server.identity.fingerprint])
        let again = try server.client(sat, pins: [satelliteKey])
        #expect(try await again.status().satelliteFingerprint == satelliteKey.hex)
        await again.close()
        await sat.stop()
    }

    @Test func aDifferentMajorReleaseIsRefusedNamingBoth() async throws {
        let sat = try await SatelliteUnderTest(slot: 5, release: "1.2.0")
        let server = try ServerSide()
        let client = try server.client(sat, release: "2.0.1")
        let e = await #expect(throws: BridgeClientError.self) { try await client.pair(code: try sat.code(), serverName: "s") }
        #expect(e?.message.contains("1.2.0") == true && e?.message.contains("2.0.1") == true, "\(e?.message ?? "")")
        #expect(sat.bridge.paired == nil)
        await client.close()
        // The same major pairs.
        let same = try server.client(sat, release: "1.9.3")
        _ = try await same.pair(code: try sat.code(), serverName: "s")
        await same.close()
        await sat.stop()
    }

    @Test func trustOnFirstUsePairsWithoutACode() async throws {
        let sat = try await SatelliteUnderTest(slot: 6, pairing: .trustOnFirstUse)
        let server = try ServerSide()
        let client = try server.client(sat)
        _ = try await client.pair(code: nil, serverName: "tofu")
        #expect(sat.bridge.paired?.fingerprints == [server.identity.fingerprint])
        #expect(try await client.status().release == TrabantRelease.current)
        await client.close()
        await sat.stop()
    }
}
