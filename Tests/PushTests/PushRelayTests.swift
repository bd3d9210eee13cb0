import AsyncHTTPClient
import Crypto
import CryptoExtras
import Foundation
import Metrics
import NIOSSL
import PKI
import PushEmulator
import TestSupport
import Testing

@testable import Push
@testable import PushPayload
@testable import PushRelay

/// The push relay end to end: a server (its own identity, no Apple/Google credentials) pushes
/// through `PushRelayServer` (mutual TLS, registered keys, rate limits) to the emulated APNs and
/// FCM. The relay handles ciphertext only.
@Suite("Push: the push relay", .serialized)
struct PushRelayTests {
    struct World {
        let emulator: ProviderEmulator
        let relaySender: PushSender
        let relay: PushRelayServer
        let service: RelayService
        let dir: String
        let serverIdentity: Identity
        let device = Curve25519.KeyAgreement.PrivateKey()
        var key: DevicePushKey { DevicePushKey(id: "phone-1", publicKey: device.publicKey) }

        static func make(perSecond: Double = 1000, burst: Double = 1000, relayTimeout: Double = 20) async throws -> World {
            let apnsKey = P256.Signing.PrivateKey()
            let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let emulator = try await ProviderEmulator(
                apnsKey: apnsKey.publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
                fcmKey: rsa.publicKey, fcmProject: "vendor", fcmEmail: "relay@vendor.iam.gserviceaccount.com",
                tokenURI: { "https://oauth2.googleapis.com:\($0)/token" })
            let account = try FCMServiceAccount(json: try JSONSerialization.data(withJSONObject: [
                "type": "service_account", "project_id": "vendor", "private_key_id": "k1", "private_key": rsa.pemRepresentation,
                "client_email": "relay@vendor.iam.gserviceaccount.com", "token_uri": emulator.tokenURI,
            ]))
            var relaySettings = PushSettings(
                apns: .init(
                    credentials: try APNsCredentials(p8: apnsKey.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                    environment: .production, bundleID: "com.example.phone", baseURL: "https://api.push.apple.com:\(emulator.port)"),
                fcm: .init(account: account, baseURL: "https://fcm.googleapis.com:\(emulator.port)"),
                trustRoots: [try emulator.ca.nioRoot],
                dnsOverride: Dictionary(uniqueKeysWithValues: ProviderEmulator.names.map { ($0, "127.0.0.1") }),
                retry: RetryPolicy(attempts: 1))
            relaySettings.requestTimeout = relayTimeout
            let relaySender = try PushSender(settings: relaySettings)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let identity = try Identity.generate(role: "server")
            let servers = RelayServers(directory: dir)
            try servers.add(RegisteredServer(name: "acme", fingerprint: identity.fingerprint, perSecond: perSecond, burst: burst))
            let service = RelayService(servers: servers)
            let relayCert = try emulator.ca.issue(names: ["push-relay.test", "localhost"])
            let relay = try await PushRelayServer(
                host: "127.0.0.1", port: 0, certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(relayCert.certificatePEM.utf8)),
                key: try NIOSSLPrivateKey(bytes: Array(relayCert.keyPEM.utf8), format: .pem), service: service, sender: relaySender)
            return World(
                emulator: emulator, relaySender: relaySender, relay: relay, service: service, dir: dir, serverIdentity: identity)
        }

        /// The customer's server: no provider credentials, only the relay and its own identity.
        func server(_ identity: Identity? = nil, attempts: Int = 1, proxy: PushSettings.Proxy? = nil) throws -> PushSender {
            let id = identity ?? serverIdentity
            return try PushSender(settings: PushSettings(
                // Directly by address; through a proxy by name (only a name can be checked there).
                relay: .init(
                    url: "https://\(proxy == nil ? "127.0.0.1" : "localhost"):\(relay.port)", certificate: try id.nioCertificate(),
                    key: try id.nioPrivateKey()),
                proxy: proxy, trustRoots: [try emulator.ca.nioRoot], retry: RetryPolicy(attempts: attempts, base: 0.05, cap: 0.1)))
        }

        func stop() async {
            await relay.stop()
            try? await relaySender.shutdown()
            emulator.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static let notice = CallNotice(kind: .call, callID: "call-77", caller: "Alice <+49 30 1234>", gateway: "wss://gw.acme.example", sentAt: 5)

    @Test func aRegisteredServerPushesThroughTheRelayWhichSeesOnlyCiphertext() async throws {
        let w = try await World.make()
        let server = try w.server()
        #expect(await server.send(Self.notice, to: .apns(token: String(repeating: "ab", count: 32), type: .voip), key: w.key)
            == PushResult(outcome: .delivered, attempts: 1))
        #expect(await server.send(Self.notice, to: .fcm(token: "fcm:pixel-8"), key: w.key).outcome == .delivered)
        let pushes = w.emulator.pushes
        #expect(pushes.map(\.provider) == ["apns", "fcm"])
        // APNs got the relay's provider token and the sealed notice; it opens on the phone only.
        #expect(pushes[0].headers["apns-topic"] == "com.example.phone.voip")
        #expect(pushes[0].headers["apns-collapse-id"] == "call-77")
        let sealed = try JSONDecoder().decode(SealedNotice.self, from: JSONSerialization.data(withJSONObject: pushes[0].body["trabant"]!))
        #expect(try NoticeSeal.open(sealed, with: w.device) == Self.notice)
        let fcm = pushes[1].body["message"] as? [String: Any]
        #expect((fcm?["android"] as? [String: String])?["priority"] == "high")
        for p in pushes { #expect(!String(decoding: p.bytes, as: UTF8.self).contains("Alice")) }
        #expect(w.service.requestCounts["acme"]?["accepted"] == 2)
        try await server.shutdown()
        await w.stop()
    }

    /// The server behind a CONNECT proxy reaches the relay through it: squid sees one CONNECT
    /// to the relay, the relay still sees the server's own certificate (TLS end to end).
    @Test func aServerBehindSquidPushesThroughTheRelay() async throws {
        guard let squidPath = try requireTool("squid") else { return }
        let w = try await World.make()
        let squid = try await SquidProxy(squid: squidPath, allowedPort: w.relay.port, user: "acme", password: "pw")
        let server = try w.server(proxy: .init(host: "127.0.0.1", port: squid.port, username: "acme", password: "pw"))
        let r = await server.send(Self.notice, to: .fcm(token: "fcm:behind-proxy"), key: w.key)
        try await server.shutdown()
        let log = await squid.stop()
        await w.stop()
        #expect(r.outcome == .delivered, "\(r)")
        #expect(w.service.requestCounts["acme"]?["accepted"] == 1, "the relay knew the server by its key through the tunnel")
        #expect(log.contains("CONNECT localhost:\(w.relay.port) acme"), "\(log)")
        #expect(!log.contains("/v1/push") && !log.contains("fcm:behind-proxy"), "the proxy saw the tunnel only")
    }

    /// Stopping the relay (SIGTERM) answers the push it is forwarding before it goes, and
    /// answers new requests on open connections with 503 so that servers retry.
    @Test func stoppingTheRelayAnswersThePushesInFlight() async throws {
        let w = try await World.make(relayTimeout: 1)
        let server = try w.server()
        w.emulator.stall()  // the provider takes its time: the relay gives up after 1 s
        let key = w.key
        let inFlight = Task { await server.send(Self.notice, to: .fcm(token: "fcm:x"), key: key) }
        let until = Date().addingTimeInterval(10)
        while w.relay.forwardsInFlight == 0, Date() < until { try await Task.sleep(for: .milliseconds(20)) }
        #expect(w.relay.forwardsInFlight == 1, "the push is being forwarded")
        await w.relay.stop()
        #expect(w.relay.forwardsInFlight == 0)
        let r = await inFlight.value
        // The relay's own answer (its provider did not answer), not a connection cut by the stop.
        guard case .retry(let reason, _) = r.outcome else { Issue.record("\(r)"); return }
        #expect(reason.contains("no answer within"), "\(reason)")
        // New requests: on the still open connection answered 503 "shutting down", on a new
        // one (the server's other event loop) refused at TCP — retried either way. Two pushes
        // go over both of the server's loops.
        var reasons: [String] = []
        for _ in 0..<2 {
            let later = await server.send(Self.notice, to: .fcm(token: "fcm:x"), key: key)
            if case .retry(let why, _) = later.outcome { reasons.append(why) } else { Issue.record("\(later)") }
        }
        #expect(reasons.contains { $0.contains("shutting down") }, "\(reasons)")
        try await server.shutdown()
        await w.stop()
    }

    @Test func aServerWhoseKeyIsNotRegisteredIsRefusedInTheHandshake() async throws {
        let w = try await World.make()
        let stranger = try w.server(try Identity.generate(role: "server"))
        let r = await stranger.send(Self.notice, to: .fcm(token: "fcm:x"), key: w.key)
        try await stranger.shutdown()
        // The relay's TLS alert refuses our certificate: not retried, the key to register named.
        if case .rejected(0, let reason) = r.outcome {
            #expect(reason.contains("TLS with 127.0.0.1 failed") && reason.contains("registered at the push relay"), "\(reason)")
        } else {
            Issue.record("expected a refusal, got \(r)")
        }
        #expect(r.attempts == 1)
        #expect(w.emulator.accepted == 0)
        #expect(w.service.requestCounts["acme"] == nil, "no HTTP request got through")
        #expect((w.service.requestCounts["(unregistered)"]?["unregistered"] ?? 0) >= 1, "the refusal is counted")
        // Removing a server takes effect on its open connection too (checked per request).
        let server = try w.server()
        #expect(await server.send(Self.notice, to: .fcm(token: "fcm:x"), key: w.key).outcome == .delivered)
        #expect(try w.service.servers.remove(name: "acme"))
        let after = await server.send(Self.notice, to: .fcm(token: "fcm:x"), key: w.key)
        try await server.shutdown()
        await w.stop()
        // Refused either on the open connection (403, checked per request) or, on a new one, in the handshake.
        switch after.outcome {
        case .rejected(403, let why): #expect(why.contains("not registered"))
        case .rejected(0, let why): #expect(why.contains("registered at the push relay"))
        default: Issue.record("a removed server got \(after)")
        }
        #expect(w.emulator.accepted == 1)
    }

    @Test func eachServerIsRateLimitedWithRetryAfter() async throws {
        // One token per 4 s: the three pushes (connection set-up included, debug build, a
        // loaded machine) come well within it, and the patient server waits 4 s at most.
        let w = try await World.make(perSecond: 0.25, burst: 2)
        let server = try w.server()
        var outcomes: [PushOutcome] = []
        for _ in 0..<3 { outcomes.append(await server.send(Self.notice, to: .fcm(token: "fcm:x"), key: w.key).outcome) }
        try await server.shutdown()
        #expect(outcomes[0] == .delivered)
        #expect(outcomes[1] == .delivered)
        if case .retry(let reason, let after) = outcomes[2] {
            #expect(reason.contains("rate limit of acme"))
            #expect((after ?? 0) >= 1, "Retry-After in whole seconds")
        } else {
            Issue.record("expected a rate limit, got \(outcomes[2])")
        }
        #expect(w.service.requestCounts["acme"]?["rate_limited"] == 1)
        #expect(w.emulator.accepted == 2)
        // With retries, the server waits as told and gets through.
        let patient = try w.server(attempts: 3)
        let r = await patient.send(Self.notice, to: .fcm(token: "fcm:x"), key: w.key)
        try await patient.shutdown()
        await w.stop()
        #expect(r.outcome == .delivered)
    }

    @Test func deadTokensComeBackThroughTheRelay() async throws {
        let w = try await World.make()
        w.emulator.state.withLock { $0.deadTokens = ["fcm:gone"] }
        let server = try w.server()
        #expect(await server.send(Self.notice, to: .fcm(token: "fcm:gone"), key: w.key).outcome == .deadToken(reason: "UNREGISTERED"))
        try await server.shutdown()
        await w.stop()
    }

    @Test func metricsCountPushesPerProviderAndOutcomeAndRequestsPerServer() async throws {
        let w = try await World.make()
        w.emulator.state.withLock { $0.deadTokens = ["fcm:gone"] }
        let server = try w.server()
        _ = await server.send(Self.notice, to: .apns(token: String(repeating: "ab", count: 32), type: .voip), key: w.key)
        _ = await server.send(Self.notice, to: .fcm(token: "fcm:gone"), key: w.key)
        let relaySender = w.relaySender
        let service = w.service
        let endpoint = try await MetricsEndpoint(host: "127.0.0.1", port: 0) { service.metrics(pushCounters: relaySender.counters) }
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(endpoint.port)/metrics"), timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(text.contains("trabant_push_total{provider=\"apns\",outcome=\"delivered\"} 1\n"))
        #expect(text.contains("trabant_push_total{provider=\"fcm\",outcome=\"dead_token\"} 1\n"))
        #expect(text.contains("trabant_push_relay_requests_total{server=\"acme\",result=\"accepted\"} 2\n"))
        #expect(text.contains("trabant_push_relay_servers 1\n"))
        // The server's own sender counts the same outcomes on its side.
        #expect(PushMetrics.render(server.counters).contains("trabant_push_total{provider=\"fcm\",outcome=\"dead_token\"} 1\n"))
        await endpoint.stop()
        try await server.shutdown()
        await w.stop()
    }

    @Test func theRelayRefusesAnythingButASealedPush() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = try Identity.generate(role: "server")
        let servers = RelayServers(directory: dir)
        try servers.add(RegisteredServer(name: "acme", fingerprint: id.fingerprint, perSecond: 100, burst: 100))
        let service = RelayService(servers: servers)
        let enc = Data(repeating: 1, count: 32).base64URL
        let ct = Data(repeating: 2, count: 40).base64URL
        func decide(_ json: String, path: String = "/v1/push", method: String = "POST") -> RelayService.Decision {
            service.decide(peer: id.fingerprint, method: method, path: path, body: Array(json.utf8), now: 0)
        }
        let good = #"{"provider":"fcm","token":"t","kind":"call","sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#
        guard case .forward(let push, "acme") = decide(good) else { Issue.record("a good push was not forwarded"); return }
        #expect(push.target == .fcm(token: "t"))
        #expect(try RelayPush(json: push.json) == push, "the wire format round-trips")
        let cases: [(String, String)] = [
            (#"{"provider":"fcm","token":"t","kind":"call","notice":{"caller":"Alice"},"sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#,
             "unknown field(s) notice"),
            (#"{"provider":"fcm","token":"t","kind":"call","sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)","caller":"A"}}"#,
             "exactly v, kid, enc and ct"),
            (#"{"provider":"apns","token":"t","type":"silent","kind":"call","sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#,
             "\"type\" must be"),
            (#"{"provider":"mail","token":"t","kind":"call","sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#, "\"provider\" must be"),
            (#"{"provider":"fcm","token":"t","kind":"call","sealed":{"v":1,"kid":"k","enc":"short","ct":"\#(ct)"}}"#, "sealed.enc"),
            (#"{"provider":"fcm","token":"t","kind":"call","sealed":{"v":2,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#, "sealed.v"),
            ("[1,2]", "not a JSON object"),
            (#"{"provider":"fcm","token":"t","kind":"call","collapse_id":"a\r\nx: y","sealed":{"v":1,"kid":"k","enc":"\#(enc)","ct":"\#(ct)"}}"#,
             "printable ASCII"),
        ]
        for (body, message) in cases {
            guard case .answer(400, _, let text) = decide(body) else { Issue.record("\(body) was not refused"); continue }
            #expect(text.contains(message.replacingOccurrences(of: "\"", with: "\\\"")), "\(text) should say \(message)")
        }
        if case .answer(let status, _, _) = decide(good, path: "/v1/other") { #expect(status == 404) } else { Issue.record("wrong path taken") }
        if case .answer(let status, _, _) = decide(good, method: "GET") { #expect(status == 405) } else { Issue.record("GET taken") }
        if case .answer(let status, _, _) = service.decide(peer: nil, method: "POST", path: "/v1/push", body: Array(good.utf8), now: 0) {
            #expect(status == 403)
        } else { Issue.record("no key, yet forwarded") }
        #expect(service.requestCounts["acme"]?["bad_request"] == cases.count + 2)
    }

    @Test func registryKeepsNamesAndKeysUniqueAndRejectsBadInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let servers = RelayServers(directory: dir)
        let a = try Identity.generate(role: "server").fingerprint
        try servers.add(RegisteredServer(name: "acme", fingerprint: a, perSecond: 10, burst: 20))
        #expect(throws: RelayError("that key is already registered as 'acme'")) {
            try servers.add(RegisteredServer(name: "other", fingerprint: a, perSecond: 10, burst: 20))
        }
        #expect(throws: RelayError.self) { try servers.add(RegisteredServer(name: "bad name!", fingerprint: a, perSecond: 10, burst: 20)) }
        #expect(throws: RelayError.self) { try servers.add(RegisteredServer(name: "acme", fingerprint: a, perSecond: 0, burst: 20)) }
        // Same name: limits changed in place.
        try servers.add(RegisteredServer(name: "acme", fingerprint: a, perSecond: 50, burst: 60))
        #expect(try servers.current().map(\.perSecond) == [50])
        let mode = (try FileManager.default.attributesOfItem(atPath: servers.path)[.posixPermissions] as? Int) ?? 0
        #expect(mode & 0o077 == 0, "the registry is private to the relay's user")
        // A hand-edited file with an impossible rate is refused whole, naming the server.
        let text = try String(contentsOfFile: servers.path, encoding: .utf8).replacingOccurrences(of: "\"perSecond\" : 50", with: "\"perSecond\" : 0")
        try text.write(toFile: servers.path, atomically: true, encoding: .utf8)
        #expect(throws: RelayError.self) { try servers.current() }
        do { _ = try servers.current() } catch { #expect(error.message.contains("server 'acme'") && error.message.contains("per-second")) }
        try "garbage".write(toFile: servers.path, atomically: true, encoding: .utf8)
        #expect(throws: RelayError.self) { try servers.current() }
        #expect(servers.server(for: a) == nil, "an unreadable registry lets nobody in")
    }

    @Test func tokenBucketRefillsAtItsRate() {
        var b = TokenBucket(rate: 2, burst: 3, now: 0)
        #expect((0..<3).map { _ in b.take(now: 0).allowed } == [true, true, true])
        let (allowed, wait) = b.take(now: 0)
        #expect(!allowed)
        #expect(abs(wait - 0.5) < 1e-9)
        #expect(b.take(now: 0.5).allowed)
        #expect(!b.take(now: 0.5).allowed)
        #expect(b.take(now: 100).allowed, "refills up to the burst")
        #expect((0..<2).map { _ in b.take(now: 100).allowed } == [true, true])
        #expect(!b.take(now: 100).allowed)
        // New limits keep the tokens left (no fresh burst by editing the limits).
        var c = b.with(rate: 10, burst: 50)
        #expect(!c.take(now: 100).allowed)
        #expect(c.take(now: 100.2).allowed)
    }

    @Test func collapseIDsAreHeaderSafe() {
        #expect(PushSender.collapseID(for: "abc@host") == "abc@host")
        let long = PushSender.collapseID(for: String(repeating: "x", count: 100))
        let odd = PushSender.collapseID(for: "ünï\r\ncöde")
        for id in [long, odd] {
            #expect(id.hasPrefix("sha256-") && id.utf8.count <= 64 && id.utf8.allSatisfy { (0x20...0x7E).contains($0) })
        }
        #expect(long != odd)
    }
}
