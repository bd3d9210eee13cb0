import Logging
import MediaRelay
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP endpoint for Prometheus: GET /metrics, nothing else. It binds to loopback by
/// default; the firewall (issue 5) never opens it to the outside.
public final class MetricsServer: Sendable {
    let channel: Channel
    let group: MultiThreadedEventLoopGroup
    public let port: Int

    public init(
        host: String, port: Int, controller: CallController, relay: MediaRelay,
        bridgeRefusals: @escaping @Sendable () -> [String: Int] = { [:] }
    ) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(controller: controller, relay: relay, bridgeRefusals: bridgeRefusals))
                }
            }
            .bind(host: host, port: port).get()
        self.port = channel.localAddress?.port ?? port
    }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let controller: CallController
    let relay: MediaRelay
    let bridgeRefusals: @Sendable () -> [String: Int]

    init(controller: CallController, relay: MediaRelay, bridgeRefusals: @escaping @Sendable () -> [String: Int]) {
        self.controller = controller
        self.relay = relay
        self.bridgeRefusals = bridgeRefusals
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let channel = context.channel
        let loop = context.eventLoop
        let found = head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?"))
        let controller = self.controller
        let relay = self.relay
        let bridgeRefusals = self.bridgeRefusals
        let promise = loop.makePromise(of: String.self)
        if found {
            promise.completeWithTask { PrometheusText.render(await controller.snapshot(), relay: relay.metrics, bridgeRefusals: bridgeRefusals()) }
        } else {
            promise.succeed("only GET /metrics is served here\n")
        }
        promise.futureResult.whenSuccess { body in
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            let status: HTTPResponseStatus = found ? .ok : .notFound
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(string: body))), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
