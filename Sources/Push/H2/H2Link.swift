import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// The connection to one origin on one event loop: connects on first use, reconnects after
/// it was retired; requests wait in `pending` until the loop writes them.
final class H2Link: Sendable {
    enum Phase {
        case idle
        case connecting
        case ready(NIOLoopBound<H2StreamsHandler>, any Channel)
    }

    struct State {
        var phase = Phase.idle
        var pending: [H2Request] = []
        var drainScheduled = false
        /// The client was shut down: a connection that gets ready now is closed at once.
        var closed = false
    }

    let client: H2Client
    let origin: H2Client.Origin
    let loop: any EventLoop
    let state = Mutex(State())
    let inFlight = H2InFlight()

    init(client: H2Client, origin: H2Client.Origin, loop: any EventLoop) {
        self.client = client
        self.origin = origin
        self.loop = loop
    }

    func submit(_ request: H2Request) {
        enum Action { case none, connect, drain }
        let action = state.withLock { s -> Action in
            s.pending.append(request)
            switch s.phase {
            case .idle:
                s.phase = .connecting
                return .connect
            case .connecting:
                return .none
            case .ready:
                if s.drainScheduled { return .none }
                // Many answers are due: the next read (or the deadline sweep) writes what waits
                // then, in one batch, instead of a flush per request.
                if s.pending.count < 32, inFlight.n.load(ordering: .relaxed) >= 16 { return .none }
                s.drainScheduled = true
                return .drain
            }
        }
        switch action {
        case .none: break
        case .connect: loop.execute { self.connect() }
        case .drain: loop.execute { self.drain() }
        }
    }

    /// On the loop: everything pending goes out in one batch.
    private func drain() { write(afterRead: false) }

    /// On the loop, after a read: what waits goes out, unless a drain is on its way anyway.
    private func drainAfterRead() { write(afterRead: true) }

    private func write(afterRead: Bool) {
        let (batch, handler) = state.withLock { s -> ([H2Request], NIOLoopBound<H2StreamsHandler>?) in
            if afterRead {
                guard !s.drainScheduled else { return ([], nil) }
            } else {
                s.drainScheduled = false
            }
            guard !s.pending.isEmpty, case .ready(let h, _) = s.phase else { return ([], nil) }
            defer { s.pending.removeAll(keepingCapacity: true) }
            return (s.pending, h)
        }
        if let handler { handler.value.send(batch) }
    }

    private func connect() {
        let ready = loop.makePromise(of: Void.self)
        let bound = connectChannel(ready: ready)
        bound.whenFailure { ready.fail($0) }
        ready.futureResult.and(bound).whenComplete { result in
            switch result {
            case .success(let (_, (channel, handler))) where self.state.withLock({ s in
                guard !s.closed else { return false }
                s.phase = .ready(handler, channel)
                s.drainScheduled = true
                return true
            }):
                self.drain()
            case .success(let (_, (channel, _))):
                // The client was shut down while this connection was being set up.
                channel.close(promise: nil)
                let waiting = self.state.withLock { s -> [H2Request] in
                    s.phase = .idle
                    defer { s.pending.removeAll() }
                    return s.pending
                }
                for r in waiting { r.promise.fail(H2Error.connectionClosed) }
            case .failure(let failure):
                // Everything waiting fails with the reason; the next request connects anew.
                let error = TLSFailure.classify(failure)
                let waiting = self.state.withLock { s -> [H2Request] in
                    s.phase = .idle
                    defer { s.pending.removeAll() }
                    return s.pending
                }
                bound.whenSuccess { $0.0.close(promise: nil) }
                for r in waiting { r.promise.fail(error) }
            }
        }
    }

    /// TCP (to the proxy, then CONNECT), TLS with ALPN h2, HTTP/2.
    private func connectChannel(ready: EventLoopPromise<Void>) -> EventLoopFuture<(any Channel, NIOLoopBound<H2StreamsHandler>)> {
        let client = self.client
        let origin = self.origin
        let loop = self.loop
        let host = client.proxy?.host ?? (origin.isIPAddress ? nil : client.dnsOverride[origin.host]) ?? origin.host
        let port = client.proxy?.port ?? origin.port
        let tunnel = client.proxy.map { _ in loop.makePromise(of: Void.self) }
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(client.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                guard let proxy = client.proxy, let tunnel else { return channel.eventLoop.makeSucceededVoidFuture() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ProxyTunnelHandler(
                            target: origin.hostPort, username: proxy.username, password: proxy.password, established: tunnel))
                }
            }
            .connect(host: host, port: port)
        connected.whenFailure { tunnel?.fail($0) }
        return connected.flatMap { channel in
            // A proxy or server that accepts and then says nothing (no CONNECT answer, no TLS,
            // no SETTINGS) is given up after the connect timeout, once more.
            let deadline = loop.scheduleTask(in: client.connectTimeout) {
                tunnel?.fail(H2Error.silent)
                ready.fail(H2Error.silent)
                channel.close(promise: nil)
            }
            ready.futureResult.whenComplete { _ in deadline.cancel() }
            let tunnelled = tunnel?.futureResult ?? loop.makeSucceededVoidFuture()
            return tunnelled.flatMapThrowing { () -> (any Channel, NIOLoopBound<H2StreamsHandler>) in
                // An IP address is not sent as SNI; NIOSSL then checks the address against the certificate.
                let handler = H2StreamsHandler(
                    ready: ready, expectedName: origin.isIPAddress ? nil : origin.host, timeout: client.requestTimeout,
                    idleTimeout: client.idleTimeout, retired: { [weak self] in self?.retire(channel) })
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(NIOSSLClientHandler(context: client.tls, serverHostname: origin.isIPAddress ? nil : origin.host))
                // Our header blocks are checked when the request is made (`post`), and of the
                // answers only :status and retry-after are read: NIOHTTP2 need not check them again.
                try sync.addHandler(NIOHTTP2Handler(mode: .client, headerBlockValidation: .disabled))
                try sync.addHandler(handler)
                handler.readCompleted = { [weak self] in self?.drainAfterRead() }
                handler.inFlight = self.inFlight
                return (channel, NIOLoopBound(handler, eventLoop: loop))
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// The connection takes no new requests: the next ones open another.
    private func retire(_ channel: any Channel) {
        let reconnect = state.withLock { s -> Bool in
            guard case .ready(_, let c) = s.phase, c === channel else { return false }
            s.phase = s.pending.isEmpty ? .idle : .connecting
            return !s.pending.isEmpty
        }
        if reconnect { loop.execute { self.connect() } }
    }

    func close() async {
        let channel = state.withLock { s -> (any Channel)? in
            s.closed = true
            guard case .ready(_, let c) = s.phase else { return nil }
            return c
        }
        try? await channel?.close()
    }
}

