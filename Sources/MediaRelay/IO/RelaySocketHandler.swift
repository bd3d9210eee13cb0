import NIOCore

/// The thin NIO handler of one media socket: hands each datagram to the call's core and
/// performs the action it returns. Lives on the call's event loop.
final class RelaySocketHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let runtime: CallRuntime
    private let leg: Int
    private let rtcpSocket: Bool

    init(runtime: CallRuntime, leg: Int, rtcpSocket: Bool) {
        self.runtime = runtime
        self.leg = leg
        self.rtcpSocket = rtcpSocket
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        runtime.handle(envelope, leg: leg, rtcpSocket: rtcpSocket)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        runtime.flushPending()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port unreachable and similar surface here as errors on a connected-less UDP
        // socket; they must not close the leg.
        runtime.socketError(error, leg: leg)
    }
}
