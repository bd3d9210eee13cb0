import Foundation
import NIOSSL
import Push

/// The `push:` section: how a server (or the push relay) reaches APNs and FCM — directly with
/// its own credentials, or (servers only) through the vendor's push relay — and an optional
/// CONNECT proxy. examples/server.yaml and examples/push-relay.yaml document every key.
public enum PushConfig {
    public static let providerKeys: Set<String> = [
        "push.apns.key_file", "push.apns.key_id", "push.apns.team_id", "push.apns.certificate_file",
        "push.apns.certificate_key_file", "push.apns.certificate_passphrase", "push.apns.bundle_id",
        "push.apns.environment", "push.apns.url", "push.fcm.service_account_file", "push.fcm.url",
        "push.proxy.url", "push.proxy.username", "push.proxy.password", "push.ca_file", "push.ring_time",
        "push.retry.attempts",
    ]
    /// A server may also push through the relay; the relay itself may not.
    public static let serverKeys = providerKeys.union(["push.relay.url"])

    /// `relayIdentity`: the server's own certificate and key, presented to the push relay.
    public static func settings(_ r: ConfigReader, relayIdentity: (NIOSSLCertificate, NIOSSLPrivateKey)? = nil) throws(ConfigError)
        -> PushSettings
    {
        var s = PushSettings()
        s.ringTime = try r.seconds("push.ring_time", in: 5...300, default: 45)
        s.retry = RetryPolicy(attempts: try r.int("push.retry.attempts", in: 1...10, default: 3))
        if let ca = try r.optionalString("push.ca_file") {
            let bytes = try read(r, "push.ca_file", ca)
            guard let roots = try? NIOSSLCertificate.fromPEMBytes(bytes), !roots.isEmpty else {
                throw r.invalid("push.ca_file", "'\(ca)' holds no PEM certificate")
            }
            s.trustRoots = roots
        }
        if let url = try r.optionalString("push.proxy.url") {
            let (host, port) = try hostPort(r, "push.proxy.url", url, scheme: "http", defaultPort: 3128)
            s.proxy = .init(
                host: host, port: port, username: try r.optionalString("push.proxy.username"),
                password: try r.optionalString("push.proxy.password"))
        } else if try r.optionalString("push.proxy.username") != nil {
            throw r.invalid("push.proxy.username", "set push.proxy.url too (http://HOST:PORT)")
        }
        s.apns = try apns(r)
        s.fcm = try fcm(r)
        if let url = try r.optionalString("push.relay.url") {
            guard s.apns == nil, s.fcm == nil else {
                throw r.invalid(
                    "push.relay.url", "a server pushes either through the relay or with its own push.apns/push.fcm credentials, not both")
            }
            _ = try hostPort(r, "push.relay.url", url, scheme: "https", defaultPort: 443)
            guard let (certificate, key) = relayIdentity else {
                throw r.invalid("push.relay.url", "the push relay needs this server's identity (its data directory)")
            }
            s.relay = .init(url: url.hasSuffix("/") ? String(url.dropLast()) : url, certificate: certificate, key: key)
        }
        return s
    }

    static func apns(_ r: ConfigReader) throws(ConfigError) -> PushSettings.APNs? {
        let keyFile = try r.optionalString("push.apns.key_file")
        let certFile = try r.optionalString("push.apns.certificate_file")
        guard keyFile != nil || certFile != nil else {
            for k in ["push.apns.bundle_id", "push.apns.key_id", "push.apns.team_id"] where try r.optionalString(k) != nil {
                throw r.invalid(k, "set push.apns.key_file (token authentication) or push.apns.certificate_file")
            }
            return nil
        }
        guard let bundle = try r.optionalString("push.apns.bundle_id"),
            bundle.range(of: #"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"#, options: .regularExpression) != nil
        else {
            throw r.invalid("push.apns.bundle_id", "the app's bundle id is required (e.g. com.example.phone)")
        }
        let environment = APNsEnvironment(
            rawValue: try r.oneOf("push.apns.environment", APNsEnvironment.allCases.map(\.rawValue), default: "production"))!
        let auth: APNsAuth
        switch (keyFile, certFile) {
        case (let k?, nil):
            let pem = String(decoding: try read(r, "push.apns.key_file", k), as: UTF8.self)
            let keyID = try r.string("push.apns.key_id", default: "")
            let teamID = try r.string("push.apns.team_id", default: "")
            do {
                auth = .token(try APNsCredentials(p8: pem, keyID: keyID, teamID: teamID))
            } catch {
                let key = error.message.hasPrefix("apns.key_id") ? "push.apns.key_id"
                    : error.message.hasPrefix("apns.team_id") ? "push.apns.team_id" : "push.apns.key_file"
                throw r.invalid(key, error.message)
            }
        case (nil, let c?):
            let bytes = try read(r, "push.apns.certificate_file", c)
            do {
                if c.lowercased().hasSuffix(".p12") || c.lowercased().hasSuffix(".pfx") {
                    auth = .certificate(try APNsCertificate(p12: bytes, passphrase: try r.optionalString("push.apns.certificate_passphrase")))
                } else {
                    guard let keyPath = try r.optionalString("push.apns.certificate_key_file") else {
                        throw r.invalid("push.apns.certificate_key_file", "a PEM certificate needs its key file (or give a .p12)")
                    }
                    auth = .certificate(try APNsCertificate(
                        certificatePEM: bytes, keyPEM: try read(r, "push.apns.certificate_key_file", keyPath)))
                }
            } catch let e as PushError {
                throw r.invalid("push.apns.certificate_file", e.message)
            } catch let e as ConfigError {
                throw e
            } catch {
                throw r.invalid("push.apns.certificate_file", "\(error)")
            }
            if case .certificate(let cert) = auth, cert.bundleID != bundle {
                throw r.invalid(
                    "push.apns.certificate_file", "the certificate is for \(cert.bundleID), but push.apns.bundle_id is \(bundle)")
            }
        default:
            throw r.invalid("push.apns.certificate_file", "give push.apns.key_file or push.apns.certificate_file, not both")
        }
        var baseURL: String?
        if let url = try r.optionalString("push.apns.url") {
            _ = try hostPort(r, "push.apns.url", url, scheme: "https", defaultPort: 443)
            baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        return .init(auth: auth, environment: environment, bundleID: bundle, baseURL: baseURL)
    }

    static func fcm(_ r: ConfigReader) throws(ConfigError) -> PushSettings.FCM? {
        guard let file = try r.optionalString("push.fcm.service_account_file") else { return nil }
        let account: FCMServiceAccount
        do {
            account = try FCMServiceAccount(json: Data(try read(r, "push.fcm.service_account_file", file)))
        } catch let e as PushError {
            throw r.invalid("push.fcm.service_account_file", e.message)
        } catch {
            throw error as! ConfigError
        }
        let url = try r.string("push.fcm.url", default: "https://fcm.googleapis.com")
        _ = try hostPort(r, "push.fcm.url", url, scheme: "https", defaultPort: 443)
        return .init(account: account, baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url)
    }

    /// Files named relative to the configuration file's directory.
    static func read(_ r: ConfigReader, _ key: String, _ path: String) throws(ConfigError) -> [UInt8] {
        let full = path.hasPrefix("/") || r.file == nil
            ? path : URL(fileURLWithPath: r.file!).deletingLastPathComponent().appendingPathComponent(path).path
        guard let data = FileManager.default.contents(atPath: full) else {
            throw r.invalid(key, "cannot read '\(full)'")
        }
        return Array(data)
    }

    static func hostPort(_ r: ConfigReader, _ key: String, _ text: String, scheme: String, defaultPort: Int) throws(ConfigError)
        -> (String, Int)
    {
        guard let u = URLComponents(string: text), u.scheme == scheme, let host = u.host, !host.isEmpty, u.user == nil,
            u.password == nil, u.path.isEmpty || u.path == "/", u.query == nil
        else {
            throw r.invalid(
                key, "'\(text)' is not \(scheme)://HOST[:PORT]\(scheme == "http" ? " (credentials go in push.proxy.username/password)" : "")")
        }
        return (host, u.port ?? defaultPort)
    }
}

/// `trabant push-relay`'s configuration: its listener, its certificate, its metrics, and the
/// providers' `push:` keys. Nothing about SIP: the relay never holds SIP credentials.
public struct PushRelaySettings: Sendable {
    public var host: String
    public var port: Int
    public var certificateChain: [NIOSSLCertificate]
    public var key: NIOSSLPrivateKey
    public var metrics: (host: String, port: Int)?
    public var push: PushSettings
    public var log: LogSettings

    public static let allowedKeys: Set<String> = PushConfig.providerKeys
        .union(["relay.listen", "relay.certificate_file", "relay.key_file", "relay.metrics"]).union(LogSettings.allowedKeys)

    public init(_ r: ConfigReader) throws(ConfigError) {
        (host, port) = try r.listenAddress("relay.listen", default: "0.0.0.0:8443")!
        guard let certPath = try r.optionalString("relay.certificate_file") else {
            throw r.invalid("relay.certificate_file", "the relay's TLS certificate (PEM, with its chain) is required")
        }
        let certBytes = try PushConfig.read(r, "relay.certificate_file", certPath)
        guard let chain = try? NIOSSLCertificate.fromPEMBytes(certBytes), !chain.isEmpty
        else { throw r.invalid("relay.certificate_file", "'\(certPath)' holds no PEM certificate") }
        certificateChain = chain
        guard let keyPath = try r.optionalString("relay.key_file") else {
            throw r.invalid("relay.key_file", "the key of relay.certificate_file (PEM) is required")
        }
        let keyBytes = try PushConfig.read(r, "relay.key_file", keyPath)
        guard let key = try? NIOSSLPrivateKey(bytes: keyBytes, format: .pem) else {
            throw r.invalid("relay.key_file", "'\(keyPath)' is not a PEM private key")
        }
        self.key = key
        // The key must be the certificate's (BoringSSL checks when both are loaded).
        guard (try? NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))) != nil
        else { throw r.invalid("relay.key_file", "'\(keyPath)' is not the key of relay.certificate_file") }
        metrics = try r.listenAddress("relay.metrics", default: "127.0.0.1:9465", offAllowed: true)
        push = try PushConfig.settings(r)
        guard push.apns != nil || push.fcm != nil else {
            throw r.invalid("push", "the relay needs push.apns and/or push.fcm credentials to forward anything")
        }
        log = try LogSettings(r)
    }
}
