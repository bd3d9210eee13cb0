import Logging
import MediaRelay
import NIOCore
import NIOPosix
import NIOSSL
import PKI
import SDP
import SIP
import ServiceLifecycle
import Synchronization

/// The satellite's call controller: SIP listeners on TCP (and TLS), the access gate, the
/// B2BUA cores and the media relay, wired together.
///
/// Calls are sharded over event loops (one per core): a call lives in the core of the loop
/// its Call-ID hashes to; the legs the controller originates carry the shard in their
/// Call-ID ("t<n>-…"). Connections live on any loop; each message is parsed on its
/// connection's loop and handed to its call's shard. Each shard's state is confined to
/// its loop; the relay's work runs on the relay's own threads.
public final class CallController: Service, Sendable {
    public let settings: CallControllerSettings
    let relay: MediaRelay
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    let shards: [Shard]
    let registry = Mutex(Registry())
    let gate: Mutex<AccessGate>
    let counters = Mutex(ControllerCounters())
    let security = Mutex(SecurityLog())
    let ports = Mutex<[String: Int]>([:])
    let stopped = Mutex(false)
    let finalSnapshot = Mutex<ControllerSnapshot?>(nil)
    /// Snapshots walking the shards right now.
    let readers = Mutex(0)
    let eventSink = Mutex<(@Sendable (ControllerEvent) -> Void)?>(nil)
    /// The TLS listener's contexts; replaced when the satellite's identity rotates.
    let serverTLS = Mutex<ServerTLS?>(nil)
    let identity: Mutex<Identity?>

    /// One core and its loop.
    final class Shard: Sendable {
        let index: Int
        let loop: EventLoop
        let state: NIOLoopBoundBox<ShardState>

        init(index: Int, loop: EventLoop, settings: CoreSettings, logger: Logger) {
            self.index = index
            self.loop = loop
            state = NIOLoopBoundBox.makeBoxSendingValue(
                ShardState(core: B2BUACore(settings: settings, logger: logger)), as: ShardState.self, eventLoop: loop)
        }
    }

    final class ShardState {
        let core: B2BUACore
        var tick: RepeatedTask?
        var unflushed: [Channel] = []
        init(core: B2BUACore) { self.core = core }
    }

    /// Connections shared by all shards.
    struct Registry {
        var connections: [ConnectionID: Channel] = [:]
        var byHop: [NextHop: ConnectionID] = [:]
        var pending: [NextHop: EventLoopFuture<Channel>] = [:]
        var nextID: UInt64 = 0
        var listeners: [Channel] = []
        /// Connections over TLS (closed when the pinned server keys narrow).
        var tls: Set<ConnectionID> = []
    }

    struct SecurityLog {
        var last: Double = -1e9
        var suppressed = 0
    }

    public init(settings: CallControllerSettings, relay: MediaRelay, logger: Logger = Logger(label: "trabant.sip")) {
        self.settings = settings
        self.relay = relay
        self.logger = logger
        let count = max(1, min(settings.sipThreads, 16))
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        var shards: [Shard] = []
        var loops = group.makeIterator()
        for i in 0..<count {
            var core = settings.core
            core.callIDPrefix = "t\(i)-"
            shards.append(Shard(index: i, loop: loops.next()!, settings: core, logger: logger))
        }
        self.shards = shards
        gate = Mutex(AccessGate(networks: settings.acl, limits: settings.limits, deniedUserAgents: settings.deniedUserAgents))
        identity = Mutex(settings.tlsIdentity)
        settings.serverPins.onNarrowed { [weak self] in self?.closeTLSConnections() }
    }

    /// TLS connections made under trust that no longer holds (before pairing, or with a key
    /// that was revoked) are closed; the server reconnects with a key that is pinned now.
    func closeTLSConnections() {
        let channels = registry.withLock { r in r.tls.compactMap { r.connections[$0] } }
        if !channels.isEmpty {
            logger.notice("closing TLS connections made under the previous pins", metadata: ["sip.connections": "\(channels.count)"])
        }
        for c in channels { c.close(promise: nil) }
    }

    /// The satellite's identity rotated: new TLS connections (in and out) present the new one.
    public func replaceIdentity(_ new: Identity) throws {
        identity.withLock { $0 = new }
        guard settings.tlsCertificatePath == nil, serverTLS.withLock({ $0 != nil }) else { return }
        let contexts = try serverTLSContexts()
        serverTLS.withLock { $0 = contexts }
    }

    static func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }

    /// The shard a message belongs to: ours by Call-ID prefix, else by a hash of the Call-ID.
    func shard(for m: SIPMessage) -> Shard {
        guard shards.count > 1, let callID = m.callID else { return shards[0] }
        let u = Array(callID.utf8)
        if u.count > 2, u[0] == UInt8(ascii: "t"), let dash = u.prefix(4).firstIndex(of: UInt8(ascii: "-")), dash > 1,
            let n = Int(String(decoding: u[1..<dash], as: UTF8.self)), n < shards.count
        {
            return shards[n]
        }
        var h: UInt32 = 2_166_136_261
        for b in u { h = (h ^ UInt32(b)) &* 16_777_619 }
        return shards[Int(h % UInt32(shards.count))]
    }

    /// Binds the listeners. Returns the bound ports by name ("tcp", "tls").
    @discardableResult
    public func start() async throws -> [String: Int] {
        let tcp = try await bind(port: settings.tcpPort, tls: false)
        var bound = ["tcp": tcp.localAddress?.port ?? 0]
        var channels = [tcp]
        if let contexts = try serverTLSContexts() {
            serverTLS.withLock { $0 = contexts }
            let tls = try await bind(port: settings.tlsPort, tls: true)
            bound["tls"] = tls.localAddress?.port ?? 0
            channels.append(tls)
        }
        registry.withLock { $0.listeners = channels }
        let tcpPort = UInt16(bound["tcp"]!)
        let tlsPort = UInt16(bound["tls"] ?? settings.tlsPort)
        for shard in shards {
            try await shard.loop.submit {
                let s = shard.state.value
                if s.core.settings.advertisedPort == 0 { s.core.settings.advertisedPort = tcpPort }
                if s.core.settings.advertisedTLSPort == 0 { s.core.settings.advertisedTLSPort = tlsPort }
                s.tick = shard.loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                    self.deliver(.tick, to: shard)
                    // Forget sources whose window and block ended (bounded memory).
                    if shard.index == 0 { self.gate.withLock { $0.prune(now: Self.now()) } }
                }
            }.get()
        }
        ports.withLock { $0 = bound }
        logger.info(
            "SIP listening",
            metadata: [
                "sip.tcp": "\(settings.bindHost):\(bound["tcp"]!)", "sip.tls": "\(bound["tls"].map(String.init) ?? "off")",
                "sip.acl": "\(settings.acl.map(\.description).joined(separator: ","))", "sip.threads": "\(shards.count)",
            ])
        return bound
    }

    public var boundPorts: [String: Int] { ports.withLock { $0 } }

    /// TLS 1.3 with the configured certificate files, else the satellite's own identity; nil
    /// when there is neither. Two contexts: before pairing any client may connect; after it,
    /// only one that presents the server's pinned key.
    private func serverTLSContexts() throws -> ServerTLS? {
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKeySource
        if let cert = settings.tlsCertificatePath, let keyPath = settings.tlsKeyPath {
            chain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            key = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
        } else if let identity = identity.withLock({ $0 }) {
            chain = [.certificate(try identity.nioCertificate())]
            key = .privateKey(try identity.nioPrivateKey())
        } else {
            return nil
        }
        var open = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        open.minimumTLSVersion = .tlsv13
        var pinned = open
        pinned.certificateVerification = .noHostnameVerification
        return ServerTLS(open: try NIOSSLContext(configuration: open), pinned: try NIOSSLContext(configuration: pinned))
    }

    /// The handler for an accepted TLS connection, as the pairing state and identity are now.
    private func serverTLSHandler() throws -> NIOSSLServerHandler {
        guard let tls = serverTLS.withLock({ $0 }) else { throw ChannelError.inappropriateOperationForState }
        let pins = settings.serverPins
        guard !pins.isEmpty else { return NIOSSLServerHandler(context: tls.open) }
        return NIOSSLServerHandler(
            context: tls.pinned,
            customVerificationCallback: PinnedPeers.verifier(pins: { pins.current }) { [self] in refusedKey($0) })
    }

    private func bind(port: Int, tls: Bool) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptGateHandler { [self] in self.admit($0, tls: tls) })
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if tls { try channel.pipeline.syncOperations.addHandler(try self.serverTLSHandler()) }
                    try self.addSIPHandlers(channel, hop: nil, tls: tls)
                }
            }
        return try await bootstrap.bind(host: settings.bindHost, port: port).get()
    }

    /// For each accepted connection, before any read.
    private func admit(_ address: SocketAddress?, tls: Bool) -> Bool {
        guard let bytes = address?.gateBytes else { return false }
        var verdict = gate.withLock { $0.admitConnection(from: bytes, now: Self.now()) }
        if verdict == .allow && registry.withLock({ $0.connections.count }) >= settings.maxConnections {
            verdict = .connectionRateExceeded
        }
        counters.withLock { $0.connections[verdict.label, default: 0] += 1 }
        if verdict != .allow { securityEvent(verdict.label, source: address, detail: tls ? "tls" : "tcp") }
        return verdict == .allow
    }

    /// The known networks now (the ACL): sources allowed to connect, and the only targets.
    public var knownNetworks: [CIDR] { gate.withLock { $0.networks } }

    /// What the management bridge may change while calls run.
    public struct Tunables: Sendable, Equatable {
        public var acl: [CIDR]
        public var ringTimeout: Double
        public var sessionExpires: Int
        public var srtp: SRTPPolicy
        public var plainRTPNetworks: [CIDR]

        public init(acl: [CIDR], ringTimeout: Double, sessionExpires: Int, srtp: SRTPPolicy, plainRTPNetworks: [CIDR]) {
            self.acl = acl
            self.ringTimeout = ringTimeout
            self.sessionExpires = sessionExpires
            self.srtp = srtp
            self.plainRTPNetworks = plainRTPNetworks
        }
    }

    public func tunables() async -> Tunables {
        let first = shards[0]
        let core = (try? await first.loop.submit { first.state.value.core.settings }.get()) ?? settings.core
        return Tunables(
            acl: knownNetworks, ringTimeout: core.ringTimeout, sessionExpires: core.sessionExpires, srtp: core.srtp,
            plainRTPNetworks: core.plainRTPNetworks)
    }

    /// Applies new settings to every shard and the access gate. Running calls keep what they
    /// negotiated; new calls and connections follow the new settings.
    public func reconfigure(_ t: Tunables) async {
        gate.withLock { $0.networks = t.acl }
        for shard in shards {
            try? await shard.loop.submit {
                let core = shard.state.value.core
                core.settings.targetNetworks = t.acl
                core.settings.ringTimeout = t.ringTimeout
                core.settings.sessionExpires = t.sessionExpires
                core.settings.minSessionExpires = min(core.settings.minSessionExpires, t.sessionExpires)
                core.settings.srtp = t.srtp
                core.settings.plainRTPNetworks = t.plainRTPNetworks
            }.get()
        }
        logger.notice(
            "SIP settings changed",
            metadata: ["sip.acl": "\(t.acl.map(\.description).joined(separator: ","))", "sip.ring_timeout": "\(t.ringTimeout)"])
    }

    /// Where every call and security event goes (the management bridge's event stream).
    public func onEvent(_ sink: @escaping @Sendable (ControllerEvent) -> Void) {
        eventSink.withLock { $0 = sink }
    }

    func emit(_ event: ControllerEvent) {
        eventSink.withLock { $0 }?(event)
    }

    /// Rate-limited security log: at most one line per second, with the count suppressed.
    /// Every event reaches the event sink.
    func securityEvent(_ kind: String, source: SocketAddress?, detail: String) {
        emit(ControllerEvent(category: .security, kind: kind, source: source?.ipAddress ?? "", detail: detail))
        let now = Self.now()
        let suppressed = security.withLock { s -> Int? in
            guard now - s.last >= 1 else {
                s.suppressed += 1
                return nil
            }
            defer {
                s.last = now
                s.suppressed = 0
            }
            return s.suppressed
        }
        if let suppressed {
            logger.warning(
                "refused",
                metadata: [
                    "security.event": "\(kind)", "net.source": "\(source?.ipAddress ?? "?")", "detail": "\(detail)",
                    "security.suppressed": "\(suppressed)",
                ])
        }
    }

    private func addSIPHandlers(_ channel: Channel, hop: NextHop?, tls: Bool) throws {
        let id = registry.withLock { r -> ConnectionID in
            r.nextID += 1
            let id = ConnectionID(r.nextID)
            r.connections[id] = channel
            if tls { r.tls.insert(id) }
            if let hop { r.byHop[hop] = id }
            return id
        }
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
                        let verdict = gate.withLock {
                            $0.admitRequest(from: source?.gateBytes ?? [], userAgent: m.value("user-agent"), now: Self.now())
                        }
                        if verdict != .allow {
                            counters.withLock { $0.requests[verdict.label, default: 0] += 1 }
                            securityEvent(verdict.label, source: source, detail: m.method ?? "")
                            if verdict == .scanner || verdict == .blocked { channel.close(promise: nil) }
                            return
                        }
                    }
                    let shard = shard(for: m)
                    if shard.loop.inEventLoop {
                        deliver(.message(m, connection: id), to: shard)
                    } else {
                        shard.loop.execute { self.deliver(.message(m, connection: id), to: shard) }
                    }
                },
                onClose: { [self] id in
                    registry.withLock { r in
                        r.connections[id] = nil
                        r.tls.remove(id)
                        if let hop = r.byHop.first(where: { $0.value == id })?.key { r.byHop[hop] = nil }
                    }
                    for shard in shards { shard.loop.execute { self.deliver(.connectionClosed(id), to: shard) } }
                }),
        ])
    }

    /// Feeds a shard's core and carries out its actions. On the shard's loop.
    func deliver(_ event: CoreEvent, to shard: Shard) {
        let core = shard.state.value.core
        let actions = core.handle(event, now: Self.now())
        for a in actions { perform(a, shard: shard) }
        if !core.events.isEmpty {
            for e in core.takeEvents() { emit(e) }
        }
    }

    private func perform(_ action: CoreAction, shard: Shard) {
        switch action {
        case .send(let m, let id):
            guard let ch = registry.withLock({ $0.connections[id] }) else { return }
            write(m, on: ch, shard: shard)
        case .sendTo(let m, let hop, let branch):
            if let ch = registry.withLock({ r in r.byHop[hop].flatMap { r.connections[$0] } }) {
                return write(m, on: ch, shard: shard)
            }
            connect(hop).hop(to: shard.loop).whenComplete { [self] result in
                switch result {
                case .success(let ch): write(m, on: ch, shard: shard)
                case .failure(let e):
                    logger.warning("could not reach SIP target", metadata: ["sip.hop": "\(hop)", "error": "\(e)"])
                    deliver(.sendFailed(branch: branch), to: shard)
                }
            }
        case .allocateMedia(let request):
            // A media worker binds the sockets (on another core) and reports back here.
            relay.createCall(request) { result in
                // After stop the loops are gone (the relay's shutdown closes the call's ports);
                // the lock orders this against stop() setting `stopped` before the shutdown.
                self.stopped.withLock { stopped in
                    guard !stopped else { return }
                    shard.loop.execute { self.deliver(.mediaAllocated(call: request.id, result), to: shard) }
                }
            }
        case .configureMedia(let call, let leg, let keys, let mux, let rtp, let rtcp):
            do throws(RelayError) {
                try relay.configureLegNow(callID: call, leg: leg, keys: keys, rtcpMux: mux, rtp: rtp, rtcp: rtcp)
            } catch { logger.warning("media configure failed", metadata: ["call.id": "\(call)", "error": "\(error)"]) }
        case .updateMediaRemote(let call, let leg, let rtp, let rtcp):
            // Posted to the call's worker: in order with configure and close.
            try? relay.updateRemoteNow(callID: call, leg: leg, rtp: rtp, rtcp: rtcp)
        case .releaseMedia(let call, let reason):
            try? relay.closeCallNow(call, reason: reason)
        }
    }

    /// Writes now, flushes once after this loop iteration: the messages one read produced
    /// for a connection go out in one system call.
    private func write(_ m: SIPMessage, on channel: Channel, shard: Shard) {
        let s = shard.state.value
        channel.write(channel.allocator.buffer(bytes: m.serialized), promise: nil)
        if s.unflushed.isEmpty {
            shard.loop.execute {
                let st = shard.state.value
                let channels = st.unflushed
                st.unflushed.removeAll(keepingCapacity: true)
                for c in channels { c.flush() }
            }
        }
        if !s.unflushed.contains(where: { $0 === channel }) { s.unflushed.append(channel) }
    }

    /// One connection per next hop, opened on demand; concurrent requests share the attempt.
    private func connect(_ hop: NextHop) -> EventLoopFuture<Channel> {
        let loop = group.next()
        let promise = loop.makePromise(of: Channel.self)
        let existing = registry.withLock { r -> EventLoopFuture<Channel>? in
            if let pending = r.pending[hop] { return pending }
            r.pending[hop] = promise.futureResult
            return nil
        }
        if let existing {
            promise.fail(NextHopError(hop: hop))  // unused
            return existing
        }
        promise.futureResult.whenComplete { [self] _ in registry.withLock { _ = $0.pending.removeValue(forKey: hop) } }
        // Only literal addresses inside the known networks are dialled, parsed by us (no
        // resolver: "010.0.0.5" must not become 8.0.0.5, and IPv6 keeps no brackets).
        guard let ip = IPAddressBytes.parse(hop.host), knownNetworks.contains(where: { $0.contains(ip.bytes) }),
            let address = try? SocketAddress(ipAddress: IPAddressBytes.format(ip.bytes), port: Int(hop.port))
        else {
            promise.fail(NextHopError(hop: hop))
            return promise.futureResult
        }
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if hop.tls { try channel.pipeline.syncOperations.addHandler(try self.clientTLSHandler()) }
                    try self.addSIPHandlers(channel, hop: hop, tls: hop.tls)
                }
            }
            .connect(to: address)
            .cascade(to: promise)
        return promise.futureResult
    }

    /// A TLS peer whose key is not the server's pinned one: counted and logged.
    private func refusedKey(_ key: Fingerprint?) {
        counters.withLock { $0.connections["tls_key_not_pinned", default: 0] += 1 }
        securityEvent("tls_key_not_pinned", source: nil, detail: key.map { "\($0)" } ?? "no key")
    }

    /// TLS towards a next hop: once paired it must present the server's pinned key, and we
    /// present our identity; before pairing the leg is encrypted but not authenticated.
    private func clientTLSHandler() throws -> NIOSSLClientHandler {
        var c = TLSConfiguration.makeClientConfiguration()
        c.minimumTLSVersion = .tlsv13
        if let identity = identity.withLock({ $0 }) {
            c.certificateChain = [.certificate(try identity.nioCertificate())]
            c.privateKey = .privateKey(try identity.nioPrivateKey())
        }
        let pins = settings.serverPins
        guard !pins.isEmpty else {
            c.certificateVerification = .none
            return try NIOSSLClientHandler(context: try NIOSSLContext(configuration: c), serverHostname: nil)
        }
        c.certificateVerification = .noHostnameVerification
        return try NIOSSLClientHandler(
            context: try NIOSSLContext(configuration: c), serverHostname: nil,
            customVerificationCallback: PinnedPeers.verifier(pins: { pins.current }) { [self] in refusedKey($0) })
    }

    // MARK: Service

    public func run() async throws {
        if boundPorts.isEmpty { try await start() }
        try await gracefulShutdown()
        await drain()
    }

    /// SIGTERM: refuse new calls with 503, let running calls end until the deadline, then
    /// hang up the rest and close the listeners.
    /// New calls get 503 from now on; calls still running at `seconds` from now are ended.
    /// The listeners stay open (the management bridge's Drain).
    public func beginDrain(seconds: Double) async {
        let deadline = Self.now() + seconds
        for shard in shards { try? await shard.loop.submit { self.deliver(.drain(deadline: deadline), to: shard) }.get() }
    }

    /// The running calls on every shard.
    public func calls() async -> [CallSnapshot] {
        if stopped.withLock({ $0 }) { return [] }
        var all: [CallSnapshot] = []
        for shard in shards {
            all += (try? await shard.loop.submit { shard.state.value.core.snapshots() }.get()) ?? []
        }
        return all
    }

    /// Ends a running call (BYE to both sides); false when there is no such call.
    public func hangUp(call id: String) async -> Bool {
        if stopped.withLock({ $0 }) { return false }
        for shard in shards {
            let found = (try? await shard.loop.submit { () -> Bool in
                guard shard.state.value.core.calls[id] != nil else { return false }
                self.deliver(.hangUp(call: id), to: shard)
                return true
            }.get()) ?? false
            if found { return true }
        }
        return false
    }

    public var isDraining: Bool {
        get async {
            if stopped.withLock({ $0 }) { return true }
            let first = shards[0]
            return (try? await first.loop.submit { first.state.value.core.isDraining }.get()) ?? true
        }
    }

    public func drain() async {
        await beginDrain(seconds: settings.drainTimeout)
        let deadline = Self.now() + settings.drainTimeout
        while Self.now() < deadline + 1 {
            if await activeCalls() == 0 { break }
            try? await Task.sleep(for: .milliseconds(200))
        }
        // The last BYEs get their answers before the connections close (at most 2 s more).
        let byes = Self.now() + 2
        while Self.now() < byes, await outstandingRequests() > 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await stop()
    }

    public func activeCalls() async -> Int {
        if stopped.withLock({ $0 }) { return 0 }
        var total = 0
        for shard in shards { total += (try? await shard.loop.submit { shard.state.value.core.activeCalls }.get()) ?? 0 }
        return total
    }

    /// Requests we sent that wait for their final answer (BYEs of ended calls among them).
    public func outstandingRequests() async -> Int {
        if stopped.withLock({ $0 }) { return 0 }
        var total = 0
        for shard in shards {
            total += (try? await shard.loop.submit { shard.state.value.core.outstandingRequests }.get()) ?? 0
        }
        return total
    }

    public func stop() async {
        guard stopped.withLock({ let was = $0; $0 = true; return !was }) else { return }
        for shard in shards { try? await shard.loop.submit { shard.state.value.tick?.cancel() }.get() }
        let channels = registry.withLock { $0.listeners + Array($0.connections.values) }
        for c in channels { try? await c.close() }
        // The last counters stay readable after the loops are gone: taken once nothing can
        // arrive any more (a 503 sent while stopping is counted).
        let last = await collectSnapshot()
        finalSnapshot.withLock { $0 = last }
        let deadline = Self.now() + 2
        while readers.withLock({ $0 }) > 0, Self.now() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        try? await group.shutdownGracefully()
    }

    /// Counters for metrics and tests.
    public func snapshot() async -> ControllerSnapshot {
        if let last = finalSnapshot.withLock({ $0 }) { return last }
        // Registered while not stopped: stop() lets registered readers finish before the
        // loops go (a submit to a loop that is gone would never answer).
        let entered = stopped.withLock { s -> Bool in
            if s { return false }
            readers.withLock { $0 += 1 }
            return true
        }
        guard entered else {
            let deadline = Self.now() + 5
            while Self.now() < deadline {
                if let last = finalSnapshot.withLock({ $0 }) { return last }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return ControllerSnapshot(core: CoreCounters(), transport: counters.withLock { $0 })
        }
        defer { readers.withLock { $0 -= 1 } }
        return await collectSnapshot()
    }

    func collectSnapshot() async -> ControllerSnapshot {
        var core = CoreCounters()
        for shard in shards {
            if let c = try? await shard.loop.submit({ shard.state.value.core.counters }).get() { core.add(c) }
        }
        return ControllerSnapshot(core: core, transport: counters.withLock { $0 })
    }
}

/// A next hop that is not a literal address inside the known networks.
struct NextHopError: Error, CustomStringConvertible {
    let hop: NextHop
    var description: String { "\(hop.host) is not an address in a known network; the satellite connects nowhere else" }
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

/// The two server contexts: before pairing (no client certificate) and after (pinned).
struct ServerTLS: Sendable {
    let open: NIOSSLContext
    let pinned: NIOSSLContext
}
