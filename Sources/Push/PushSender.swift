import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PKI
import PushPayload
import Synchronization

/// Where and how the server pushes (the `push:` section of the server's configuration).
public struct PushSettings: Sendable {
    public struct APNs: Sendable {
        public var auth: APNsAuth
        public var environment: APNsEnvironment
        public var bundleID: String
        /// Overrides the environment's host (an emulator in tests): "https://host:port".
        public var baseURL: String?

        public init(credentials: APNsCredentials, environment: APNsEnvironment, bundleID: String, baseURL: String? = nil) {
            self.init(auth: .token(credentials), environment: environment, bundleID: bundleID, baseURL: baseURL)
        }

        public init(auth: APNsAuth, environment: APNsEnvironment, bundleID: String, baseURL: String? = nil) {
            self.auth = auth
            self.environment = environment
            self.bundleID = bundleID
            self.baseURL = baseURL
        }

        var url: String { baseURL ?? "https://\(environment.host)" }
    }

    public struct FCM: Sendable {
        public var account: FCMServiceAccount
        public var baseURL: String

        public init(account: FCMServiceAccount, baseURL: String = "https://fcm.googleapis.com") {
            self.account = account
            self.baseURL = baseURL
        }
    }

    /// An HTTP CONNECT proxy for every provider.
    public struct Proxy: Sendable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?

        public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }
    }

    /// The vendor's push relay, for servers without their own Apple/Google credentials: this
    /// server authenticates with its identity (mutual TLS, its key registered at the relay)
    /// and hands over sealed notices only.
    public struct Relay: Sendable {
        /// "https://host:port".
        public var url: String
        public var certificate: NIOSSLCertificate
        public var key: NIOSSLPrivateKey

        public init(url: String, certificate: NIOSSLCertificate, key: NIOSSLPrivateKey) {
            self.url = url
            self.certificate = certificate
            self.key = key
        }
    }

    public var apns: APNs?
    public var fcm: FCM?
    public var relay: Relay?
    public var proxy: Proxy?
    /// Extra trust roots (a private CA in front of the providers); the system's roots
    /// otherwise. Verification of the provider's certificate and name is always on.
    public var trustRoots: [NIOSSLCertificate]?
    /// Names resolved to fixed addresses (tests: the providers' names to an emulator).
    public var dnsOverride: [String: String]
    /// How long a call rings: VoIP pushes expire and FCM call messages live this long.
    public var ringTime: Double
    public var retry: RetryPolicy
    /// Where the APNs provider token is kept across restarts (`apns-token.json`, 0600): APNs
    /// refuses a renewal within 20 minutes, and a restart must not be one. nil: memory only.
    public var stateDirectory: String?
    /// How long one request may wait for the provider's answer (seconds).
    public var requestTimeout: Double = 20

    public init(
        apns: APNs? = nil, fcm: FCM? = nil, relay: Relay? = nil, proxy: Proxy? = nil, trustRoots: [NIOSSLCertificate]? = nil,
        dnsOverride: [String: String] = [:], ringTime: Double = 45, retry: RetryPolicy = RetryPolicy()
    ) {
        self.apns = apns
        self.fcm = fcm
        self.relay = relay
        self.proxy = proxy
        self.trustRoots = trustRoots
        self.dnsOverride = dnsOverride
        self.ringTime = ringTime
        self.retry = retry
    }
}

/// A device to push to.
public enum PushTarget: Sendable, Equatable {
    case apns(token: String, type: APNsRequest.PushType)
    case fcm(token: String)

    var provider: String {
        switch self {
        case .apns: return "apns"
        case .fcm: return "fcm"
        }
    }
}

public struct PushResult: Sendable, Equatable {
    public var outcome: PushOutcome
    public var attempts: Int
}

/// Sends sealed notices to APNs and FCM over HTTP/2, directly or through a CONNECT proxy,
/// with provider tokens cached as the providers demand and retries with backoff.
public final class PushSender: Sendable {
    public let settings: PushSettings
    /// The HTTP/2 client: one connection per provider and event loop, so the pushes spread
    /// over every core instead of queueing on the loop that owns a single connection.
    let h2: H2Client
    /// The providers' (or the relay's) base URLs, split once.
    let apnsEndpoint: H2Client.Endpoint?
    let fcmEndpoint: H2Client.Endpoint?
    let relayEndpoint: H2Client.Endpoint?
    let logger: Logger
    let apnsTokens: Mutex<APNsTokenCache?>
    let fcmAuth: FCMAuth?
    /// Finished pushes per provider (apns, fcm) × outcome (`outcomes`), by index: no string
    /// is built per push.
    let counts = Mutex([Int](repeating: 0, count: 2 * PushSender.outcomes.count))

    public init(settings: PushSettings, logger: Logger = Logger(label: "trabant.push")) throws {
        self.settings = settings
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let roots = settings.trustRoots { tls.trustRoots = .certificates(roots) }
        // A client certificate is only sent to a server that asks for one: APNs with
        // certificate authentication, or the push relay.
        if case .certificate(let c)? = settings.apns?.auth {
            tls.certificateChain = c.chain.map { .certificate($0) }
            tls.privateKey = .privateKey(c.key)
        } else if let relay = settings.relay {
            tls.certificateChain = [.certificate(relay.certificate)]
            tls.privateKey = .privateKey(relay.key)
        }
        tls.applicationProtocols = ["h2"]
        let h2 = H2Client(
            tls: try NIOSSLContext(configuration: tls), proxy: settings.proxy, dnsOverride: settings.dnsOverride,
            group: MultiThreadedEventLoopGroup.singleton, requestTimeout: .milliseconds(Int64(settings.requestTimeout * 1000)))
        self.h2 = h2
        func endpoint(_ url: String?, _ key: String) throws -> H2Client.Endpoint? {
            do {
                return try url.map(H2Client.Endpoint.init)
            } catch {
                throw PushError(.configuration, "\(key): \(error)")
            }
        }
        apnsEndpoint = try endpoint(settings.apns?.url, "push.apns.url")
        fcmEndpoint = try endpoint(settings.fcm?.baseURL, "push.fcm.url")
        relayEndpoint = try endpoint(settings.relay?.url, "push.relay.url")
        if case .token(let credentials)? = settings.apns?.auth {
            var cache = APNsTokenCache(credentials: credentials)
            if let dir = settings.stateDirectory, let saved = APNsTokenFile.read(directory: dir), saved.keyID == credentials.keyID,
                saved.teamID == credentials.teamID
            {
                cache.restore(token: saved.token, issuedAt: saved.issuedAt, now: Date().timeIntervalSince1970)
            }
            apnsTokens = Mutex(cache)
        } else {
            apnsTokens = Mutex(nil)
        }
        fcmAuth = settings.fcm.map { FCMAuth(account: $0.account, http: h2) }
    }

    /// Keeps the current APNs token in the state directory (when there is one).
    func saveAPNsToken() {
        guard let dir = settings.stateDirectory, case .token(let c)? = settings.apns?.auth else { return }
        let current = apnsTokens.withLock { cache -> (String, Double)? in
            guard let cache, let t = cache.token else { return nil }
            return (t, cache.issuedAt)
        }
        guard let (token, issuedAt) = current else { return }
        do {
            try APNsTokenFile(keyID: c.keyID, teamID: c.teamID, token: token, issuedAt: issuedAt).write(directory: dir)
        } catch {
            logger.warning("the APNs token is not kept across restarts", metadata: ["push.error": "\(error)"])
        }
    }

    /// What a closed connection right after TLS likely means, when we present a certificate.
    var clientCertificateHint: String? {
        if let relay = settings.relay {
            let key = PinnedPeers.fingerprint(of: relay.certificate).map { "\($0)" } ?? "?"
            return "is this server's key (\(key)) registered at the push relay (trabant push-relay add-server)?"
        }
        if case .certificate(let c)? = settings.apns?.auth {
            return "does APNs accept the certificate for \(c.bundleID) (issued by Apple, not revoked, for this environment)?"
        }
        return nil
    }

    public func shutdown() async throws {
        await h2.shutdown()
    }

    /// The outcomes counted per provider.
    public static let outcomes = ["delivered", "dead_token", "gave_up", "auth_failed", "rejected"]

    /// Pushes per provider and outcome ("apns.delivered", "fcm.dead_token", …).
    public var counters: [String: Int] {
        let c = counts.withLock { $0 }
        var out: [String: Int] = [:]
        for (p, provider) in ["apns", "fcm"].enumerated() {
            for (o, outcome) in Self.outcomes.enumerated() where c[p * Self.outcomes.count + o] > 0 {
                out["\(provider).\(outcome)"] = c[p * Self.outcomes.count + o]
            }
        }
        return out
    }

    /// Seals `notice` to the device's key and pushes it; retries what can be retried.
    public func send(_ notice: CallNotice, to target: PushTarget, key: DevicePushKey, now: Date = Date()) async -> PushResult {
        let sealed: SealedNotice
        do {
            sealed = try NoticeSeal.seal(notice, to: key)
        } catch {
            return count(target, PushResult(outcome: .rejected(status: 0, reason: "sealing failed: \(error)"), attempts: 0))
        }
        return await deliver(sealed, kind: notice.kind, collapseID: Self.collapseID(for: notice.callID), to: target, now: now)
    }

    /// Pushes a notice sealed elsewhere (the push relay forwards what servers sealed).
    public func deliver(
        _ sealed: SealedNotice, kind: CallNotice.Kind, collapseID: String?, to target: PushTarget, now: Date = Date()
    ) async -> PushResult {
        var attempt = 0
        var renewedAuth = false
        let started = Date()
        // One apns-id for every attempt of this push (a retry after a lost answer is the same push).
        let pushID = UUID()
        while true {
            attempt += 1
            let outcome: PushOutcome
            do {
                outcome = try await once(sealed, kind: kind, collapseID: collapseID, to: target, now: now, pushID: pushID)
            } catch let e as PushError where e.code != .provider {
                // The configuration, the proxy's credentials or a certificate that does not
                // verify (an intercepting proxy): retrying cannot help — fail closed, now.
                outcome = .rejected(status: e.code == .proxy ? 407 : 0, reason: e.message)
            } catch let e as H2Error {
                switch e {
                case .badRequest:
                    outcome = .rejected(status: 0, reason: "\(e)")
                case .connectionClosed where clientCertificateHint != nil:
                    // TLS 1.3 checks our certificate after our side of the handshake: a refusal
                    // arrives as a closed connection. Retried (it may be a glitch), but named.
                    outcome = .retry(reason: "the connection was closed after TLS; \(clientCertificateHint!)", after: nil)
                default:
                    outcome = .retry(reason: "\(e)", after: nil)
                }
            } catch {
                outcome = .retry(reason: "\(error)", after: nil)
            }
            switch outcome {
            case .authentication where !renewedAuth:
                renewedAuth = true
                if await renewAuth(target) { continue }
                return count(target, PushResult(outcome: outcome, attempts: attempt))
            case .retry(_, let after):
                // A call push later than the ring time is useless: give up instead.
                guard let wait = settings.retry.delay(beforeRetry: attempt, retryAfter: after),
                    kind != .call || Date().timeIntervalSince(started) + wait < settings.ringTime
                else {
                    return count(target, PushResult(outcome: outcome, attempts: attempt))
                }
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            default:
                return count(target, PushResult(outcome: outcome, attempts: attempt))
            }
        }
    }

    func count(_ target: PushTarget, _ r: PushResult) -> PushResult {
        let outcome: Int  // the index in `outcomes`
        switch r.outcome {
        case .delivered: outcome = 0
        case .deadToken: outcome = 1
        case .retry: outcome = 2
        case .authentication: outcome = 3
        case .rejected: outcome = 4
        }
        let provider = target.provider == "apns" ? 0 : 1
        counts.withLock { $0[provider * Self.outcomes.count + outcome] += 1 }
        if case .delivered = r.outcome {} else {
            logger.warning("push not delivered", metadata: ["push.provider": "\(target.provider)", "push.outcome": "\(r.outcome)"])
        }
        return r
    }

    func renewAuth(_ target: PushTarget) async -> Bool {
        if settings.relay != nil { return false }
        switch target {
        case .apns:
            let now = Date().timeIntervalSince1970
            let renewed = (try? apnsTokens.withLock { try $0?.renewAfterRejection(now: now) }) != nil
            if renewed { saveAPNsToken() }
            return renewed
        case .fcm:
            await fcmAuth?.invalidate()
            return fcmAuth != nil
        }
    }

    func once(
        _ sealed: SealedNotice, kind: CallNotice.Kind, collapseID: String?, to target: PushTarget, now: Date, pushID: UUID
    ) async throws
        -> PushOutcome
    {
        if let relayEndpoint {
            let push = RelayPush(target: target, kind: kind, collapseID: collapseID, sealed: sealed)
            let (status, body, retryAfter) = try await execute(
                relayEndpoint, path: RelayPush.path, headers: [("content-type", "application/json")], body: push.json)
            return RelayAnswer.outcome(status: status, body: body, retryAfter: retryAfter)
        }
        switch target {
        case .apns(let token, let type):
            guard let apns = settings.apns, let endpoint = apnsEndpoint else { throw PushError(.configuration, "push.apns is not configured") }
            let request = try APNsRequest(
                deviceToken: token, type: type, bundleID: apns.bundleID,
                expiration: Int(now.timeIntervalSince1970 + settings.ringTime), apnsID: pushID, collapseID: collapseID,
                sealed: sealed)
            let nowSeconds = Date().timeIntervalSince1970
            let (jwt, fresh) = try apnsTokens.withLock { c -> (String?, Bool) in
                let before = c?.issued
                let t = try c?.current(now: nowSeconds)
                return (t, c?.issued != before)
            }
            if fresh { saveAPNsToken() }
            let (status, body, retryAfter) = try await execute(
                endpoint, path: request.path, headers: request.headers(token: jwt), body: request.body)
            return APNsRequest.outcome(status: status, body: body, retryAfter: retryAfter)
        case .fcm(let token):
            guard let fcm = settings.fcm, let auth = fcmAuth, let endpoint = fcmEndpoint else {
                throw PushError(.configuration, "push.fcm is not configured")
            }
            let message = try FCMRequest(
                registrationToken: token, isCall: kind == .call, ttlSeconds: kind == .call ? Int(settings.ringTime) : 3600,
                sealed: sealed)
            let access: String
            do {
                access = try await auth.token(baseURL: fcm.account.tokenURI)
            } catch {
                throw transportError(error, host: (try? H2Client.split(fcm.account.tokenURI))?.0.host ?? fcm.account.tokenURI)
            }
            let (status, body, retryAfter) = try await execute(
                endpoint, path: FCMRequest.path(project: fcm.account.projectID),
                headers: [("authorization", "Bearer \(access)"), ("content-type", "application/json")], body: message.body)
            return FCMRequest.outcome(status: status, body: body, retryAfter: retryAfter)
        }
    }

    func execute(_ endpoint: H2Client.Endpoint, path: String, headers: [(String, String)], body: [UInt8]) async throws -> (Int, [UInt8], String?) {
        do {
            let r = try await h2.post(endpoint, path: path, headers: headers, body: body)
            return (r.status, r.body, r.retryAfter)
        } catch {
            throw transportError(error, host: endpoint.origin.host)
        }
    }

    /// The transport's failures that retrying cannot help, as configuration errors named for
    /// the operator; the rest as they are.
    func transportError(_ error: any Error, host: String) -> any Error {
        switch error {
        case H2Error.proxyAuthentication:
            return PushError(.proxy, "the proxy refused the tunnel: wrong push.proxy.username or password (407)")
        case H2Error.proxyRefused(let why):
            // The provider is unreachable from the proxy, or it does not allow CONNECT there.
            // Retried like any unreachable provider.
            return PushError(.provider, "the proxy could not open a tunnel to \(host) (it answered CONNECT with \(why))")
        case H2Error.certificateNotFor(let name):
            return PushError(
                .transport,
                "TLS with \(host) failed: its certificate verifies but does not name \(name) (certificates are always verified)")
        case H2Error.tlsRefused(let reason):
            // A certificate that does not verify (an intercepting proxy), or the server's alert
            // refusing ours: retrying cannot help.
            return PushError(
                .transport,
                "TLS with \(host) failed: \(reason) (certificates are always verified)\(clientCertificateHint.map { "; \($0)" } ?? "")")
        default:
            return error
        }
    }
}

/// Google's OAuth2 access token for the service account: fetched once, shared by all
/// concurrent pushes, renewed five minutes before it expires.
actor FCMAuth {
    let account: FCMServiceAccount
    let http: H2Client
    var cache = FCMTokenCache()
    var inflight: Task<String, any Error>?

    init(account: FCMServiceAccount, http: H2Client) {
        self.account = account
        self.http = http
    }

    func invalidate() { cache.invalidate() }

    func token(baseURL: String) async throws -> String {
        let now = Date().timeIntervalSince1970
        if let t = cache.valid(now: now) { return t }
        if let inflight { return try await inflight.value }
        let task = Task { () async throws -> String in
            let response = try await http.post(
                url: account.tokenURI, headers: [("content-type", "application/x-www-form-urlencoded")],
                body: Array(try account.tokenRequestBody(now: now).utf8))
            // Overloaded or failing: asked again later (a refusal of the account is a 400/401).
            if response.status >= 500 || response.status == 429 {
                throw PushError(.provider, "Google's OAuth2 endpoint answered \(response.status)")
            }
            return try storeToken(Data(response.body), now: now)
        }
        inflight = task
        defer { inflight = nil }
        return try await task.value
    }

    func storeToken(_ body: Data, now: Double) throws -> String {
        try cache.store(response: body, now: now)
    }
}

extension PushSender {
    /// APNs collapse ids are at most 64 bytes of header text: the call id when it fits, its
    /// SHA-256 otherwise (still one id per call).
    static func collapseID(for callID: String) -> String {
        if callID.utf8.count <= 64, callID.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) { return callID }
        return "sha256-" + SHA256.hash(data: Data(callID.utf8)).prefix(24).map { String(format: "%02x", $0) }.joined()
    }
}
