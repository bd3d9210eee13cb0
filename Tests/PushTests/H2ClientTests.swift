import Crypto
import Foundation
import NIOPosix
import NIOSSL
import PushEmulator
import PushPayload
import Testing

@testable import Push

/// The push sender's own HTTP/2 client against the emulator: what a provider does to a
/// connection (GOAWAY, no answer, oversized answers, many answers with bodies).
@Suite("Push: the HTTP/2 client", .serialized)
struct H2ClientTests {
    typealias World = PushTransportTests.World
    static let notice = PushTransportTests.notice

    @Test func aRequestRefusedByGOAWAYIsSentAgainOnANewConnection() async throws {
        let w = try await World.make()
        defer { Task { await w.stop() } }
        w.emulator.goAway()
        let r = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        #expect(r == PushResult(outcome: .delivered, attempts: 2), "\(r)")
        #expect(w.emulator.accepted == 1)
        // The next pushes use the new connection.
        for _ in 0..<3 {
            #expect(await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key).outcome == .delivered)
        }
    }

    /// A request without an answer (timed out) or with an answer too large fails alone,
    /// named; the connection goes on with the next push.
    @Test(arguments: ["stall", "oversized"]) func oneBadAnswerFailsOneRequest(_ fault: String) async throws {
        let w = try await World.make(retry: RetryPolicy(attempts: 1), requestTimeout: 1)
        defer { Task { await w.stop() } }
        if fault == "stall" { w.emulator.stall() } else { w.emulator.force(500, String(repeating: "x", count: 20_000)) }
        let r = await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        guard case .retry(let reason, _) = r.outcome else {
            Issue.record("expected a failure, got \(r)")
            return
        }
        #expect(reason.contains(fault == "stall" ? "no answer within" : "larger than 16 KiB"), "\(reason)")
        #expect(await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key).outcome == .delivered)
    }

    /// Answers with bodies and request bodies use up both sides' connection windows (64 KiB)
    /// many times over: both must give them back, or the connection stalls.
    @Test func manyRequestsAndAnswersWithBodiesKeepTheConnectionOpen() async throws {
        let w = try await World.make(retry: RetryPolicy(attempts: 1), requestTimeout: 10)
        defer { Task { await w.stop() } }
        let count = 600
        w.emulator.force(200, "{\"note\":\"" + String(repeating: "y", count: 1_000) + "\"}", times: count)
        let sender = w.sender
        let key = w.key
        let delivered = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    await sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: key).outcome == .delivered
                }
            }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(delivered == count)
    }

    /// A server, or a proxy, that accepts the connection and then says nothing: given up
    /// after the connect timeout, not waited for forever.
    @Test(arguments: [false, true]) func aSilentPeerIsGivenUp(_ asProxy: Bool) async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        let tls = try NIOSSLContext(configuration: .makeClientConfiguration())
        let client = H2Client(
            tls: tls, proxy: asProxy ? .init(host: "127.0.0.1", port: port) : nil, dnsOverride: ["api.push.apple.com": "127.0.0.1"],
            group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .seconds(1))
        do {
            _ = try await client.post(url: "https://api.push.apple.com:\(port)/3/device/x", headers: [], body: [])
            Issue.record("a silent peer answered")
        } catch let e as H2Error {
            #expect(e == .silent)
        }
        await client.shutdown()
        try await silent.close()
    }

    @Test func headerValuesThatHTTPForbidsAreRefusedBeforeSending() async throws {
        let tls = try NIOSSLContext(configuration: .makeClientConfiguration())
        let client = H2Client(tls: tls, proxy: nil, dnsOverride: [:], group: MultiThreadedEventLoopGroup.singleton)
        let cases: [([(String, String)], String)] = [
            ([("x-a", "1\r\nx-b: 2")], "https://127.0.0.1:9/p"), ([("X-Upper", "1")], "https://127.0.0.1:9/p"), ([], "http://127.0.0.1:9/p"),
            ([], "https://:9/p"),
        ]
        for (headers, url) in cases {
            await #expect(throws: H2Error.self) { _ = try await client.post(url: url, headers: headers, body: []) }
        }
        // Through a proxy, an IP address cannot be checked against the certificate (the
        // socket's address is the proxy's): names only.
        let proxied = H2Client(tls: tls, proxy: .init(host: "127.0.0.1", port: 9), dnsOverride: [:], group: MultiThreadedEventLoopGroup.singleton)
        for url in ["https://127.0.0.1:9/p", "https://[::1]:9/p"] {
            do {
                _ = try await proxied.post(url: url, headers: [], body: [])
                Issue.record("\(url) was sent through the proxy")
            } catch let e as H2Error {
                #expect("\(e)".contains("only be checked against a name"), "\(e)")
            }
        }
        await proxied.shutdown()
        do {
            _ = try await client.post(url: "https://127.0.0.1:9/a b", headers: [], body: [])
            Issue.record("a path with a space was sent")
        } catch let e as H2Error {
            guard case .badRequest = e else { Issue.record("\(e)"); return }
        }
        await client.shutdown()
    }

    /// A connection that went away without TLS's goodbye is retried; a certificate or name
    /// that does not verify is not.
    @Test func droppedConnectionsAreRetriedRefusalsAreNot() {
        #expect(!TLSFailure.isRefusal(NIOSSLError.uncleanShutdown))
        #expect(TLSFailure.isRefusal(NIOSSLError.unableToValidateCertificate))
        #expect(TLSFailure.isRefusal(NIOSSLExtraError.cannotUseIPAddressInSNI))
        #expect(TLSFailure.classify(NIOSSLError.uncleanShutdown) as? H2Error == .connectionClosed)
        guard case .tlsRefused? = TLSFailure.classify(NIOSSLError.unableToValidateCertificate) as? H2Error else {
            Issue.record("a certificate that cannot be validated is a refusal")
            return
        }
        #expect(TLSFailure.classify(H2Error.timeout) as? H2Error == .timeout, "other errors pass unchanged")
    }

    /// Google's token endpoint overloaded (503, 429): asked again, the push goes out.
    @Test(arguments: [503, 429]) func anOverloadedTokenEndpointIsAskedAgain(_ status: Int) async throws {
        let w = try await World.make()
        defer { Task { await w.stop() } }
        w.emulator.force(status, "{\"error\":\"internal_failure\"}")
        let r = await w.sender.send(Self.notice, to: .fcm(token: "fcm:1"), key: w.key)
        #expect(r == PushResult(outcome: .delivered, attempts: 2), "\(r)")
    }

    /// A graceful GOAWAY: the streams it names as processed are answered, the next pushes
    /// go on a new connection.
    @Test func streamsBeforeAGracefulGOAWAYAreStillAnswered() async throws {
        let w = try await World.make(retry: RetryPolicy(attempts: 1))
        defer { Task { await w.stop() } }
        w.emulator.quit()
        #expect(await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key) == PushResult(outcome: .delivered, attempts: 1))
        for _ in 0..<2 {
            #expect(await w.sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key).outcome == .delivered)
        }
        #expect(w.emulator.accepted == 3)
    }

    /// A connection that stops answering, PING included (cut by a NAT or firewall), is
    /// dropped: the next requests go on a new connection instead of timing out there again.
    /// (One event loop, so every request uses the same connection until it is dropped.)
    @Test func aDeadConnectionIsDroppedAfterAnUnansweredPing() async throws {
        let w = try await World.make()
        defer { Task { await w.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try w.emulator.ca.nioRoot])
        tls.applicationProtocols = ["h2"]
        let client = H2Client(
            tls: try NIOSSLContext(configuration: tls), proxy: nil, dnsOverride: ["api.push.apple.com": "127.0.0.1"], group: group,
            requestTimeout: .seconds(1))
        w.emulator.freeze()
        var timeouts = 0
        var status: Int?
        let until = Date().addingTimeInterval(30)  // bounded: the PING is given 5 s
        while status == nil, Date() < until {
            do {
                status = try await client.post(url: "https://api.push.apple.com:\(w.emulator.port)/3/device/\(World.apnsToken)", headers: [], body: []).status
            } catch H2Error.timeout {
                timeouts += 1
            } catch H2Error.connectionClosed {
                // the dead connection's last requests
            }
        }
        #expect(status == 403, "a new connection answered (no provider token: 403)")
        #expect(timeouts >= 2, "requests timed out on the dead connection first")
        await client.shutdown()
        try await group.shutdownGracefully()
    }

    /// A certificate that chains to a trusted root and has an IP entry matching the socket's
    /// address, but does not name the host asked for: refused (NIOSSL alone would accept it).
    @Test func aCertificateThatDoesNotNameTheHostIsRefused() async throws {
        let w = try await World.make()
        defer { Task { await w.stop() } }
        let sender = try PushSender(settings: PushSettings(
            apns: .init(
                credentials: try APNsCredentials(p8: P256.Signing.PrivateKey().pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                environment: .production, bundleID: "com.example.phone", baseURL: "https://wrong.example:\(w.emulator.port)"),
            trustRoots: [try w.emulator.ca.nioRoot], dnsOverride: ["wrong.example": "127.0.0.1"], retry: RetryPolicy(attempts: 3)))
        let r = await sender.send(Self.notice, to: .apns(token: World.apnsToken, type: .voip), key: w.key)
        try await sender.shutdown()
        guard case .rejected(0, let reason) = r.outcome else {
            Issue.record("expected a refusal, got \(r)")
            return
        }
        #expect(reason.contains("does not name wrong.example"), "\(reason)")
        #expect(r.attempts == 1)
        #expect(w.emulator.accepted == 0)
    }

    @Test func certificateNamesMatchExactlyOrOneWildcardLabel() {
        #expect(CertificateName.matches(pattern: "api.push.apple.com", host: "api.push.apple.com"))
        #expect(CertificateName.matches(pattern: CertificateName.normalized("API.Push.Apple.com."), host: "api.push.apple.com"))
        #expect(CertificateName.matches(pattern: "*.push.apple.com", host: "api.push.apple.com"))
        #expect(!CertificateName.matches(pattern: "*.push.apple.com", host: "push.apple.com"))
        #expect(!CertificateName.matches(pattern: "*.push.apple.com", host: "a.api.push.apple.com"))
        #expect(!CertificateName.matches(pattern: "*.com", host: "apple.com"))
        #expect(!CertificateName.matches(pattern: "api.push.apple.com.evil", host: "api.push.apple.com"))
        #expect(!CertificateName.matches(pattern: "", host: ""))
    }

    @Test(arguments: [
        "https://user@api.push.apple.com/p", "https://api.push.apple.com?x=1", "https://[::1]junk/p", "https://host:+443/p",
        "https://host:70000/p", "https://host:0/p", "https://::1:443/p", "https://ho st/p", "https://host/p#frag", "https://[zz]/p",
        "https://host\r\nx:1/p", "https:///p",
    ]) func badURLsAreRefused(_ url: String) {
        #expect(throws: H2Error.self) { _ = try H2Client.split(url) }
    }

    @Test func urlsSplitIntoOriginAndPath() throws {
        let (a, pa) = try H2Client.split("https://api.push.apple.com/3/device/ab")
        #expect(a.port == 443 && a.authority == "api.push.apple.com" && pa == "/3/device/ab" && !a.isIPAddress)
        let (b, pb) = try H2Client.split("https://[::1]:8443/v1/push?x=1")
        #expect(b.host == "::1" && b.authority == "[::1]:8443" && b.hostPort == "[::1]:8443" && pb == "/v1/push?x=1" && b.isIPAddress)
        let (c, pc) = try H2Client.split("https://127.0.0.1:9")
        #expect(c.authority == "127.0.0.1:9" && pc == "/" && c.isIPAddress)
        let e = try H2Client.Endpoint("https://relay.example.com:8443/prefix/")
        #expect(e.prefix == "/prefix" && e.origin.port == 8443)
    }
}
