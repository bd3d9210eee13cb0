import NIOCore
import PKI
import SDP

/// Everything the call controller needs from the satellite's configuration.
public struct CallControllerSettings: Sendable {
    /// Address to listen on; "0.0.0.0" or "::" for all.
    public var bindHost: String
    /// SIP over TCP; 0 picks a free port (tests).
    public var tcpPort: Int
    /// SIP over TLS, when a certificate and key are configured.
    public var tlsPort: Int
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// The satellite's own identity: TLS uses it when no certificate files are configured.
    public var tlsIdentity: Identity?
    /// The server's pinned key(s) once the management bridge paired: TLS clients must then
    /// present one of them, and TLS legs we open must lead to one. Empty: not paired.
    public var serverPins = PinSet()
    /// Known networks: the only sources that may connect, and the only targets.
    public var acl: [CIDR]
    public var limits: AccessGate.Limits
    public var deniedUserAgents: [String]
    public var core: CoreSettings
    /// How long running calls may go on after SIGTERM.
    public var drainTimeout: Double
    /// Most simultaneous connections; more are refused at accept.
    public var maxConnections: Int
    /// Event loops carrying SIP, each with its own share of the calls.
    public var sipThreads: Int

    public init(
        bindHost: String = "0.0.0.0", tcpPort: Int = 5060, tlsPort: Int = 5061, tlsCertificatePath: String? = nil,
        tlsKeyPath: String? = nil, acl: [CIDR], limits: AccessGate.Limits = AccessGate.Limits(),
        deniedUserAgents: [String] = AccessGate.defaultDeniedUserAgents, core: CoreSettings, drainTimeout: Double = 30,
        maxConnections: Int = 4096, sipThreads: Int = System.coreCount
    ) {
        self.bindHost = bindHost
        self.tcpPort = tcpPort
        self.tlsPort = tlsPort
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.acl = acl
        self.limits = limits
        self.deniedUserAgents = deniedUserAgents
        self.core = core
        self.drainTimeout = drainTimeout
        self.maxConnections = maxConnections
        self.sipThreads = sipThreads
    }
}
