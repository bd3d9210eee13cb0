import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import PushEmulator
import Testing

@testable import Push
@testable import PushPayload

/// Pushes through a real HTTP CONNECT proxy (squid, Debian) with basic auth: it sees only
/// CONNECT; a wrong password is a clear error; a proxy that intercepts TLS fails closed.
@Suite("Push: through a CONNECT proxy", .serialized)
struct ProxyTests {
    /// The unprivileged ports: the emulators bind ephemeral ones, each world its own.
    static let ephemeral = 1024...65535

    /// The provider unreachable behind the proxy (squid answers CONNECT with an error): a
    /// retried transport failure that says so, not a "wrong password".
    @Test func anUnreachableProviderBehindTheProxyIsRetriedAndNamed() async throws {
        guard let squidPath = try requireTool("squid") else { return }
        let squid = try await SquidProxy(squid: squidPath, allowedPorts: Self.ephemeral, user: "trabant", password: "s3cret")
        let w = try await PushTransportTests.World.make(
            proxy: .init(host: "127.0.0.1", port: squid.port, username: "trabant", password: "s3cret"), dnsOverride: false,
            retry: RetryPolicy(attempts: 2, base: 0.05, cap: 0.1))
        w.emulator.stop()
        try await Task.sleep(for: .milliseconds(200))
        let r = await w.sender.send(PushTransportTests.notice, to: .apns(token: PushTransportTests.World.apnsToken, type: .voip), key: w.key)
        await w.stop()
        _ = await squid.stop()
        guard case .retry(let reason, _) = r.outcome else {
            Issue.record("expected a retried transport failure, got \(r)")
            return
        }
        #expect(reason.contains("could not open a tunnel to api.push.apple.com"), "\(reason)")
        #expect(!reason.contains("password"))
        #expect(r.attempts == 2, "retried")
    }

    @Test func pushesGoThroughSquidWhichSeesOnlyConnect() async throws {
        guard let squidPath = try requireTool("squid") else { return }
        // Each world's emulator binds an ephemeral port: squid tunnels to that range only.
        let squid = try await SquidProxy(squid: squidPath, allowedPorts: Self.ephemeral, user: "trabant", password: "s3cret")
        let w = try await PushTransportTests.World.make(
            proxy: .init(host: "127.0.0.1", port: squid.port, username: "trabant", password: "s3cret"), dnsOverride: false)
        let port = w.emulator.port
        let apns = await w.sender.send(PushTransportTests.notice, to: .apns(token: PushTransportTests.World.apnsToken, type: .voip), key: w.key)
        #expect(apns.outcome == .delivered, "\(apns)")
        let fcm = await w.sender.send(PushTransportTests.notice, to: .fcm(token: "fcm:device-1"), key: w.key)
        #expect(fcm.outcome == .delivered, "\(fcm)")
        await w.stop()

        // A wrong password: a clear error, nothing delivered.
        let bad = try await PushTransportTests.World.make(
            proxy: .init(host: "127.0.0.1", port: squid.port, username: "trabant", password: "wrong"), dnsOverride: false)
        let refused = await bad.sender.send(PushTransportTests.notice, to: .apns(token: PushTransportTests.World.apnsToken, type: .voip), key: bad.key)
        guard case .rejected(407, let reason) = refused.outcome else {
            Issue.record("expected the proxy's refusal, got \(refused)")
            return
        }
        #expect(reason.contains("push.proxy.username or password"))
        #expect(refused.attempts == 1, "not retried")
        #expect(bad.emulator.pushes.isEmpty)
        await bad.stop()

        // squid writes a tunnel's line when it ends: read the log once it stopped.
        let log = await squid.stop()
        let access = log
        let lines = access.split(separator: "\n").filter { !$0.contains("transaction-end-before-headers") }  // our readiness probe
        #expect(!lines.isEmpty, "squid logged the tunnels")
        #expect(lines.allSatisfy { $0.contains(" CONNECT ") }, "only CONNECT, never the pushes themselves: \(log)")
        #expect(access.contains("TCP_DENIED/407"), "the wrong password was refused by squid: \(access)")
        #expect(log.contains("CONNECT api.push.apple.com:\(port) trabant"), "\(log)")
        #expect(log.contains("CONNECT fcm.googleapis.com:\(port) trabant"), "\(log)")
        #expect(log.contains("CONNECT oauth2.googleapis.com:\(port) trabant"), "\(log)")
        #expect(!log.contains("ya29.") && !log.contains("/3/device"), "no token, path or payload in the proxy's log")
    }

    /// A proxy that answers CONNECT and then presents a certificate of its own CA for the
    /// provider's name (TLS interception): the sender does not trust it and sends nothing.
    @Test func anInterceptingProxyFailsClosed() async throws {
        let mitmCA = try TestCA(names: ProviderEmulator.names, commonName: "Corporate inspection CA")
        let context = try mitmCA.serverContext()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Intercept(context: context)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let w = try await PushTransportTests.World.make(
            proxy: .init(host: "127.0.0.1", port: listener.localAddress!.port!), dnsOverride: false)
        let r = await w.sender.send(PushTransportTests.notice, to: .apns(token: PushTransportTests.World.apnsToken, type: .voip), key: w.key)
        guard case .rejected(_, let reason) = r.outcome else {
            Issue.record("expected a refused certificate, got \(r.outcome)")
            return
        }
        #expect(reason.contains("CERTIFICATE_VERIFY_FAILED"), "\(reason)")
        #expect(w.emulator.pushes.isEmpty)
        await w.stop()
        listener.close(promise: nil)
    }

    /// Answers the CONNECT, then speaks TLS with its own certificate.
    final class Intercept: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let context: NIOSSLContext
        var seen = ""
        var switched = false

        init(context: NIOSSLContext) { self.context = context }

        func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
            guard !switched else { return }
            seen += String(buffer: unwrapInboundIn(data))
            guard seen.contains("\r\n\r\n") else { return }
            switched = true
            ctx.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
            try? ctx.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .before(self))
        }
    }
}
