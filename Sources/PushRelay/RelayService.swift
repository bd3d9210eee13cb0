import Foundation
import Logging
import PKI
import Push
import Synchronization

/// What the relay does with one request, decided without I/O: who sent it (the key from the
/// TLS handshake), whether that server is registered and within its rate, and whether the
/// body is a sealed push and nothing else.
public final class RelayService: Sendable {
    public enum Decision: Sendable, Equatable {
        case answer(status: Int, headers: [String: String], body: String)
        case forward(RelayPush, server: String)
    }

    public let servers: RelayServers
    let buckets = Mutex<[Fingerprint: TokenBucket]>([:])
    let counts = Mutex<[String: [String: Int]]>([:])
    let logger: Logger
    let lastComplaint = Mutex<Double>(-.infinity)

    public init(servers: RelayServers, logger: Logger = Logger(label: "trabant.push-relay")) {
        self.servers = servers
        self.logger = logger
    }

    /// Logs at most once per ten seconds (a refused or broken thing can repeat per request).
    func complain(_ message: Logger.Message, _ metadata: Logger.Metadata, now: Double) {
        let speak = lastComplaint.withLock { last -> Bool in
            guard now - last >= 10 else { return false }
            last = now
            return true
        }
        if speak { logger.warning(message, metadata: metadata) }
    }

    public static let results = ["accepted", "rate_limited", "bad_request", "unregistered"]

    /// Requests per server name and result.
    public var requestCounts: [String: [String: Int]] { counts.withLock { $0 } }

    func count(_ server: String, _ result: String) {
        counts.withLock { $0[server, default: [:]][result, default: 0] += 1 }
    }

    static func error(_ status: Int, _ reason: String, retryAfter: Double? = nil) -> Decision {
        var answer = RelayAnswer(.rejected(status: status, reason: reason))
        var headers = ["content-type": "application/json"]
        if let retryAfter {
            answer = RelayAnswer(.retry(reason: reason, after: retryAfter))
            headers["retry-after"] = "\(Int(retryAfter.rounded(.up)))"
        }
        let body = (try? JSONEncoder().encode(answer)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return .answer(status: status, headers: headers, body: body)
    }

    /// `now`: monotonic seconds.
    public func decide(peer: Fingerprint?, method: String, path: String, body: [UInt8], now: Double) -> Decision {
        let registered = peer.flatMap { p in
            servers.server(for: p) { error in
                self.complain("the registry of servers cannot be read: every push is refused", ["relay.error": "\(error)"], now: now)
            }
        }
        guard let peer, let server = registered else {
            count("(unregistered)", "unregistered")
            return Self.error(403, "this server's key is not registered at the relay (trabant push-relay add-server)")
        }
        guard path == RelayPush.path else {
            count(server.name, "bad_request")
            return Self.error(404, "only POST \(RelayPush.path) is served")
        }
        guard method == "POST" else {
            count(server.name, "bad_request")
            return Self.error(405, "\(RelayPush.path) takes POST, not \(method)")
        }
        let (allowed, wait) = buckets.withLock { b -> (Bool, Double) in
            // Changed limits take effect with the tokens the server had left, not a fresh burst.
            var bucket = b[peer].map { old in
                old.rate == server.perSecond && old.burst == server.burst ? old : old.with(rate: server.perSecond, burst: server.burst)
            } ?? TokenBucket(rate: server.perSecond, burst: server.burst, now: now)
            defer { b[peer] = bucket }
            return bucket.take(now: now)
        }
        guard allowed else {
            count(server.name, "rate_limited")
            return Self.error(429, "rate limit of \(server.name): \(server.perSecond)/s, burst \(Int(server.burst))", retryAfter: wait)
        }
        do {
            let push = try RelayPush(json: body)
            count(server.name, "accepted")
            return .forward(push, server: server.name)
        } catch {
            count(server.name, "bad_request")
            return Self.error(400, error.message)
        }
    }

    /// A client whose key is not registered was refused in the TLS handshake.
    public func refusedHandshake(key: String) {
        count("(unregistered)", "unregistered")
        complain("refused a server whose key is not registered", ["relay.key": "\(key)"], now: Double(DispatchTime.now().uptimeNanoseconds) / 1e9)
    }

    /// A body over the limit (answered 413 by the listener).
    public func tooLarge(peer: Fingerprint?) {
        count(peer.flatMap { servers.server(for: $0)?.name } ?? "(unregistered)", "bad_request")
    }

    /// The relay's counters and its pushes' outcomes, for Prometheus.
    public func metrics(pushCounters: [String: Int]) -> String {
        var out = PushMetrics.render(pushCounters)
        out += "# HELP trabant_push_relay_requests_total Requests to the relay, by registered server and result.\n"
        out += "# TYPE trabant_push_relay_requests_total counter\n"
        for (server, results) in requestCounts.sorted(by: { $0.key < $1.key }) {
            for result in Self.results {
                out += "trabant_push_relay_requests_total{server=\"\(server)\",result=\"\(result)\"} \(results[result, default: 0])\n"
            }
        }
        out += "# HELP trabant_push_relay_servers Servers registered at the relay.\n# TYPE trabant_push_relay_servers gauge\n"
        out += "trabant_push_relay_servers \((try? servers.current().count) ?? 0)\n"
        return out
    }
}
