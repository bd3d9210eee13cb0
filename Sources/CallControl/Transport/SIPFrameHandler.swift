import NIOCore
import SIP

/// Bytes from a TCP/TLS stream to SIP messages (RFC 3261 §18.3: Content-Length framing).
/// A stream that is not SIP gets one bare status line (400, 413 or 505) and is closed: after
/// a framing error nothing later on the stream can be trusted.
final class SIPFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = SIPMessage
    typealias OutboundOut = ByteBuffer

    private var parser = SIPStreamParser()
    private let onError: (SIPParseError) -> Void
    private var failed = false

    init(onError: @escaping (SIPParseError) -> Void) { self.onError = onError }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { parser.feed($0) }
        do {
            while let m = try parser.next() { context.fireChannelRead(wrapInboundOut(m)) }
        } catch {
            failed = true
            onError(error)
            let line = "SIP/2.0 \(error.responseStatus) \(SIPMessage.reasonPhrase(error.responseStatus))\r\nContent-Length: 0\r\n\r\n"
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: line)))
                .whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// Hands framed messages to the controller with the connection's id.
final class SIPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = SIPMessage

    let id: ConnectionID
    private let onMessage: (SIPMessage, ConnectionID) -> Void
    private let onClose: (ConnectionID) -> Void

    init(id: ConnectionID, onMessage: @escaping (SIPMessage, ConnectionID) -> Void, onClose: @escaping (ConnectionID) -> Void) {
        self.id = id
        self.onMessage = onMessage
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onMessage(unwrapInboundIn(data), id)
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose(id)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// On the listening socket: every accepted connection is checked against the access gate
/// before its channel is registered, so a refused source never has a byte read.
final class AcceptGateHandler: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let admit: (SocketAddress?) -> Bool

    init(admit: @escaping (SocketAddress?) -> Bool) { self.admit = admit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        if admit(child.remoteAddress) {
            context.fireChannelRead(data)
        } else {
            child.close(mode: .all, promise: nil)
        }
    }
}

extension SocketAddress {
    /// The 16-byte form the access gate uses (IPv4 as ::ffff:a.b.c.d).
    var gateBytes: [UInt8]? {
        switch self {
        case .v4(let a):
            let ip = UInt32(bigEndian: a.address.sin_addr.s_addr)
            return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, UInt8(ip >> 24), UInt8(ip >> 16 & 0xFF), UInt8(ip >> 8 & 0xFF), UInt8(ip & 0xFF)]
        case .v6(let a):
            var addr = a.address.sin6_addr
            return withUnsafeBytes(of: &addr) { Array($0) }
        default:
            return nil
        }
    }
}
