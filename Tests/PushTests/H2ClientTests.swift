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
        #expect(!PushSender.isTLSRefusal(NIOSSLError.uncleanShutdown))
        #expect(PushSender.isTLSRefusal(NIOSSLError.unableToValidateCertificate))
        #expect(PushSender.isTLSRefusal(NIOSSLExtraError.cannotUseIPAddressInSNI))
    }

    /// Google's token endpoint overloaded (503): asked again, the push goes out.
    @Test func anOverloadedTokenEndpointIsAskedAgain() async throws {
        let w = try await World.make()
        defer { Task { await w.stop() } }
        w.emulator.force(503, "{\"error\":\"internal_failure\"}")
        let r = await w.sender.send(Self.notice, to: .fcm(token: "fcm:1"), key: w.key)
        #expect(r == PushResult(outcome: .delivered, attempts: 2), "\(r)")
    }
}
