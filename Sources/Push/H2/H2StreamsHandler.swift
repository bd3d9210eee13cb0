import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import NIOTLS
import Synchronization

/// The streams of one HTTP/2 client connection, handled as frames (no channel per stream):
/// requests are written in batches with one flush, answers matched by stream id. Runs on the
/// connection's event loop only.
final class H2StreamsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    struct Stream {
        var promise: EventLoopPromise<H2Response>
        var sent: NIODeadline
        var status: Int?
        var retryAfter: String?
        var body: [UInt8] = []
    }

    /// Stream ids are 31 bits; a connection is retired well before they run out.
    static let lastStreamID: Int32 = Int32.max - 1_000_000
    static let connectionWindow = 65_535

    let ready: EventLoopPromise<Void>
    let timeout: TimeAmount
    let idleTimeout: TimeAmount
    /// Called once when this connection takes no new requests any more (closed, GOAWAY, ids
    /// used up): the client opens another for the next ones.
    let retired: () -> Void
    /// After each read (answers came in) and each deadline sweep: the link writes what waits.
    var readCompleted: () -> Void = {}
    /// Streams waiting for answers, for the link to decide whether to wait for a read.
    var inFlight: H2InFlight?
    private var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var nextID: Int32 = 1
    private var failure: (any Error)?
    private var protocolError: (any Error)?
    private var isRetired = false
    private var isReady = false
    private var lastActive = NIODeadline.now()
    private var sweep: RepeatedTask?

    /// The host name the certificate must name; nil for an IP address (NIOSSL checks it
    /// against the socket's address, which is the server's without a proxy).
    let expectedName: String?
    /// A PING sent because a request timed out: unanswered, the connection is dead.
    private var pingSent: NIODeadline?
    static let pingTimeout = TimeAmount.seconds(5)

    init(
        ready: EventLoopPromise<Void>, expectedName: String?, timeout: TimeAmount, idleTimeout: TimeAmount, retired: @escaping () -> Void
    ) {
        self.expectedName = expectedName
        self.ready = ready
        self.timeout = timeout
        self.idleTimeout = idleTimeout
        self.retired = retired
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Deadlines are checked once a second instead of a timer per request.
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        sweep = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            me.value.checkDeadlines()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        sweep?.cancel()
        self.context = nil
    }

    /// Writes the requests on new streams, then flushes once.
    func send(_ requests: [H2Request]) {
        guard let context, isReady, !isRetired, failure == nil else {
            for r in requests { r.promise.fail(failure ?? H2Error.connectionClosed) }
            return
        }
        let now = NIODeadline.now()
        lastActive = now
        for r in requests {
            let id = HTTP2StreamID(nextID)
            nextID += 2
            var headers = HPACKHeaders()
            headers.reserveCapacity(r.headers.count + 4)
            headers.add(name: ":method", value: "POST")
            headers.add(name: ":scheme", value: "https")
            headers.add(name: ":authority", value: r.authority)
            headers.add(name: ":path", value: r.path)
            for (name, value) in r.headers { headers.add(name: name, value: value) }
            headers.add(name: "content-length", value: String(r.body.count))
            streams[id] = Stream(promise: r.promise, sent: now)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: r.body.isEmpty)))), promise: nil)
            if !r.body.isEmpty {
                var buffer = context.channel.allocator.buffer(capacity: r.body.count)
                buffer.writeBytes(r.body)
                context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(buffer), endStream: true)))), promise: nil)
            }
        }
        context.flush()
        publishInFlight()
        if nextID >= Self.lastStreamID { retire() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        publishInFlight()
        context.fireChannelReadComplete()
        readCompleted()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .settings where !isReady:
            // The server's SETTINGS: it speaks HTTP/2 (ALPN said so too) and takes streams.
            isReady = true
            ready.succeed(())
        case .headers(let h):
            guard var s = streams[frame.streamID] else { return }
            if let status = h.headers.first(name: ":status").flatMap(Int.init), status >= 200 {
                s.status = status
                s.retryAfter = h.headers.first(name: "retry-after")
            }
            streams[frame.streamID] = s
            if h.endStream { finish(frame.streamID) }
        case .data(let d):
            guard var s = streams[frame.streamID] else { return }
            if case .byteBuffer(let b) = d.data {
                guard s.body.count + b.readableBytes <= 16 * 1024 else {
                    fail(frame.streamID, H2Error.answerTooLarge)
                    context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: frame.streamID, payload: .rstStream(.cancel))), promise: nil)
                    return
                }
                s.body += b.readableBytesView
            }
            streams[frame.streamID] = s
            if d.endStream { finish(frame.streamID) }
        case .rstStream(let code):
            fail(frame.streamID, H2Error.streamReset(code))
        case .ping(_, ack: true):
            pingSent = nil
        case .goAway(let last, _, _):
            // Streams above `last` were not processed: they may be sent again elsewhere. Reset
            // them, so that NIOHTTP2 drops those it still holds back (over the server's limit
            // of concurrent streams) instead of opening them after the GOAWAY.
            let refused = streams.keys.filter { $0 > last }
            for id in refused {
                fail(id, H2Error.goAway)
                context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
            }
            if !refused.isEmpty { context.flush() }
            retire()
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let e as NIOHTTP2WindowUpdatedEvent where e.streamID == .rootStream:
            // Without per-stream channels nothing else returns the connection's window.
            if let w = e.inboundWindowSize, w < Self.connectionWindow / 2 {
                context.writeAndFlush(
                    wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: Self.connectionWindow - w))),
                    promise: nil)
            }
        case let e as StreamClosedEvent:
            // Closed without a complete answer (reset by NIOHTTP2 itself, e.g. a malformed answer).
            if streams[e.streamID] != nil { fail(e.streamID, H2Error.streamReset(e.reason ?? .cancel)) }
        case let e as TLSUserEvent:
            guard case .handshakeCompleted(let alpn) = e else { break }
            if alpn != "h2" {
                failAll(H2Error.notHTTP2(alpn))
                context.close(promise: nil)
            } else if let name = expectedName,
                !((try? context.pipeline.syncOperations.nioSSL_peerCertificate()).flatMap { $0 }.map { CertificateName.matches($0, host: name) }
                    ?? false)
            {
                failAll(H2Error.certificateNotFor(name))
                context.close(promise: nil)
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let e = error as? NIOHTTP2Errors.StreamError {
            fail(e.streamID, e.baseError)
            return
        }
        if String(reflecting: type(of: error)).hasPrefix("NIOHTTP2.") {
            // An HTTP/2 protocol error: of one stream (NIOHTTP2 resets it, StreamClosedEvent
            // fails it) or of the connection (NIOHTTP2 sent GOAWAY). Either way no new
            // request goes here; the connection closes when its streams are done.
            protocolError = error
            retire()
            return
        }
        // TLS or I/O: the connection is gone, every stream fails with the reason. Once
        // HTTP/2 ran, a TLS error is a broken connection (retried), not a refusal.
        failAll(isReady && failure == nil ? H2Error.connectionClosed : TLSFailure.classify(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(protocolError ?? H2Error.connectionClosed)
        context.fireChannelInactive()
    }

    private func finish(_ id: HTTP2StreamID) {
        guard let s = streams.removeValue(forKey: id) else { return }
        if let status = s.status {
            s.promise.succeed(H2Response(status: status, body: s.body, retryAfter: s.retryAfter))
        } else {
            s.promise.fail(H2Error.streamReset(.protocolError))
        }
        closeIfDone()
    }

    private func fail(_ id: HTTP2StreamID, _ error: any Error) {
        streams.removeValue(forKey: id)?.promise.fail(error)
        closeIfDone()
    }

    private func failAll(_ error: any Error) {
        if failure == nil { failure = error }
        if !isReady {
            isReady = true  // only once
            ready.fail(error)
        }
        let all = streams
        streams.removeAll()
        for s in all.values { s.promise.fail(error) }
        retire()
    }

    private func publishInFlight() {
        if !isRetired { inFlight?.n.store(streams.count, ordering: .relaxed) }
    }

    private func retire() {
        guard !isRetired else { return }
        isRetired = true
        inFlight?.n.store(0, ordering: .relaxed)
        retired()
        closeIfDone()
    }

    /// A retired connection closes when its last stream is answered.
    private func closeIfDone() {
        if isRetired, streams.isEmpty, let context, context.channel.isActive { context.close(promise: nil) }
    }

    private func checkDeadlines() {
        defer { readCompleted() }
        let now = NIODeadline.now()
        if let sent = pingSent, sent + Self.pingTimeout < now {
            // No answer to PING: the connection is dead (cut by a NAT or firewall) — its
            // requests go again on a new one instead of waiting out their timeouts here.
            failAll(H2Error.connectionClosed)
            context?.close(promise: nil)
            return
        }
        var timedOut = false
        for (id, s) in streams where s.sent + timeout < now {
            timedOut = true
            fail(id, H2Error.timeout)
            context?.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
        }
        if timedOut, pingSent == nil, !isRetired {
            pingSent = now
            context?.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 1), ack: false))), promise: nil)
        }
        if timedOut { context?.flush() }
        if streams.isEmpty, lastActive + idleTimeout < now { retire() }
    }
}

/// How many answers the link's current connection waits for (written by its handler).
final class H2InFlight: Sendable {
    let n = Atomic<Int>(0)
}
