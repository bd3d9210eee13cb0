import Foundation
import CallControl
import Logging
import Management
import MediaRelay

/// The satellite's configuration (examples/satellite.yaml documents every key).
public struct SatelliteSettings: Sendable {
    public var media: RelayConfiguration
    public var sip: CallControllerSettings
    public var management: BridgeSettings
    public var firewall: FirewallSettings
    public var log: LogSettings
    /// Where Prometheus scrapes GET /metrics; nil when off.
    public var metrics: (host: String, port: Int)?

    public static let allowedKeys: Set<String> = Set([
        "media.bind", "media.advertise", "media.port_range", "media.port_quarantine", "media.inactivity_timeout",
        "media.max_call_duration", "media.threads", "media.read_batch",
        "metrics.listen",
    ]).union(LogSettings.allowedKeys).union(CallControllerSettings.allowedKeys).union(BridgeSettings.allowedKeys).union(FirewallSettings.allowedKeys)

    public init(_ r: ConfigReader) throws(ConfigError) {
        let d = RelayConfiguration()
        media = RelayConfiguration(
            bindHost: try r.address("media.bind", default: "0.0.0.0")!,
            advertisedHost: try r.address("media.advertise", default: nil),
            portRange: try r.portRange("media.port_range", default: d.portRange),
            portQuarantine: try r.seconds("media.port_quarantine", in: 0...3600, default: d.portQuarantine),
            inactivityTimeout: try r.seconds("media.inactivity_timeout", in: 1...86400, default: d.inactivityTimeout),
            maxCallDuration: try r.seconds("media.max_call_duration", in: 60...(7 * 86400), default: d.maxCallDuration),
            threads: try r.int("media.threads", in: 1...256, default: d.threads),
            readBatch: try r.int("media.read_batch", in: 1...1024, default: d.readBatch))
        log = try LogSettings(r)
        sip = try CallControllerSettings(r, mediaAdvertise: media.advertisedHost)
        management = try BridgeSettings(r, knownNetworks: sip.acl)
        firewall = try FirewallSettings(r)
        metrics = try r.listenAddress("metrics.listen", default: "127.0.0.1:9280", offAllowed: true)
        do {
            try media.validate()
        } catch {
            throw ConfigError(file: r.file, key: "media", error.message)
        }
    }
}

/// The `log:` section every role shares.
public struct LogSettings: Sendable {
    public var level: Logger.Level
    public var format: LogFormat

    public static let allowedKeys: Set<String> = ["log.level", "log.format"]

    public init(level: Logger.Level = .info, format: LogFormat = .text) {
        self.level = level
        self.format = format
    }

    public init(_ r: ConfigReader) throws(ConfigError) {
        let levels = Logger.Level.allCases.map(\.rawValue)
        level = Logger.Level(rawValue: try r.oneOf("log.level", levels, default: "info"))!
        format = LogFormat(rawValue: try r.oneOf("log.format", LogFormat.allCases.map(\.rawValue), default: "text"))!
    }
}
