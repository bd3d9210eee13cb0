import Foundation
import PKI

/// Key rotation from the server's side, over the pinned channel: the old key stays valid
/// until the new one has been used once, then it is revoked.
public enum KeyRotation {
    /// The satellite's key: the satellite makes its next key, the server pins it beside the
    /// current one, the satellite switches, and a fresh connection with only the new pin
    /// proves it. The registry then holds the new key only.
    public static func rotateSatellite(
        _ record: SatelliteRecord, server: Identity, registry: SatelliteRegistry
    ) async throws -> SatelliteRecord {
        let pinned = try BridgeClient(host: record.host, port: record.port, identity: server, satellitePins: Set(record.fingerprints))
        var updated = record
        let next = try await pinned.use { c in
            let prepared = try await c.rotate(.satellitePrepare)
            let next = try Fingerprint(hex: prepared.satelliteFingerprint)
            if !updated.fingerprints.contains(next) { updated.fingerprints.append(next) }
            try registry.upsert(updated)  // both keys until the new one answered
            let committed = try await c.rotate(.satelliteCommit)
            guard committed.satelliteFingerprint == next.hex else {
                throw BridgeClientError("the satellite committed \(committed.satelliteFingerprint.prefix(16))…, not the prepared key")
            }
            return next
        }
        let status = try await BridgeClient(host: record.host, port: record.port, identity: server, satellitePins: [next])
            .use { try await $0.status() }
        guard status.satelliteFingerprint == next.hex else {
            throw BridgeClientError("after the rotation the satellite presents another key")
        }
        updated.fingerprints = [next]
        try registry.upsert(updated)
        return updated
    }

    /// The server's key: every satellite is told the next key, the server switches to it, and
    /// each satellite revokes the old one when the new one confirms. A satellite that cannot
    /// be reached keeps both keys until `confirm` reaches it later.
    public static func rotateServer(
        store: IdentityStore, registry: SatelliteRegistry
    ) async throws -> (identity: Identity, confirmed: [String], pending: [String: String]) {
        let current = try store.loadOrCreate(role: "server").identity
        let nextStore = IdentityStore(directory: store.directory, name: store.name + ".next")
        let next: Identity
        if let prepared = try nextStore.load() {
            next = prepared
        } else {
            next = try Identity.generate(role: "server")
            try nextStore.save(next)
        }
        let records = try registry.all()
        for r in records {
            _ = try await BridgeClient(host: r.host, port: r.port, identity: current, satellitePins: Set(r.fingerprints))
                .use { try await $0.rotate(.serverAnnounce, serverNext: next.fingerprint) }
        }
        // Every satellite accepts both keys now: switch.
        try store.save(next)
        nextStore.remove()
        var confirmed: [String] = []
        var pending: [String: String] = [:]
        for r in records {
            do {
                try await confirm(r, identity: next)
                confirmed.append(r.name)
            } catch {
                pending[r.name] = "\(error)"
            }
        }
        return (next, confirmed, pending)
    }

    /// Revokes the server's old key on one satellite, over a connection made with the new key.
    public static func confirm(_ record: SatelliteRecord, identity: Identity) async throws {
        let r = try await BridgeClient(host: record.host, port: record.port, identity: identity, satellitePins: Set(record.fingerprints))
            .use { try await $0.rotate(.serverConfirm) }
        guard r.serverFingerprints == [identity.fingerprint.hex] else {
            throw BridgeClientError("the satellite still accepts \(r.serverFingerprints.count) server keys")
        }
    }
}
