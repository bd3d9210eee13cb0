import CallControl
import Foundation
import MediaRelay

/// What the bridge reads from and does to the running satellite.
public protocol SatelliteControl: Sendable {
    func status() async -> ControlStatus
    func calls() async -> [CallSnapshot]
    func packets(call: String) async -> [(received: UInt64, sent: UInt64)]
    func hangUp(call: String) async -> Bool
    func drain(seconds: Double) async -> Int
    /// The managed settings as they are now.
    func currentConfig() async -> ManagedConfig
    /// Applies validated settings to the running relay and controller.
    func apply(_ config: ValidatedConfig) async throws
}

public struct ControlStatus: Sendable {
    public var activeCalls: Int
    public var portsInUse: Int
    public var portsTotal: Int
    public var draining: Bool
    public var firewallState: String

    public init(activeCalls: Int, portsInUse: Int, portsTotal: Int, draining: Bool, firewallState: String) {
        self.activeCalls = activeCalls
        self.portsInUse = portsInUse
        self.portsTotal = portsTotal
        self.draining = draining
        self.firewallState = firewallState
    }
}

/// The satellite's call controller and media relay behind the bridge.
public struct SatelliteRuntime: SatelliteControl {
    public let controller: CallController
    public let relay: MediaRelay
    /// What GetStatus says of the firewall ("unmanaged", "nftables per-call", …).
    public let firewallState: @Sendable () -> String

    public init(controller: CallController, relay: MediaRelay, firewallState: @escaping @Sendable () -> String = { "unmanaged" }) {
        self.controller = controller
        self.relay = relay
        self.firewallState = firewallState
    }

    public func status() async -> ControlStatus {
        let m = relay.metrics
        return ControlStatus(
            activeCalls: await controller.activeCalls(), portsInUse: Int(m.portsInUse),
            portsTotal: relay.configuration.portRange.count, draining: await controller.isDraining,
            firewallState: firewallState())
    }

    public func calls() async -> [CallSnapshot] { await controller.calls() }

    public func packets(call: String) async -> [(received: UInt64, sent: UInt64)] {
        guard let stats = try? await relay.statistics(callID: call) else { return [] }
        return stats.legs.map { ($0.stats.packetsReceived, $0.stats.packetsSent) }
    }

    public func hangUp(call: String) async -> Bool { await controller.hangUp(call: call) }

    public func drain(seconds: Double) async -> Int {
        await controller.beginDrain(seconds: seconds)
        return await controller.activeCalls()
    }

    public func currentConfig() async -> ManagedConfig {
        let sip = await controller.tunables()
        let media = relay.tunables
        return ManagedConfig(
            acl: sip.acl.map(\.description), mediaPortRange: "\(media.portRange.lowerBound)-\(media.portRange.upperBound)",
            ringTimeoutSeconds: sip.ringTimeout, mediaInactivityTimeoutSeconds: media.inactivityTimeout,
            sessionExpiresSeconds: sip.sessionExpires, srtpSuites: sip.srtp.suites.map(\.rawValue),
            plainRTPNetworks: sip.plainRTPNetworks.map(\.description))
    }

    public func apply(_ c: ValidatedConfig) async throws {
        // The relay's check is the only one that can still fail: it goes first.
        try relay.reconfigure(.init(portRange: c.mediaPortRange, inactivityTimeout: c.mediaInactivityTimeout))
        await controller.reconfigure(
            .init(acl: c.acl, ringTimeout: c.ringTimeout, sessionExpires: c.sessionExpires, srtp: c.srtp,
                plainRTPNetworks: c.plainRTPNetworks))
    }
}
