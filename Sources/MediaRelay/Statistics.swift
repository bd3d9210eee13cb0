/// A snapshot of one leg.
public struct LegSnapshot: Sendable {
    public var name: String
    public var localPorts: [UInt16]
    public var remote: MediaAddress?
    public var profileIn: String
    public var profileOut: String
    public var stats: LegStatistics
}

/// A snapshot of one call.
public struct CallStatistics: Sendable {
    public var id: String
    public var legs: [LegSnapshot]
    public var ageSeconds: Double
    public var idleSeconds: Double
}

/// Relay-wide counters (exported as metrics).
public struct RelayMetrics: Sendable, Equatable {
    public var callsActive = 0
    public var callsCreated = 0
    public var callsEnded: [CallEndReason: Int] = [:]
    public var portPoolExhausted = 0
    public var portsInUse = 0
    public var portsCapacity = 0
    /// Drops by reason, summed over ended calls.
    public var drops: [RelayDropReason: UInt64] = [:]
    public var packetsRelayed: UInt64 = 0
}

extension CallRuntime {
    func snapshot(now: Double) -> CallStatistics {
        CallStatistics(
            id: core.id,
            legs: core.legs.enumerated().map { i, leg in
                LegSnapshot(
                    name: leg.name, localPorts: ports[i], remote: leg.remote,
                    profileIn: leg.inbound?.profile.rawValue ?? "none", profileOut: leg.outbound?.profile.rawValue ?? "none",
                    stats: leg.stats)
            },
            ageSeconds: now - core.createdAt, idleSeconds: now - core.lastActivity)
    }
}
