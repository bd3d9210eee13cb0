import Foundation
import Testing

@testable import Management
@testable import PKI

/// Key rotation over the pinned channel: the old key works until the new one is confirmed,
/// then it is refused.
@Suite("Management: key rotation", .serialized)
struct RotationTests {
    /// A satellite paired with a server whose identity and registry live in `serverDir`.
    static func paired(slot: Int) async throws -> (SatelliteUnderTest, String, SatelliteRecord) {
        let sat = try await SatelliteUnderTest(slot: slot)
        let serverDir = SatelliteUnderTest.tempDir()
        let identity = try IdentityStore(directory: serverDir).loadOrCreate(role: "server").identity
        let client = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: identity, satellitePins: [])
        let (key, release) = try await client.use { try await $0.pair(code: try sat.code(), serverName: "s") }
        let record = SatelliteRecord(
            name: "dmz", host: "127.0.0.1", port: sat.port, fingerprints: [key], pairedAt: Date(), release: release)
        try SatelliteRegistry(directory: serverDir).upsert(record)
        return (sat, serverDir, record)
    }

    @Test func theSatellitesKeyRotatesAndTheOldOneIsGone() async throws {
        let (sat, serverDir, record) = try await Self.paired(slot: 20)
        let server = try IdentityStore(directory: serverDir).loadOrCreate(role: "server").identity
        let old = try #require(record.fingerprints.first)
        let oldCertificate = sat.bridge.identity.certificatePEM

        let rotated = try await KeyRotation.rotateSatellite(record, server: server, registry: SatelliteRegistry(directory: serverDir))
        let new = try #require(rotated.fingerprints.first)
        #expect(new != old)
        #expect(rotated.fingerprints == [new])
        #expect(try SatelliteRegistry(directory: serverDir).all().first?.fingerprints == [new], "persisted")
        #expect(sat.bridge.identity.fingerprint == new)
        // On disk: the new identity, no next one, and the old key is gone.
        let stored = try #require(try IdentityStore(directory: sat.dir).load())
        #expect(stored.fingerprint == new)
        #expect(stored.certificatePEM != oldCertificate)
        #expect(!FileManager.default.fileExists(atPath: sat.dir + "/identity.next.key"))

        // A client that pins only the old key now refuses the satellite.
        let stale = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: server, satellitePins: [old])
        let e = await #expect(throws: BridgeClientError.self) { try await stale.use { try await $0.status() } }
        #expect(e?.message.contains("not pinned") == true, "\(e?.message ?? "")")
        await sat.stop()
    }

    @Test func theServersKeyRotatesAndTheOldOneIsRevoked() async throws {
        let (sat, serverDir, record) = try await Self.paired(slot: 21)
        let store = IdentityStore(directory: serverDir)
        let old = try store.loadOrCreate(role: "server").identity

        let (new, confirmed, pending) = try await KeyRotation.rotateServer(store: store, registry: SatelliteRegistry(directory: serverDir))
        #expect(confirmed == ["dmz"])
        #expect(pending.isEmpty)
        #expect(new.fingerprint != old.fingerprint)
        #expect(try store.load()?.fingerprint == new.fingerprint, "the server uses its new key from now on")
        #expect(sat.bridge.paired?.fingerprints == [new.fingerprint])

        let withNew = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: new, satellitePins: Set(record.fingerprints))
        #expect(try await withNew.use { try await $0.status() }.release == TrabantRelease.current)
        let withOld = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: old, satellitePins: Set(record.fingerprints))
        await #expect(throws: BridgeClientError.self) { try await withOld.use { try await $0.status() } }
        #expect((sat.bridge.refusalCounts["bridge_key_not_pinned"] ?? 0) >= 1)
        await sat.stop()
    }

    @Test func theOldServerKeyCannotConfirmAndStaysValidUntilTheNewOneDoes() async throws {
        let (sat, serverDir, record) = try await Self.paired(slot: 22)
        let old = try IdentityStore(directory: serverDir).loadOrCreate(role: "server").identity
        let next = try Identity.generate(role: "server")
        let c = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: old, satellitePins: Set(record.fingerprints))
        let announced = try await c.use { c in
            let r = try await c.rotate(.serverAnnounce, serverNext: next.fingerprint)
            // Confirming over the old key's connection is refused.
            let refused = await #expect(throws: BridgeClientError.self) { try await c.rotate(.serverConfirm) }
            #expect(refused?.code == .permissionDenied, "\(refused?.message ?? "")")
            #expect(try await c.status().release == TrabantRelease.current, "the old key still works")
            return r
        }
        #expect(Set(announced.serverFingerprints) == [old.fingerprint.hex, next.fingerprint.hex])
        let bad = try BridgeClient(host: "127.0.0.1", port: sat.port, identity: old, satellitePins: Set(record.fingerprints))
        let e = await #expect(throws: BridgeClientError.self) { try await bad.use { try await $0.rotate(.serverAnnounce, serverNextText: "zz") } }
        #expect(e?.message.contains("server_next_fingerprint") == true && e?.message.contains("hex digit") == true, "\(e?.message ?? "")")
        await sat.stop()
    }
}
