import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import PKI
import Push
import Synchronization

/// `trabant push-relay`'s listener: HTTP/2 over TLS 1.3; a client certificate is required and
/// its key must be registered (checked in the handshake, so an unknown server gets no HTTP
/// at all), then `RelayService` decides and `PushSender` forwards to APNs/FCM.
public final class PushRelayServer: Sendable {
    let channel: Channel
    public let port: Int
    let logger: Logger
    let drain = RelayDrain()

    /// Pushes being forwarded to APNs/FCM now.
    public var forwardsInFlight: Int { drain.forwarding.load(ordering: .relaxed) }

    public init(
        host: String, port: Int, certificateChain: [NIOSSLCertificate], key: NIOSSLPrivateKey, service: RelayService,
        sender: PushSender, maxConnections: Int = 4096, logger: Logger = Logger(label: "trabant.push-relay")
    ) async throws {
        self.logger = logger
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .noHostnameVerification
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let servers = service.servers
        let verify = PinnedPeers.verifier(
            pins: { Set(((try? servers.current()) ?? []).map(\.fingerprint)) },
            refused: { f in
                service.refusedHandshake(key: f.map { "\($0)" } ?? "none")
            })
        let open = ConnectionCount()
        let drainState = drain
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                // Bounded: connections at once, time to finish TLS, time without traffic.
                guard open.n.add(1, ordering: .relaxed).oldValue < maxConnections else {
                    open.n.subtract(1, ordering: .relaxed)
                    return ch.close()
                }
                ch.closeFuture.whenComplete { _ in open.n.subtract(1, ordering: .relaxed) }
                return ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context, customVerificationCallback: verify))
                    try ch.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: .seconds(10)))
                    try ch.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .minutes(5)))
                    try ch.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    _ = try ch.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            let peer = (try? stream.parent?.pipeline.syncOperations.nioSSL_peerCertificate())
                                .flatMap { $0 }.flatMap(PinnedPeers.fingerprint(of:))
                            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                            try stream.pipeline.syncOperations.addHandler(
                                RelayStreamHandler(peer: peer, service: service, sender: sender, drain: drainState, logger: logger))
                        }
                    }
                }
            }
            .bind(host: host, port: port).get()
        self.port = channel.localAddress?.port ?? port
    }

    /// Stops accepting connections, answers new requests on open ones with 503 (the server
    /// retries, elsewhere or later), and waits — at most `grace` — until the pushes being
    /// forwarded are answered, so that none is lost in flight.
    public func stop(grace: Duration = .seconds(15)) async {
        drain.draining.store(true, ordering: .relaxed)
        try? await channel.close()
        let clock = ContinuousClock()
        let until = clock.now + grace
        while drain.forwarding.load(ordering: .relaxed) > 0, clock.now < until {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = drain.forwarding.load(ordering: .relaxed)
        if left > 0 { logger.warning("push relay stopped with pushes in flight", metadata: ["relay.in_flight": "\(left)"]) }
    }
}

/// The relay's shutdown state, shared by its streams.
final class RelayDrain: Sendable {
    let draining = Atomic<Bool>(false)
    let forwarding = Atomic<Int>(0)
}

/// One HTTP/2 stream: read the request (bounded), decide, forward, answer.
final class RelayStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let peer: Fingerprint?
    let service: RelayService
    let sender: PushSender
    let drain: RelayDrain
    let logger: Logger
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var tooLarge = false

    init(peer: Fingerprint?, service: RelayService, sender: PushSender, drain: RelayDrain, logger: Logger) {
        self.peer = peer
        self.service = service
        self.sender = sender
        self.drain = drain
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body(var b):
            if body.count + b.readableBytes > RelayPush.maximumBytes {
                tooLarge = true
            } else {
                body += b.readBytes(length: b.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            if tooLarge {
                service.tooLarge(peer: peer)
                respond(context, .answer(status: 413, headers: ["content-type": "application/json"],
                    body: "{\"outcome\":\"rejected\",\"reason\":\"the request is larger than \(RelayPush.maximumBytes) bytes\"}"))
                return
            }
            if drain.draining.load(ordering: .relaxed) {
                respond(context, RelayService.error(503, "the push relay is shutting down", retryAfter: 1))
                return
            }
            let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            let decision = service.decide(peer: peer, method: head.method.rawValue, path: head.uri, body: body, now: now)
            guard case .forward(let push, _) = decision else {
                respond(context, decision)
                return
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let sender = self.sender
            let drain = self.drain
            drain.forwarding.add(1, ordering: .relaxed)
            Task {
                let result = await sender.deliver(push.sealed, kind: push.kind, collapseID: push.collapseID, to: push.target)
                let body = (try? JSONEncoder().encode(RelayAnswer(result.outcome))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                loop.execute {
                    let (handler, context) = bound.value
                    handler.respond(context, .answer(status: 200, headers: ["content-type": "application/json"], body: body))
                    drain.forwarding.subtract(1, ordering: .relaxed)  // answered (written and flushed)
                }
            }
        }
    }

    func respond(_ context: ChannelHandlerContext, _ decision: RelayService.Decision) {
        guard case .answer(let status, let extra, let text) = decision else { return }
        var h = HTTPHeaders(extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        h.add(name: "content-length", value: "\(text.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http2, status: .init(statusCode: status), headers: h))), promise: nil)
        if !text.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Closes a connection that has not finished its TLS handshake in time (a client that
/// connects and says nothing holds no descriptor for long).
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let timeout: TimeAmount
    var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            deadline?.cancel()
            deadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }
}

/// Closes a connection that carried nothing for the idle time (the server reconnects).
final class CloseWhenIdle: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

final class ConnectionCount: Sendable {
    let n = Atomic<Int>(0)
}
