import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP endpoint for Prometheus: GET /metrics, nothing else, rendered on each scrape.
/// It binds to loopback by default; the firewall never opens it to the outside.
public final class MetricsEndpoint: Sendable {
    let channel: Channel
    let group: MultiThreadedEventLoopGroup
    public let port: Int

    public init(host: String, port: Int, render: @escaping @Sendable () async -> String) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(MetricsHandler(render: render))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
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

    let render: @Sendable () async -> String

    init(render: @escaping @Sendable () async -> String) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let channel = context.channel
        let found = head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?"))
        let promise = context.eventLoop.makePromise(of: String.self)
        if found {
            let render = self.render
            promise.completeWithTask { await render() }
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
