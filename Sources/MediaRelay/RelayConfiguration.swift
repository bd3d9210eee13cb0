import Foundation
import SRTP

/// Settings of the media relay (the `media:` section of the satellite's config).
public struct RelayConfiguration: Sendable {
    /// Address the media sockets bind to.
    public var bindHost: String
    /// Address told to remotes in SDP (the public address in a DMZ); default: `bindHost`.
    public var advertisedHost: String?
    public var portRange: ClosedRange<UInt16>
    /// Seconds a released port may not be reused.
    public var portQuarantine: Double
    /// A call with no authenticated packet on any leg for this long is ended.
    public var inactivityTimeout: Double
    /// A call older than this is ended, whatever its traffic.
    public var maxCallDuration: Double
    /// How often timeouts are checked.
    public var sweepInterval: Double
    /// Event loops (threads) that carry media; calls are spread over them.
    public var threads: Int
    /// Datagrams read per system call (recvmmsg).
    public var readBatch: Int
    /// Which SRTP implementation the relay uses (docs/srtp-crypto.md).
    public var srtpEngine: SRTPCryptoEngine

    public init(
        bindHost: String = "127.0.0.1", advertisedHost: String? = nil, portRange: ClosedRange<UInt16> = 40000...49999,
        portQuarantine: Double = 5, inactivityTimeout: Double = 60, maxCallDuration: Double = 4 * 3600,
        sweepInterval: Double = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount, readBatch: Int = 32,
        srtpEngine: SRTPCryptoEngine = .default
    ) {
        self.bindHost = bindHost
        self.advertisedHost = advertisedHost
        self.portRange = portRange
        self.portQuarantine = portQuarantine
        self.inactivityTimeout = inactivityTimeout
        self.maxCallDuration = maxCallDuration
        self.sweepInterval = sweepInterval
        self.threads = threads
        self.readBatch = readBatch
        self.srtpEngine = srtpEngine
    }

    /// Checks the settings; the error names the key and what is allowed.
    public func validate() throws(RelayError) {
        guard MediaAddress(host: bindHost, port: 0) != nil else {
            throw RelayError(.badRequest, "media.bind: '\(bindHost)' is not an IPv4 or IPv6 address")
        }
        if let a = advertisedHost, MediaAddress(host: a, port: 0) == nil {
            throw RelayError(.badRequest, "media.advertise: '\(a)' is not an IPv4 or IPv6 address")
        }
        guard portRange.lowerBound >= 1024, portRange.count >= 2 else {
            throw RelayError(
                .badRequest,
                "media.port_range: \(portRange.lowerBound)-\(portRange.upperBound) must lie within 1024-65535 and hold "
                    + "at least 2 ports")
        }
        guard inactivityTimeout > 0, maxCallDuration > 0, sweepInterval > 0, portQuarantine >= 0 else {
            throw RelayError(.badRequest, "media timeouts must be positive numbers of seconds")
        }
        guard (1...256).contains(threads) else {
            throw RelayError(.badRequest, "media.threads: \(threads) is not in 1...256")
        }
        guard (1...1024).contains(readBatch) else {
            throw RelayError(.badRequest, "media.read_batch: \(readBatch) is not in 1...1024")
        }
    }
}

