import CallControl
import Foundation
import PKI
import SDP
import SRTP

/// The settings the server may change over the bridge (ApplyConfig), as persisted in
/// `managed-config.json` (mode 0600) with their version. They override the YAML file's
/// values for the same settings at start.
public struct ManagedConfig: Codable, Sendable, Equatable {
    public var acl: [String]
    public var mediaPortRange: String
    public var ringTimeoutSeconds: Double
    public var mediaInactivityTimeoutSeconds: Double
    public var sessionExpiresSeconds: Int
    public var srtpSuites: [String]
    public var plainRTPNetworks: [String]

    public init(
        acl: [String], mediaPortRange: String, ringTimeoutSeconds: Double, mediaInactivityTimeoutSeconds: Double,
        sessionExpiresSeconds: Int, srtpSuites: [String], plainRTPNetworks: [String]
    ) {
        self.acl = acl
        self.mediaPortRange = mediaPortRange
        self.ringTimeoutSeconds = ringTimeoutSeconds
        self.mediaInactivityTimeoutSeconds = mediaInactivityTimeoutSeconds
        self.sessionExpiresSeconds = sessionExpiresSeconds
        self.srtpSuites = srtpSuites
        self.plainRTPNetworks = plainRTPNetworks
    }

    /// The proto's field names, as an update mask names them.
    public static let fields = [
        "acl", "media_port_range", "ring_timeout_seconds", "media_inactivity_timeout_seconds", "session_expires_seconds",
        "srtp_suites", "plain_rtp_networks",
    ]

    /// This config with the masked fields taken from `change` (all of them for an empty mask).
    public func merged(with change: ManagedConfig, mask: [String]) throws(ConfigProblem) -> ManagedConfig {
        let unknown = mask.filter { !Self.fields.contains($0) }
        guard unknown.isEmpty else {
            throw ConfigProblem(
                "update_mask: unknown field(s) \(unknown.joined(separator: ", ")); allowed: \(Self.fields.joined(separator: ", "))")
        }
        if mask.isEmpty { return change }
        var out = self
        for f in mask {
            switch f {
            case "acl": out.acl = change.acl
            case "media_port_range": out.mediaPortRange = change.mediaPortRange
            case "ring_timeout_seconds": out.ringTimeoutSeconds = change.ringTimeoutSeconds
            case "media_inactivity_timeout_seconds": out.mediaInactivityTimeoutSeconds = change.mediaInactivityTimeoutSeconds
            case "session_expires_seconds": out.sessionExpiresSeconds = change.sessionExpiresSeconds
            case "srtp_suites": out.srtpSuites = change.srtpSuites
            default: out.plainRTPNetworks = change.plainRTPNetworks
            }
        }
        return out
    }

    /// Checks every field; the first problem names the field and what is allowed.
    public func validated() throws(ConfigProblem) -> ValidatedConfig {
        func networks(_ name: String, _ list: [String]) throws(ConfigProblem) -> [CIDR] {
            var out: [CIDR] = []
            for text in list {
                do {
                    out.append(try CIDR(parsing: text))
                } catch {
                    throw ConfigProblem("\(name): \(error)")
                }
            }
            return out
        }
        let acl = try networks("acl", acl)
        guard !acl.isEmpty else {
            throw ConfigProblem("acl: at least one network is needed (an empty ACL would refuse the server itself)")
        }
        let parts = mediaPortRange.split(separator: "-")
        guard parts.count == 2, let lo = UInt16(parts[0]), let hi = UInt16(parts[1]), lo >= 1024, lo < hi else {
            throw ConfigProblem("media_port_range: '\(mediaPortRange)' is not LOW-HIGH with 1024 <= LOW < HIGH <= 65535")
        }
        guard (1...3600).contains(ringTimeoutSeconds) else {
            throw ConfigProblem("ring_timeout_seconds: \(ringTimeoutSeconds) is outside 1...3600")
        }
        guard (1...86400).contains(mediaInactivityTimeoutSeconds) else {
            throw ConfigProblem("media_inactivity_timeout_seconds: \(mediaInactivityTimeoutSeconds) is outside 1...86400")
        }
        guard (90...86400).contains(sessionExpiresSeconds) else {
            throw ConfigProblem("session_expires_seconds: \(sessionExpiresSeconds) is outside 90...86400 (RFC 4028 minimum 90)")
        }
        var suites: [SRTPProfile] = []
        for name in srtpSuites {
            guard let p = SRTPProfile(rawValue: name) else {
                throw ConfigProblem(
                    "srtp_suites: '\(name)' is not a supported suite; allowed: \(SRTPProfile.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            suites.append(p)
        }
        guard !suites.isEmpty else { throw ConfigProblem("srtp_suites: at least one suite is needed") }
        return ValidatedConfig(
            acl: acl, mediaPortRange: lo...hi, ringTimeout: ringTimeoutSeconds, mediaInactivityTimeout: mediaInactivityTimeoutSeconds,
            sessionExpires: sessionExpiresSeconds, srtp: SRTPPolicy(suites: suites),
            plainRTPNetworks: try networks("plain_rtp_networks", plainRTPNetworks))
    }
}

/// A ManagedConfig that passed validation, in the types the relay and controller take.
public struct ValidatedConfig: Sendable {
    public var acl: [CIDR]
    public var mediaPortRange: ClosedRange<UInt16>
    public var ringTimeout: Double
    public var mediaInactivityTimeout: Double
    public var sessionExpires: Int
    public var srtp: SRTPPolicy
    public var plainRTPNetworks: [CIDR]
}

public struct ConfigProblem: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `managed-config.json`: the version and the settings last applied.
public struct ManagedConfigFile: Codable, Sendable, Equatable {
    public var version: UInt64
    public var config: ManagedConfig
    public var appliedAt: Date
}

extension PairingStore {
    var managedConfigPath: String { directory + "/managed-config.json" }

    public func managedConfig() throws(PairingError) -> ManagedConfigFile? {
        guard FileManager.default.fileExists(atPath: managedConfigPath) else { return nil }
        return try read(ManagedConfigFile.self, managedConfigPath)
    }

    public func saveManagedConfig(_ file: ManagedConfigFile) throws(PairingError) {
        try write(file, managedConfigPath)
    }
}
