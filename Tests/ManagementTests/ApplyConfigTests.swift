import Foundation
import Testing

@testable import Management
@testable import PKI

/// ApplyConfig: validated as a whole, applied to the running relay and controller at once,
/// persisted, versioned; a stale version or a bad value changes nothing.
@Suite("Management: ApplyConfig", .serialized)
struct ApplyConfigTests {
    static func pairedClient(_ sat: SatelliteUnderTest) async throws -> BridgeClient {
        let server = try ServerSide()
        let c = try server.client(sat)
        _ = try await c.pair(code: try sat.code(), serverName: "s")
        return c
    }

    @Test func changesAreValidatedAppliedPersistedAndVersioned() async throws {
        let dir = SatelliteUnderTest.tempDir()
        var sat = try await SatelliteUnderTest(dir: dir, slot: 30)
        let client = try await Self.pairedClient(sat)
        let (v0, before) = try await client.config()
        #expect(v0 == 0)
        #expect(before.acl == ["127.0.0.1/32"])
        #expect(before.mediaPortRange == "59000-59099")

        var change = before
        change.acl = ["127.0.0.1/32", "10.20.0.0/16"]
        change.mediaPortRange = "59100-59149"
        change.ringTimeoutSeconds = 45
        change.srtpSuites = ["AEAD_AES_256_GCM"]
        change.plainRTPNetworks = ["10.20.30.0/24"]
        let (v1, applied) = try await client.apply(change, expectedVersion: 0)
        #expect(v1 == 1)
        #expect(applied == change)
        // Running parts follow at once.
        #expect(sat.relay.tunables.portRange == 59100...59149)
        #expect(sat.relay.metrics.portsCapacity == 50)
        let sip = await sat.controller.tunables()
        #expect(sip.acl.map(\.description) == ["127.0.0.1/32", "10.20.0.0/16"])
        #expect(sip.ringTimeout == 45)
        #expect(sip.srtp.suites.map(\.rawValue) == ["AEAD_AES_256_GCM"])
        #expect(sip.plainRTPNetworks.map(\.description) == ["10.20.30.0/24"])
        #expect(try await client.status().configVersion == 1)

        // A stale version is refused; nothing changes.
        var stale = change
        stale.ringTimeoutSeconds = 99
        let e1 = await #expect(throws: BridgeClientError.self) { try await client.apply(stale, expectedVersion: 0) }
        #expect(e1?.code == .aborted, "\(e1?.message ?? "")")
        #expect(await sat.controller.tunables().ringTimeout == 45)

        // One bad field refuses the whole change, naming it and what is allowed.
        var bad = change
        bad.ringTimeoutSeconds = 30
        bad.srtpSuites = ["F8_128_HMAC_SHA1_80"]
        let e2 = await #expect(throws: BridgeClientError.self) { try await client.apply(bad, expectedVersion: 1) }
        #expect(e2?.code == .invalidArgument)
        #expect(e2?.message.contains("srtp_suites") == true && e2?.message.contains("AEAD_AES_128_GCM") == true, "\(e2?.message ?? "")")
        #expect(await sat.controller.tunables().ringTimeout == 45, "the good field of a bad change is not applied either")
        for (field, value) in [("media_port_range", "80-90"), ("acl", "lan")] {
            var b = change
            if field == "acl" { b.acl = [value] } else { b.mediaPortRange = value }
            let e = await #expect(throws: BridgeClientError.self) { try await client.apply(b, expectedVersion: 1) }
            #expect(e?.message.contains(field) == true, "\(e?.message ?? "")")
        }

        // A mask changes only the named fields.
        var partial = change
        partial.ringTimeoutSeconds = 20
        partial.acl = []
        let (v2, masked) = try await client.apply(partial, mask: ["ring_timeout_seconds"], expectedVersion: 1)
        #expect(v2 == 2)
        #expect(masked.ringTimeoutSeconds == 20)
        #expect(masked.acl == change.acl, "not in the mask: kept")
        let unknown = await #expect(throws: BridgeClientError.self) { try await client.apply(partial, mask: ["ringtime"], expectedVersion: 2) }
        #expect(unknown?.message.contains("allowed: acl") == true)
        await client.close()

        // Persisted: a restarted satellite comes up with version 2's settings.
        await sat.stop()
        sat = try await SatelliteUnderTest(dir: dir, slot: 30)
        try await sat.bridge.restoreManagedConfig()
        #expect(sat.relay.tunables.portRange == 59100...59149)
        #expect(await sat.controller.tunables().ringTimeout == 20)
        let (v, _) = try await sat.bridge.managedConfig()
        #expect(v == 2)
        var st = stat()
        stat(dir + "/managed-config.json", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        await sat.stop()
    }

    /// The satellite's own state cannot be read or written: a clear internal error naming the
    /// file, not gRPC's anonymous "unknown", and nothing changes.
    @Test func aBrokenSettingsFileIsAClearErrorAndChangesNothing() async throws {
        let dir = SatelliteUnderTest.tempDir()
        let sat = try await SatelliteUnderTest(dir: dir, slot: 31)
        let client = try await Self.pairedClient(sat)
        let (_, before) = try await client.config()
        try FileManager.default.createDirectory(atPath: dir + "/managed-config.json", withIntermediateDirectories: true)
        var change = before
        change.ringTimeoutSeconds = 50
        let e = await #expect(throws: BridgeClientError.self) { try await client.apply(change, expectedVersion: 0) }
        #expect(e?.code == .internalError, "\(String(describing: e?.code)) \(e?.message ?? "")")
        #expect(e?.message.contains("managed-config.json") == true, "\(e?.message ?? "")")
        #expect(await sat.controller.tunables().ringTimeout != 50)
        await client.close()
        await sat.stop()
    }
}
