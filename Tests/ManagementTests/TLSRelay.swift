import NIOCore
import NIOPosix
import NIOSSL
import PKI

/// A man in the middle for the tests: terminates TLS with its own key towards the server,
/// opens TLS with another key of its own towards the satellite, and relays the bytes
/// (HTTP/2 frames) both ways. It sees everything; what it cannot do is hold the keys.
final class TLSRelay: Sendable {
    let listener: Channel
    var port: Int { listener.localAddress?.port ?? 0 }

    init(to targetPort: Int) async throws {
        let front = try Identity.generate(role: "satellite")
        let back = try Identity.generate(role: "server")
        var serverConfig = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try front.nioCertificate())], privateKey: .privateKey(try front.nioPrivateKey()))
        serverConfig.applicationProtocols = ["h2"]
        serverConfig.certificateVerification = .noHostnameVerification
        serverConfig.trustRoots = .certificates([])
        let serverContext = try NIOSSLContext(configuration: serverConfig)
        var clientConfig = TLSConfiguration.makeClientConfiguration()
        clientConfig.applicationProtocols = ["h2"]
        clientConfig.certificateVerification = .none
        clientConfig.certificateChain = [.certificate(try back.nioCertificate())]
        clientConfig.privateKey = .privateKey(try back.nioPrivateKey())
        let clientContext = try NIOSSLContext(configuration: clientConfig)
        let acceptAny: @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void = { _, p in
            p.succeed(.certificateVerified)
        }
        listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                inbound.eventLoop.makeCompletedFuture {
                    try inbound.pipeline.syncOperations.addHandler(
                        NIOSSLServerHandler(context: serverContext, customVerificationCallback: acceptAny))
                    let toInbound = Relay(peer: inbound)
                    let outbound = ClientBootstrap(group: inbound.eventLoop)
                        .channelInitializer { out in
                            out.eventLoop.makeCompletedFuture {
                                try out.pipeline.syncOperations.addHandler(
                                    try NIOSSLClientHandler(context: clientContext, serverHostname: nil))
                                try out.pipeline.syncOperations.addHandler(toInbound)
                            }
                        }
                        .connect(host: "127.0.0.1", port: targetPort)
                    try inbound.pipeline.syncOperations.addHandler(Relay(peerFuture: outbound))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() { listener.close(promise: nil) }

    /// Writes what it reads to its peer channel; closes the peer when it closes.
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let peer: EventLoopFuture<Channel>

        init(peer: Channel) { self.peer = peer.eventLoop.makeSucceededFuture(peer) }
        init(peerFuture: EventLoopFuture<Channel>) { self.peer = peerFuture }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            peer.whenSuccess { $0.writeAndFlush(bytes, promise: nil) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            peer.whenSuccess { $0.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
