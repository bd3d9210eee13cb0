import Logging
import MediaRelay
import NIOCore
import NIOPosix
import NIOSSL
import SIP
import ServiceLifecycle
import Synchronization

/// The satellite's call controller: SIP listeners on TCP (and TLS), the access gate, the
/// B2BUA core and the media relay, wired together. All SIP state lives on one event loop;
/// the relay's async calls hop back onto it.
public final class CallController: Service, Sendable {
    public let settings: CallControllerSettings
    let relay: MediaRelay
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    let loop: EventLoop
    let state: NIOLoopBoundBox<LoopState>
    let counters = Mutex(ControllerCounters())
    let ports = Mutex<[String: Int]>([:])
    let stopped = Mutex(false)

    /// State confined to `loop`.
    final class LoopState {
        let core: B2BUACore
        var gate: AccessGate
        var connections: [ConnectionID: Channel] = [:]
        var byHop: [NextHop: ConnectionID] = [:]
        var nextID: UInt64 = 0
        var listeners: [Channel] = []
        var tick: RepeatedTask?
        var lastSecurityLog: Double = -1e9
        var suppressedSecurityLogs = 0
        var pending: [NextHop: EventLoopFuture<Channel>] = [:]
        var unflushed: [Channel] = []

        init(core: B2BUACore, gate: AccessGate) {
            self.core = core
            self.gate = gate
        }
    }

    public init(settings: CallControllerSettings, relay: MediaRelay, logger: Logger = Logger(label: "trabant.sip")) {
        self.settings = settings
        self.relay = relay
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        let core = B2BUACore(settings: settings.core, logger: logger)
        let gate = AccessGate(networks: settings.acl, limits: settings.limits, deniedUserAgents: settings.deniedUserAgents)
        state = NIOLoopBoundBox.makeBoxSendingValue(LoopState(core: core, gate: gate), as: LoopState.self, eventLoop: loop)
    }

    static func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }

    /// Binds the listeners. Returns the bound ports by name ("tcp", "tls").
    @discardableResult
    public func start() async throws -> [String: Int] {
        let tcp = try await bind(port: settings.tcpPort, tls: nil)
        var bound = ["tcp": tcp.localAddress?.port ?? 0]
        var channels = [tcp]
        if let cert = settings.tlsCertificatePath, let key = settings.tlsKeyPath {
            let config = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            var c = config
            c.minimumTLSVersion = .tlsv12
            let context = try NIOSSLContext(configuration: c)
            let tls = try await bind(port: settings.tlsPort, tls: context)
            bound["tls"] = tls.localAddress?.port ?? 0
            channels.append(tls)
        }
        let boundChannels = channels
        let boundPorts = bound
        try await loop.submit {
            let s = self.state.value
            s.listeners = boundChannels
            if s.core.settings.advertisedPort == 0 { s.core.settings.advertisedPort = UInt16(boundPorts["tcp"]!) }
            s.tick = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                self.deliver(.tick)
            }
        }.get()
        ports.withLock { $0 = bound }
        logger.info(
            "SIP listening",
            metadata: ["sip.tcp": "\(settings.bindHost):\(bound["tcp"]!)", "sip.tls": "\(bound["tls"].map(String.init) ?? "off")",
                "sip.acl": "\(settings.acl.map(\.description).joined(separator: ","))"])
        return bound
    }

    public var boundPorts: [String: Int] { ports.withLock { $0 } }

    private func bind(port: Int, tls: NIOSSLContext?) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptGateHandler { [self] in self.admit($0, tls: tls != nil) })
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try self.addSIPHandlers(channel, hop: nil)
                }
            }
        return try await bootstrap.bind(host: settings.bindHost, port: port).get()
    }

    /// Runs on the loop for each accepted connection, before any read.
    private func admit(_ address: SocketAddress?, tls: Bool) -> Bool {
        let s = state.value
        guard let bytes = address?.gateBytes else { return false }
        var verdict = s.gate.admitConnection(from: bytes, now: Self.now())
        if verdict == .allow && s.connections.count >= settings.maxConnections { verdict = .connectionRateExceeded }
        counters.withLock { $0.connections[verdict.label, default: 0] += 1 }
        if verdict != .allow { securityEvent(verdict.label, source: address, detail: tls ? "tls" : "tcp") }
        return verdict == .allow
    }

    /// Rate-limited security log: at most one line per second, with the count suppressed.
    func securityEvent(_ kind: String, source: SocketAddress?, detail: String) {
        let s = state.value
        let now = Self.now()
        if now - s.lastSecurityLog >= 1 {
            logger.warning(
                "refused",
                metadata: ["security.event": "\(kind)", "net.source": "\(source?.ipAddress ?? "?")", "detail": "\(detail)",
                    "security.suppressed": "\(s.suppressedSecurityLogs)"])
            s.lastSecurityLog = now
            s.suppressedSecurityLogs = 0
        } else {
            s.suppressedSecurityLogs += 1
        }
    }

    private func addSIPHandlers(_ channel: Channel, hop: NextHop?) throws {
        let s = state.value
        s.nextID += 1
        let id = ConnectionID(s.nextID)
        s.connections[id] = channel
        if let hop { s.byHop[hop] = id }
        let source = channel.remoteAddress
        try channel.pipeline.syncOperations.addHandlers([
            SIPFrameHandler { [self] e in
                counters.withLock { $0.malformed[e.responseStatus, default: 0] += 1 }
                securityEvent("malformed_sip", source: source, detail: e.message)
            },
            SIPConnectionHandler(
                id: id,
                onMessage: { [self] m, id in
                    if m.isRequest {
                        let verdict = state.value.gate.admitRequest(
                            from: source?.gateBytes ?? [], userAgent: m.value("user-agent"), now: Self.now())
                        if verdict != .allow {
                            counters.withLock { $0.requests[verdict.label, default: 0] += 1 }
                            securityEvent(verdict.label, source: source, detail: m.method ?? "")
                            if verdict == .scanner || verdict == .blocked { channel.close(promise: nil) }
                            return
                        }
                    }
                    deliver(.message(m, connection: id))
                },
                onClose: { [self] id in
                    let s = state.value
                    s.connections[id] = nil
                    if let hop = s.byHop.first(where: { $0.value == id })?.key { s.byHop[hop] = nil }
                    deliver(.connectionClosed(id))
                }),
        ])
    }

    /// Feeds the core and carries out its actions. On the loop.
    func deliver(_ event: CoreEvent) {
        let s = state.value
        let actions = s.core.handle(event, now: Self.now())
        for a in actions { perform(a) }
    }

    private func perform(_ action: CoreAction) {
        let s = state.value
        switch action {
        case .send(let m, let id):
            guard let ch = s.connections[id] else { return }
            write(m, on: ch)
        case .sendTo(let m, let hop, let branch):
            if let id = s.byHop[hop], let ch = s.connections[id] { return write(m, on: ch) }
            connect(hop).whenComplete { [self] result in
                switch result {
                case .success(let ch): write(m, on: ch)
                case .failure(let e):
                    logger.warning("could not reach SIP target", metadata: ["sip.hop": "\(hop)", "error": "\(e)"])
                    deliver(.sendFailed(branch: branch))
                }
            }
        case .allocateMedia(let request):
            // A media worker binds the sockets (on the other core) and reports back here.
            let loop = self.loop
            relay.createCall(request) { result in
                loop.execute { self.deliver(.mediaAllocated(call: request.id, result)) }
            }
        case .configureMedia(let call, let leg, let remote, let local, let mux, let rtp, let rtcp):
            do throws(RelayError) {
                try relay.configureLegNow(callID: call, leg: leg, remote: remote, local: local, rtcpMux: mux, rtp: rtp, rtcp: rtcp)
            } catch { logger.warning("media configure failed", metadata: ["call.id": "\(call)", "error": "\(error)"]) }
        case .updateMediaRemote(let call, let leg, let rtp, let rtcp):
            let relay = self.relay
            Task { try? await relay.updateRemote(callID: call, leg: leg, rtp: rtp, rtcp: rtcp) }
        case .releaseMedia(let call, let reason):
            try? relay.closeCallNow(call, reason: reason)
        }
    }

    /// Writes now, flushes once after this event-loop iteration: the messages one read
    /// produced for a connection go out in one system call.
    private func write(_ m: SIPMessage, on channel: Channel) {
        let s = state.value
        channel.write(channel.allocator.buffer(bytes: m.serialized), promise: nil)
        if s.unflushed.isEmpty {
            loop.execute { [self] in
                let st = state.value
                let channels = st.unflushed
                st.unflushed.removeAll(keepingCapacity: true)
                for c in channels { c.flush() }
            }
        }
        if !s.unflushed.contains(where: { $0 === channel }) { s.unflushed.append(channel) }
    }

    /// One connection per next hop, opened on demand; concurrent requests share the attempt.
    private func connect(_ hop: NextHop) -> EventLoopFuture<Channel> {
        if let pending = pendingConnects[hop] { return pending }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if hop.tls {
                        var c = TLSConfiguration.makeClientConfiguration()
                        c.certificateVerification = .none  // pinned by the management bridge (issue 4)
                        let ctx = try NIOSSLContext(configuration: c)
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: ctx, serverHostname: nil))
                    }
                    try self.addSIPHandlers(channel, hop: hop)
                }
            }
        let future = bootstrap.connect(host: hop.host, port: Int(hop.port))
        pendingConnects[hop] = future
        future.whenComplete { [self] _ in pendingConnects[hop] = nil }
        return future
    }

    private var pendingConnects: [NextHop: EventLoopFuture<Channel>] {
        get { state.value.pending }
        set { state.value.pending = newValue }
    }

    // MARK: Service

    public func run() async throws {
        if boundPorts.isEmpty { try await start() }
        try await gracefulShutdown()
        await drain()
    }

    /// SIGTERM: refuse new calls with 503, let running calls end until the deadline, then
    /// hang up the rest and close the listeners.
    public func drain() async {
        let deadline = Self.now() + settings.drainTimeout
        try? await loop.submit { self.deliver(.drain(deadline: deadline)) }.get()
        while Self.now() < deadline + 1 {
            let active = (try? await loop.submit { self.state.value.core.activeCalls }.get()) ?? 0
            if active == 0 { break }
            try? await Task.sleep(for: .milliseconds(200))
        }
        await stop()
    }

    public func stop() async {
        guard stopped.withLock({ let was = $0; $0 = true; return !was }) else { return }
        let channels = (try? await loop.submit { () -> [Channel] in
            let s = self.state.value
            s.tick?.cancel()
            return s.listeners + Array(s.connections.values)
        }.get()) ?? []
        for c in channels { try? await c.close() }
        try? await group.shutdownGracefully()
    }

    /// Counters for metrics and tests.
    public func snapshot() async -> ControllerSnapshot {
        let core = (try? await loop.submit { self.state.value.core.counters }.get()) ?? CoreCounters()
        return ControllerSnapshot(core: core, transport: counters.withLock { $0 })
    }
}

public struct ControllerCounters: Sendable, Equatable {
    /// Connections by verdict label (allow, not_in_acl, …).
    public var connections: [String: Int] = [:]
    /// Requests refused by the gate, by verdict label.
    public var requests: [String: Int] = [:]
    /// Streams closed for bytes that are not SIP, by the status sent.
    public var malformed: [Int: Int] = [:]
}

public struct ControllerSnapshot: Sendable {
    public var core: CoreCounters
    public var transport: ControllerCounters
}
