import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import PKI

/// Real TLS 1.3 handshakes on loopback: each side accepts exactly the pinned key.
@Suite("PKI: pinned TLS peers")
struct PinningTests {
    /// Echoes one line back.
    final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
    }

    /// Collects what comes back, or the error that ended the connection.
    final class Collect: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<String>
        init(_ done: EventLoopPromise<String>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            done.succeed(String(buffer: unwrapInboundIn(data)))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.eof)
        }
    }

    final class Refusals: Sendable {
        let seen = Mutex<[Fingerprint?]>([])
        var all: [Fingerprint?] { seen.withLock { $0 } }
        func add(_ f: Fingerprint?) { seen.withLock { $0.append(f) } }
    }

    /// A server with `server` that pins `serverPins`; a client with `client` that pins the
    /// server's key. Returns what the client read back, or throws the handshake's error.
    static func exchange(
        server: Identity, serverPins: Set<Fingerprint>, client: Identity, clientPins: Set<Fingerprint>, refusals: Refusals
    ) async throws -> String {
        let group = MultiThreadedEventLoopGroup.singleton
        var serverConfig = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try server.nioCertificate())], privateKey: .privateKey(try server.nioPrivateKey()))
        serverConfig.minimumTLSVersion = .tlsv13
        serverConfig.certificateVerification = .noHostnameVerification
        let serverContext = try NIOSSLContext(configuration: serverConfig)
        let verifyClient = PinnedPeers.verifier(pins: { serverPins }, refused: { f in refusals.add(f) })
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(
                        NIOSSLServerHandler(context: serverContext, customVerificationCallback: verifyClient))
                    try ch.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }

        var clientConfig = TLSConfiguration.makeClientConfiguration()
        clientConfig.minimumTLSVersion = .tlsv13
        clientConfig.certificateVerification = .noHostnameVerification
        clientConfig.certificateChain = [.certificate(try client.nioCertificate())]
        clientConfig.privateKey = .privateKey(try client.nioPrivateKey())
        let clientContext = try NIOSSLContext(configuration: clientConfig)
        let verifyServer = PinnedPeers.verifier(pins: { clientPins })
        let done = group.next().makePromise(of: String.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: clientContext, serverHostname: nil, customVerificationCallback: verifyServer))
                    try ch.pipeline.syncOperations.addHandler(Collect(done))
                }
            }
            .connect(to: listener.localAddress!).get()
        channel.writeAndFlush(ByteBuffer(string: "hello"), promise: nil)
        defer { channel.close(promise: nil) }
        return try await done.futureResult.get()
    }

    @Test func thePinnedClientGetsThroughAndAnyOtherKeyIsRefused() async throws {
        let satellite = try Identity.generate(role: "satellite")
        let server = try Identity.generate(role: "server")
        let stranger = try Identity.generate(role: "server")
        let refusals = Refusals()

        let echoed = try await Self.exchange(
            server: satellite, serverPins: [server.fingerprint], client: server, clientPins: [satellite.fingerprint],
            refusals: refusals)
        #expect(echoed == "hello")
        #expect(refusals.all.isEmpty)

        // Another server with its own key: the handshake fails, no byte reaches the echo.
        await #expect(throws: (any Error).self) {
            try await Self.exchange(
                server: satellite, serverPins: [server.fingerprint], client: stranger, clientPins: [satellite.fingerprint],
                refusals: refusals)
        }
        #expect(refusals.all == [stranger.fingerprint], "the refused key is reported")
    }

    @Test func aClientRefusesASatelliteWithAnotherKey() async throws {
        let satellite = try Identity.generate(role: "satellite")
        let impostor = try Identity.generate(role: "satellite")
        let server = try Identity.generate(role: "server")
        await #expect(throws: (any Error).self) {
            try await Self.exchange(
                server: impostor, serverPins: [server.fingerprint], client: server, clientPins: [satellite.fingerprint],
                refusals: Refusals())
        }
    }

    @Test func aClientWithoutACertificateIsRefused() async throws {
        let satellite = try Identity.generate(role: "satellite")
        let server = try Identity.generate(role: "server")
        let group = MultiThreadedEventLoopGroup.singleton
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try satellite.nioCertificate())], privateKey: .privateKey(try satellite.nioPrivateKey()))
        config.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: config)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(
                        NIOSSLServerHandler(
                            context: context, customVerificationCallback: PinnedPeers.verifier(pins: { [server.fingerprint] })))
                    try ch.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        var clientConfig = TLSConfiguration.makeClientConfiguration()
        clientConfig.certificateVerification = .none
        let clientContext = try NIOSSLContext(configuration: clientConfig)
        let done = group.next().makePromise(of: String.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: clientContext, serverHostname: nil))
                    try ch.pipeline.syncOperations.addHandler(Collect(done))
                }
            }
            .connect(to: listener.localAddress!).get()
        channel.writeAndFlush(ByteBuffer(string: "hello"), promise: nil)
        defer { channel.close(promise: nil) }
        await #expect(throws: (any Error).self) { try await done.futureResult.get() }
    }
}
