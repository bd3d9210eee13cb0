import CallControl
import Management

/// The `management:` section of the satellite's configuration (examples/satellite.yaml).
extension BridgeSettings {
    public static let allowedKeys: Set<String> = ["management.listen", "management.pairing", "management.code_ttl"]

    /// `knownNetworks`: where a server may connect from before pairing (sip.acl).
    public init(_ r: ConfigReader, knownNetworks: [CIDR]) throws(ConfigError) {
        let listen = try r.string("management.listen", default: "0.0.0.0:3280")
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw r.invalid("management.listen", "'\(listen)' is not IPv4-ADDRESS:PORT (e.g. 0.0.0.0:3280)")
        }
        let host = String(listen[..<colon])
        guard IPAddressBytes.parse(host)?.isIPv4 == true else {
            throw r.invalid("management.listen", "'\(host)' is not an IPv4 address (e.g. 0.0.0.0:3280)")
        }
        let mode = PairingMode(
            rawValue: try r.oneOf("management.pairing", PairingMode.allCases.map(\.rawValue), default: PairingMode.code.rawValue))!
        self.init(
            host: host, port: port, pairing: mode,
            codeTTL: try r.seconds("management.code_ttl", in: 60...86400, default: 900), unpairedSources: knownNetworks)
    }
}
