import Foundation
import NIOCore

/// Opens an HTTP CONNECT tunnel through a proxy (with basic authentication when given), then
/// takes itself out of the pipeline: what follows is TLS with the provider, end to end.
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let target: String
    let authorization: String?
    let established: EventLoopPromise<Void>
    private var answer: [UInt8] = []
    private var isEstablished = false

    /// `target`: "host:port"; `username`/`password`: basic authentication.
    init(target: String, username: String?, password: String?, established: EventLoopPromise<Void>) {
        self.target = target
        self.authorization = username.map { "Basic " + Data("\($0):\(password ?? "")".utf8).base64EncodedString() }
        self.established = established
    }

    func channelActive(context: ChannelHandlerContext) {
        var request = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization { request += "Proxy-Authorization: \(authorization)\r\n" }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        answer += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let end = headerEnd() else {
            if answer.count > 16 * 1024 { fail(context, H2Error.proxyRefused("an answer without end")) }
            return
        }
        // "HTTP/1.1 200 Connection established"
        let statusLine = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            fail(context, H2Error.proxyRefused("not an HTTP answer: \(statusLine.prefix(60))"))
            return
        }
        guard (200..<300).contains(status) else {
            fail(context, status == 407 ? H2Error.proxyAuthentication : H2Error.proxyRefused(String(statusLine.dropFirst(9).prefix(80))))
            return
        }
        // Nothing may follow the proxy's answer before our TLS hello.
        guard end == answer.count else {
            fail(context, H2Error.proxyRefused("bytes after its answer"))
            return
        }
        isEstablished = true
        let established = self.established
        context.pipeline.syncOperations.removeHandler(self).whenSuccess { _ in established.succeed(()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !isEstablished { established.fail(H2Error.proxyRefused("the tunnel was given up")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        established.fail(H2Error.proxyRefused("it closed the connection"))
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        established.fail(error)
        context.close(promise: nil)
    }

    private func headerEnd() -> Int? {
        guard answer.count >= 4 else { return nil }
        for i in 3..<answer.count where answer[i - 3] == 13 && answer[i - 2] == 10 && answer[i - 1] == 13 && answer[i] == 10 {
            return i + 1
        }
        return nil
    }
}
