import CallControl

/// The satellite's management bridge (the `management:` section of its configuration).
public struct BridgeSettings: Sendable {
    public var host: String
    /// 3280 by default; 0 picks a free port (tests).
    public var port: Int
    public var pairing: PairingMode
    /// How long a pairing code stays valid.
    public var codeTTL: Double
    /// Sources that may connect while unpaired (the known networks); once paired, only the
    /// server's recorded address.
    public var unpairedSources: [CIDR]
    /// The release this side reports (tests pretend others).
    public var release: String

    public init(
        host: String = "0.0.0.0", port: Int = 3280, pairing: PairingMode = .code, codeTTL: Double = 900,
        unpairedSources: [CIDR], release: String = TrabantRelease.current
    ) {
        self.host = host
        self.port = port
        self.pairing = pairing
        self.codeTTL = codeTTL
        self.unpairedSources = unpairedSources
        self.release = release
    }
}
