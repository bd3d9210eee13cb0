import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOSSL
import PushPayload
import Synchronization

/// Where and how the server pushes (the `push:` section of the server's configuration).
public struct PushSettings: Sendable {
    public struct APNs: Sendable {
        public var credentials: APNsCredentials
        public var environment: APNsEnvironment
        public var bundleID: String
        /// Overrides the environment's host (an emulator in tests): "https://host:port".
        public var baseURL: String?

        public init(credentials: APNsCredentials, environment: APNsEnvironment, bundleID: String, baseURL: String? = nil) {
            self.credentials = credentials
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

    public var apns: APNs?
    public var fcm: FCM?
    public var proxy: Proxy?
    /// Extra trust roots (a private CA in front of the providers); the system's roots
    /// otherwise. Verification of the provider's certificate and name is always on.
    public var trustRoots: [NIOSSLCertificate]?
    /// Names resolved to fixed addresses (tests: the providers' names to an emulator).
    public var dnsOverride: [String: String]
    /// How long a call rings: VoIP pushes expire and FCM call messages live this long.
    public var ringTime: Double
    public var retry: RetryPolicy

    public init(
        apns: APNs? = nil, fcm: FCM? = nil, proxy: Proxy? = nil, trustRoots: [NIOSSLCertificate]? = nil,
        dnsOverride: [String: String] = [:], ringTime: Double = 45, retry: RetryPolicy = RetryPolicy()
    ) {
        self.apns = apns
        self.fcm = fcm
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
    let http: HTTPClient
    let logger: Logger
    let apnsTokens: Mutex<APNsTokenCache?>
    let fcmAuth: FCMAuth?
    let counts = Mutex<[String: Int]>([:])

    public init(settings: PushSettings, logger: Logger = Logger(label: "trabant.push")) throws {
        self.settings = settings
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let roots = settings.trustRoots { tls.trustRoots = .certificates(roots) }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.httpVersion = .automatic
        config.dnsOverride = settings.dnsOverride
        config.timeout = .init(connect: .seconds(10), read: .seconds(20))
        config.connectionPool = .init(idleTimeout: .seconds(120))
        if let p = settings.proxy {
            let auth = p.username.map { HTTPClient.Authorization.basic(username: $0, password: p.password ?? "") }
            config.proxy = .server(host: p.host, port: p.port, authorization: auth)
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        http = client
        apnsTokens = Mutex(settings.apns.map { APNsTokenCache(credentials: $0.credentials) })
        fcmAuth = settings.fcm.map { FCMAuth(account: $0.account, http: client) }
    }

    public func shutdown() async throws { try await http.shutdown() }

    /// Pushes per provider and outcome ("apns.delivered", "fcm.dead_token", …).
    public var counters: [String: Int] { counts.withLock { $0 } }

    /// Seals `notice` to the device's key and pushes it; retries what can be retried.
    public func send(_ notice: CallNotice, to target: PushTarget, key: DevicePushKey, now: Date = Date()) async -> PushResult {
        let sealed: SealedNotice
        do {
            sealed = try NoticeSeal.seal(notice, to: key)
        } catch {
            return count(target, PushResult(outcome: .rejected(status: 0, reason: "sealing failed: \(error)"), attempts: 0))
        }
        var attempt = 0
        var renewedAuth = false
        while true {
            attempt += 1
            let outcome: PushOutcome
            do {
                outcome = try await once(sealed, notice: notice, to: target, now: now)
            } catch let e as PushError where e.code != .provider {
                // The configuration, the proxy's credentials or a certificate that does not
                // verify (an intercepting proxy): retrying cannot help — fail closed, now.
                outcome = .rejected(status: e.code == .proxy ? 407 : 0, reason: e.message)
            } catch {
                outcome = .retry(reason: "\(error)", after: nil)
            }
            switch outcome {
            case .authentication where !renewedAuth:
                renewedAuth = true
                if await renewAuth(target) { continue }
                return count(target, PushResult(outcome: outcome, attempts: attempt))
            case .retry(_, let after):
                guard let wait = settings.retry.delay(beforeRetry: attempt, retryAfter: after) else {
                    return count(target, PushResult(outcome: outcome, attempts: attempt))
                }
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            default:
                return count(target, PushResult(outcome: outcome, attempts: attempt))
            }
        }
    }

    func count(_ target: PushTarget, _ r: PushResult) -> PushResult {
        let label: String
        switch r.outcome {
        case .delivered: label = "delivered"
        case .retry: label = "gave_up"
        case .deadToken: label = "dead_token"
        case .authentication: label = "auth_failed"
        case .rejected: label = "rejected"
        }
        counts.withLock { $0["\(target.provider).\(label)", default: 0] += 1 }
        if case .delivered = r.outcome {} else {
            logger.warning("push not delivered", metadata: ["push.provider": "\(target.provider)", "push.outcome": "\(r.outcome)"])
        }
        return r
    }

    func renewAuth(_ target: PushTarget) async -> Bool {
        switch target {
        case .apns:
            let now = Date().timeIntervalSince1970
            return (try? apnsTokens.withLock { try $0?.renewAfterRejection(now: now) }) != nil
        case .fcm:
            await fcmAuth?.invalidate()
            return fcmAuth != nil
        }
    }

    func once(_ sealed: SealedNotice, notice: CallNotice, to target: PushTarget, now: Date) async throws -> PushOutcome {
        switch target {
        case .apns(let token, let type):
            guard let apns = settings.apns else { throw PushError(.configuration, "push.apns is not configured") }
            let request = try APNsRequest(
                deviceToken: token, type: type, bundleID: apns.bundleID,
                expiration: Int(now.timeIntervalSince1970 + settings.ringTime), collapseID: notice.callID.prefixBytes(64),
                sealed: sealed)
            let nowSeconds = Date().timeIntervalSince1970
            let jwt = try apnsTokens.withLock { try $0!.current(now: nowSeconds) }
            var req = HTTPClientRequest(url: apns.url + request.path)
            req.method = .POST
            for (k, v) in request.headers(token: jwt) { req.headers.add(name: k, value: v) }
            req.body = .bytes(request.body)
            let (status, body, retryAfter) = try await execute(req)
            return APNsRequest.outcome(status: status, body: body, retryAfter: retryAfter)
        case .fcm(let token):
            guard let fcm = settings.fcm, let auth = fcmAuth else { throw PushError(.configuration, "push.fcm is not configured") }
            let message = try FCMRequest(
                registrationToken: token, isCall: notice.kind == .call, ttlSeconds: notice.kind == .call ? Int(settings.ringTime) : 3600,
                sealed: sealed)
            let access = try await auth.token(baseURL: fcm.account.tokenURI)
            var req = HTTPClientRequest(url: fcm.baseURL + FCMRequest.path(project: fcm.account.projectID))
            req.method = .POST
            req.headers.add(name: "authorization", value: "Bearer \(access)")
            req.headers.add(name: "content-type", value: "application/json")
            req.body = .bytes(message.body)
            let (status, body, retryAfter) = try await execute(req)
            return FCMRequest.outcome(status: status, body: body, retryAfter: retryAfter)
        }
    }

    func execute(_ req: HTTPClientRequest) async throws -> (Int, [UInt8], String?) {
        do {
            let response = try await http.execute(req, timeout: .seconds(20))
            let body = try await response.body.collect(upTo: 64 * 1024)
            return (Int(response.status.code), Array(buffer: body), response.headers.first(name: "retry-after"))
        } catch let e as HTTPClientError where e == .proxyAuthenticationRequired || e == .invalidProxyResponse {
            throw PushError(
                .proxy,
                "the proxy refused the tunnel: wrong push.proxy.username or password (407), or it does not allow CONNECT to the provider")
        } catch let e as NIOSSLError {
            throw PushError(.transport, "TLS with the provider failed (certificates are always verified): \(e)")
        }
    }
}

/// Google's OAuth2 access token for the service account: fetched once, shared by all
/// concurrent pushes, renewed five minutes before it expires.
actor FCMAuth {
    let account: FCMServiceAccount
    let http: HTTPClient
    var cache = FCMTokenCache()
    var inflight: Task<String, any Error>?

    init(account: FCMServiceAccount, http: HTTPClient) {
        self.account = account
        self.http = http
    }

    func invalidate() { cache.invalidate() }

    func token(baseURL: String) async throws -> String {
        let now = Date().timeIntervalSince1970
        if let t = cache.valid(now: now) { return t }
        if let inflight { return try await inflight.value }
        let task = Task { () async throws -> String in
            var req = HTTPClientRequest(url: account.tokenURI)
            req.method = .POST
            req.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            req.body = .bytes(Array(try account.tokenRequestBody(now: now).utf8))
            let response = try await http.execute(req, timeout: .seconds(20))
            let body = try await response.body.collect(upTo: 64 * 1024)
            return try storeToken(Data(body.readableBytesView), now: now)
        }
        inflight = task
        defer { inflight = nil }
        return try await task.value
    }

    func storeToken(_ body: Data, now: Double) throws -> String {
        try cache.store(response: body, now: now)
    }
}

extension String {
    func prefixBytes(_ n: Int) -> String {
        var out = ""
        for c in self {
            if out.utf8.count + String(c).utf8.count > n { break }
            out.append(c)
        }
        return out
    }
}
