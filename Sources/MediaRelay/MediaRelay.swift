import CTrabantNet
import Logging
import SRTP
import ServiceLifecycle
import Synchronization

/// The SRTP media relay: a port pool, calls of two legs, and media workers (one thread each,
/// a batched epoll loop) that carry the packets. Each call lives on one worker.
///
/// This is the API the call controller uses: `createCall`, `updateRemote`, `closeCall`,
/// `statistics`. As a `Service` it ends calls that go silent or live too long.
public final class MediaRelay: Sendable {
    public let configuration: RelayConfiguration
    private let workers: [MediaWorker]
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let state: Mutex<State>
    private let tunablesState: Mutex<Tunables>
    private let portsObserver = Mutex<(@Sendable (_ opened: [UInt16], _ closed: [UInt16]) -> Void)?>(nil)
    private let bindAddress: MediaAddress

    struct State: Sendable {
        var pool: PortPool
        var calls: [String: CallRuntime] = [:]
        var metrics = RelayMetrics()
        var shuttingDown = false
        var nextWorker = 0
    }

    /// Socket buffer sizes: a few hundred milliseconds of a busy leg.
    static let socketBuffer: Int32 = 1 << 20

    public init(configuration: RelayConfiguration, logger: Logger = Logger(label: "trabant.media")) throws(RelayError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let clock: @Sendable () -> Double = { Double(tn_now_ns()) / 1e9 }
        self.clock = clock
        self.bindAddress = MediaAddress(host: configuration.bindHost, port: 0)!
        var workers: [MediaWorker] = []
        for i in 0..<configuration.threads {
            workers.append(try MediaWorker(index: i, batch: configuration.readBatch, clock: clock))
        }
        for w in workers { w.start() }
        self.workers = workers
        var metrics = RelayMetrics()
        metrics.portsCapacity = configuration.portRange.count
        self.state = Mutex(
            State(pool: PortPool(range: configuration.portRange, quarantine: configuration.portQuarantine), metrics: metrics))
        self.tunablesState = Mutex(Tunables(portRange: configuration.portRange, inactivityTimeout: configuration.inactivityTimeout))
    }

    deinit {
        for w in workers { w.stop() }
    }

    private var advertisedHost: String { configuration.advertisedHost ?? configuration.bindHost }

    /// The settings that may change while the relay runs (the management bridge).
    public struct Tunables: Sendable, Equatable {
        public var portRange: ClosedRange<UInt16>
        public var inactivityTimeout: Double

        public init(portRange: ClosedRange<UInt16>, inactivityTimeout: Double) {
            self.portRange = portRange
            self.inactivityTimeout = inactivityTimeout
        }
    }

    public var tunables: Tunables { tunablesState.withLock { $0 } }

    /// Told the ports of every call that opens (bound) and closes: the firewall's per-call
    /// media set follows them.
    public func onPortsChanged(_ body: @escaping @Sendable (_ opened: [UInt16], _ closed: [UInt16]) -> Void) {
        portsObserver.withLock { $0 = body }
    }

    /// The ports of the running calls.
    public var portsInUse: [UInt16] {
        state.withLock { s in s.calls.values.flatMap { $0.ports.flatMap { $0 } } }
    }

    /// Changes the port range and the inactivity timeout of a running relay. Calls that run
    /// keep their ports; new calls use the new range.
    public func reconfigure(_ new: Tunables) throws(RelayError) {
        var check = configuration
        check.portRange = new.portRange
        check.inactivityTimeout = new.inactivityTimeout
        try check.validate()
        state.withLock {
            $0.pool.setRange(new.portRange)
            $0.metrics.portsCapacity = new.portRange.count
        }
        tunablesState.withLock { $0 = new }
        logger.notice(
            "media settings changed",
            metadata: [
                "media.port_range": "\(new.portRange.lowerBound)-\(new.portRange.upperBound)",
                "media.inactivity_timeout": "\(new.inactivityTimeout)",
            ])
    }

    /// Allocates ports for both legs, binds their sockets and starts relaying.
    public func createCall(_ request: CallRequest) async throws(RelayError) -> CallInfo {
        let (info, runtime, fds) = try allocate(request)
        await runtime.worker.submit { runtime.worker.register(runtime, fds: fds) }
        return info
    }

    private func nextWorker() -> MediaWorker {
        state.withLock { s -> MediaWorker in
            s.nextWorker = (s.nextWorker + 1) % workers.count
            return workers[s.nextWorker]
        }
    }

    /// `createCall` for callers on an event loop that must not spend time binding sockets:
    /// a media worker binds and registers them and then calls `completion` on its thread.
    public func createCall(_ request: CallRequest, completion: @escaping @Sendable (Result<CallInfo, RelayError>) -> Void) {
        let worker = nextWorker()
        worker.post { [self] in
            do throws(RelayError) {
                let (info, runtime, fds) = try allocate(request, on: worker)
                worker.register(runtime, fds: fds)
                completion(.success(info))
            } catch {
                completion(.failure(error))
            }
        }
    }

    private func allocate(_ request: CallRequest, on chosen: MediaWorker? = nil) throws(RelayError) -> (CallInfo, CallRuntime, [[Int32]]) {
        guard request.legs.count == 2 else {
            throw RelayError(.badRequest, "call '\(request.id)' has \(request.legs.count) legs; a call bridges exactly 2")
        }
        guard !request.id.isEmpty, request.id.utf8.count <= 256 else {
            throw RelayError(.badRequest, "call id must be 1 to 256 bytes")
        }
        let now = clock()
        let locals = request.legs.map { leg in
            leg.plain ? nil : leg.localCrypto ?? leg.remoteCrypto.map { SRTPParameters.random($0.profile) }
        }
        let legs: [LegCore]
        do {
            legs = try zip(request.legs, locals).map {
                try LegCore($0, local: $1, now: now, engine: configuration.srtpEngine)
            }
        } catch {
            throw RelayError(.badRequest, "call '\(request.id)': \(error)")
        }
        let core = CallCore(id: request.id, legs: legs, now: now)

        var excluded: Set<UInt16> = []
        for _ in 0..<8 {
            let ports = try reservePorts(request, excluded: excluded)
            var fds: [[Int32]] = []
            var failed: (UInt16, Int32)?
            outer: for legPorts in ports {
                var legFDs: [Int32] = []
                for port in legPorts {
                    var local = bindAddress.with(port: port).tnAddress
                    let fd = tn_bind(&local, Self.socketBuffer, Self.socketBuffer)
                    if fd < 0 {
                        failed = (port, -fd)
                        fds.append(legFDs)
                        break outer
                    }
                    legFDs.append(fd)
                }
                fds.append(legFDs)
            }
            if let (port, errno) = failed {
                // Another process holds that port: close what we bound, skip it, try again.
                for fd in fds.flatMap({ $0 }) { _ = tn_close(fd) }
                excluded.insert(port)
                state.withLock { $0.pool.abandon(ports.flatMap { $0 }) }
                logger.warning(
                    "media port could not be bound, skipping it",
                    metadata: ["media.port": "\(port)", "media.errno": "\(errno)"])
                continue
            }
            let worker = chosen ?? nextWorker()
            let runtime = CallRuntime(worker: worker, core: core, ports: ports, fds: fds, v6: bindAddress.isIPv6)
            let observer = portsObserver.withLock { $0 }
            let duplicate = state.withLock { s -> Bool in
                if s.calls[request.id] != nil || s.shuttingDown { return true }
                s.calls[request.id] = runtime
                // Under the pool's lock: opens and closes of one port reach the observer in order.
                observer?(ports.flatMap { $0 }, [])
                s.metrics.callsCreated += 1
                s.metrics.callsActive = s.calls.count
                s.metrics.portsInUse = s.pool.inUseCount
                return false
            }
            if duplicate {
                for fd in fds.flatMap({ $0 }) { _ = tn_close(fd) }
                state.withLock { $0.pool.release(ports.flatMap { $0 }, now: clock()) }
                throw RelayError(.duplicateCall, "call '\(request.id)' exists already (or the relay is shutting down)")
            }
            logger.debug(
                "media call created",
                metadata: ["media.call_id": "\(request.id)", "media.ports": "\(ports.map { $0.map(String.init) })"])
            let info = CallInfo(
                id: request.id,
                legs: zip(request.legs, ports).enumerated().map { i, pair in
                    let (leg, p) = pair
                    let local = MediaAddress(host: advertisedHost, port: p[0])!
                    return LegInfo(
                        name: leg.name, local: local, localRTCP: p.count > 1 ? local.with(port: p[1]) : nil,
                        localCrypto: locals[i])
                })
            return (info, runtime, fds)
        }
        throw RelayError(.bindFailed, "call '\(request.id)': could not bind media ports after 8 attempts")
    }

    private func reservePorts(_ request: CallRequest, excluded: Set<UInt16>) throws(RelayError) -> [[UInt16]] {
        let now = clock()
        let result = state.withLock { s -> Result<[[UInt16]], RelayError> in
            if s.shuttingDown { return .failure(RelayError(.shuttingDown, "the media relay is shutting down")) }
            if s.calls[request.id] != nil {
                return .failure(RelayError(.duplicateCall, "call '\(request.id)' exists already"))
            }
            var got: [[UInt16]] = []
            for leg in request.legs {
                do {
                    got.append(try s.pool.allocate(pair: !leg.rtcpMux, now: now, excluding: excluded))
                } catch {
                    s.pool.abandon(got.flatMap { $0 })
                    s.metrics.portPoolExhausted += 1
                    return .failure(RelayError(.poolExhausted, "\(error)"))
                }
            }
            return .success(got)
        }
        return try result.get()
    }

    /// Moves a leg's remote address (re-INVITE with a changed media address).
    public func updateRemote(callID: String, leg: String, rtp: MediaAddress, rtcp: MediaAddress? = nil)
        async throws(RelayError)
    {
        let (runtime, index) = try self.leg(leg, of: callID)
        await runtime.worker.submit { runtime.core.updateRemote(leg: index, rtp: rtp, rtcp: rtcp) }
    }

    private func leg(_ leg: String, of callID: String) throws(RelayError) -> (CallRuntime, Int) {
        let runtime = try lookup(callID)
        guard let index = runtime.core.legs.firstIndex(where: { $0.name == leg }) else {
            throw RelayError(
                .badRequest,
                "call '\(callID)' has no leg '\(leg)'; legs: \(runtime.core.legs.map(\.name).joined(separator: ", "))")
        }
        return (runtime, index)
    }

    /// `updateRemote` without waiting, in order with the call's other operations.
    public func updateRemoteNow(callID: String, leg: String, rtp: MediaAddress, rtcp: MediaAddress? = nil) throws(RelayError) {
        let (runtime, index) = try self.leg(leg, of: callID)
        runtime.worker.post { runtime.core.updateRemote(leg: index, rtp: rtp, rtcp: rtcp) }
    }

    /// Gives a leg its keys once its peer answered (or a re-INVITE re-keyed it): `keys.remote`
    /// are the keys the peer sends with, `keys.local` ours towards it; nil makes the leg plain.
    /// Optionally moves the remote address and switches RTCP multiplexing (RFC 5761).
    private func legKeys(
        _ runtime: CallRuntime, _ callID: String, _ leg: String, _ keys: (remote: SRTPParameters, local: SRTPParameters)?,
        _ rtcpMux: Bool, _ rtp: MediaAddress?, _ rtcp: MediaAddress?
    ) throws(RelayError) -> (Int, LegKeys) {
        guard let index = runtime.core.legs.firstIndex(where: { $0.name == leg }) else {
            throw RelayError(.badRequest, "call '\(callID)' has no leg '\(leg)'")
        }
        if rtcpMux == false && runtime.ports[index].count < 2 {
            throw RelayError(.badRequest, "leg '\(leg)' of call '\(callID)' has no RTCP port; it was created for rtcp-mux")
        }
        guard let keys else {
            guard rtp != nil else {
                throw RelayError(.badRequest, "plain leg '\(leg)' of call '\(callID)' needs its remote address (no latching)")
            }
            return (index, LegKeys(inbound: nil, outbound: nil, rtcpMux: rtcpMux, remote: rtp, remoteRTCP: rtcp))
        }
        do {
            let contexts = LegKeys(
                inbound: try SRTPContext(
                    profile: keys.remote.profile, keyingMaterial: keys.remote.keyingMaterial,
                    engine: configuration.srtpEngine),
                outbound: try SRTPContext(
                    profile: keys.local.profile, keyingMaterial: keys.local.keyingMaterial, engine: configuration.srtpEngine),
                rtcpMux: rtcpMux, remote: rtp, remoteRTCP: rtcp)
            return (index, contexts)
        } catch {
            throw RelayError(.badRequest, "call '\(callID)' leg '\(leg)': \(error)")
        }
    }

    public func configureLeg(
        callID: String, leg: String, remote remoteCrypto: SRTPParameters, local: SRTPParameters, rtcpMux: Bool,
        rtp: MediaAddress? = nil, rtcp: MediaAddress? = nil
    ) async throws(RelayError) {
        let runtime = try lookup(callID)
        let (index, keys) = try legKeys(runtime, callID, leg, (remoteCrypto, local), rtcpMux, rtp, rtcp)
        await runtime.worker.submit { runtime.core.legs[index].configure(keys) }
    }

    /// Makes a leg plain RTP (its answer or a re-INVITE chose RTP/AVP from an allowed
    /// network): packets are accepted only from `rtp` (`rtcp`), never latched.
    public func configurePlainLeg(
        callID: String, leg: String, rtcpMux: Bool, rtp: MediaAddress, rtcp: MediaAddress? = nil
    ) async throws(RelayError) {
        let runtime = try lookup(callID)
        let (index, keys) = try legKeys(runtime, callID, leg, nil, rtcpMux, rtp, rtcp)
        await runtime.worker.submit { runtime.core.legs[index].configure(keys) }
    }

    /// `configureLeg` without waiting: the worker applies the keys moments later; `keys`
    /// nil makes the leg plain (`configurePlainLeg`).
    public func configureLegNow(
        callID: String, leg: String, keys: (remote: SRTPParameters, local: SRTPParameters)?, rtcpMux: Bool,
        rtp: MediaAddress? = nil, rtcp: MediaAddress? = nil
    ) throws(RelayError) {
        let runtime = try lookup(callID)
        // Key derivation runs on the worker too, off the caller's event loop.
        runtime.worker.post { [self] in
            do throws(RelayError) {
                let (index, legKeys) = try legKeys(runtime, callID, leg, keys, rtcpMux, rtp, rtcp)
                runtime.core.legs[index].configure(legKeys)
            } catch {
                logger.warning("media leg not configured", metadata: ["media.call_id": "\(callID)", "error": "\(error)"])
            }
        }
    }

    /// Ends a call: its sockets are closed before this returns. Returns its final statistics.
    @discardableResult
    public func closeCall(_ id: String, reason: CallEndReason = .hangup) async throws(RelayError) -> CallStatistics {
        let runtime = try state.withLock { s throws(RelayError) -> CallRuntime in
            guard let r = s.calls.removeValue(forKey: id) else {
                throw RelayError(.unknownCall, "no call '\(id)' in the media relay")
            }
            s.metrics.callsActive = s.calls.count
            return r
        }
        let clock = self.clock
        let final = await runtime.worker.submit { () -> CallStatistics in
            let snap = runtime.snapshot(now: clock())
            runtime.worker.unregister(runtime)
            return snap
        }
        finish(id, runtime, final, reason)
        return final
    }

    /// `closeCall` without waiting: the worker closes the sockets moments later, then the
    /// ports go back to the pool.
    public func closeCallNow(_ id: String, reason: CallEndReason = .hangup) throws(RelayError) {
        let runtime = try state.withLock { s throws(RelayError) -> CallRuntime in
            guard let r = s.calls.removeValue(forKey: id) else {
                throw RelayError(.unknownCall, "no call '\(id)' in the media relay")
            }
            s.metrics.callsActive = s.calls.count
            return r
        }
        let clock = self.clock
        runtime.worker.post { [self] in
            let snap = runtime.snapshot(now: clock())
            runtime.worker.unregister(runtime)
            finish(id, runtime, snap, reason)
        }
    }

    private func finish(_ id: String, _ runtime: CallRuntime, _ final: CallStatistics, _ reason: CallEndReason) {
        let clock = self.clock
        let observer = portsObserver.withLock { $0 }
        state.withLock { s in
            s.pool.release(runtime.ports.flatMap { $0 }, now: clock())
            observer?([], runtime.ports.flatMap { $0 })
            s.metrics.portsInUse = s.pool.inUseCount
            s.metrics.callsEnded[reason, default: 0] += 1
            for leg in final.legs {
                s.metrics.packetsRelayed &+= leg.stats.packetsSent
                for r in RelayDropReason.allCases where leg.stats.drops(r) > 0 {
                    s.metrics.drops[r, default: 0] &+= leg.stats.drops(r)
                }
            }
        }
        logger.info(
            "media call ended",
            metadata: [
                "media.call_id": "\(id)", "media.reason": "\(reason.rawValue)",
                "media.drops": "\(final.legs.map { $0.stats.totalDrops })",
            ])
    }

    public func statistics(callID: String) async throws(RelayError) -> CallStatistics {
        let runtime = try lookup(callID)
        let clock = self.clock
        let snap = await runtime.worker.submit { runtime.closed ? nil : runtime.snapshot(now: clock()) }
        guard let snap else { throw RelayError(.unknownCall, "call '\(callID)' ended") }
        return snap
    }

    public var activeCallIDs: [String] { state.withLock { Array($0.calls.keys).sorted() } }

    public var metrics: RelayMetrics {
        state.withLock { s in
            var m = s.metrics
            m.portsInUse = s.pool.inUseCount
            m.portPoolExhausted = s.pool.exhaustedCount
            return m
        }
    }

    private func lookup(_ id: String) throws(RelayError) -> CallRuntime {
        guard let r = state.withLock({ $0.calls[id] }) else {
            throw RelayError(.unknownCall, "no call '\(id)' in the media relay")
        }
        return r
    }

    /// Ends calls that were silent longer than the inactivity timeout or live longer than the
    /// maximum duration. Returns the calls it ended.
    @discardableResult
    public func sweep() async -> [(String, CallEndReason)] {
        let runtimes = state.withLock { Array($0.calls.values) }
        let now = clock()
        let inactivity = tunables.inactivityTimeout
        var ended: [(String, CallEndReason)] = []
        for r in runtimes {
            let (age, idle) = await r.worker.submit { (now - r.core.createdAt, now - r.core.lastActivity) }
            let reason: CallEndReason? =
                age >= configuration.maxCallDuration
                ? .lifetime : idle >= inactivity ? .inactivity : nil
            if let reason, (try? await closeCall(r.core.id, reason: reason)) != nil {
                ended.append((r.core.id, reason))
            }
        }
        return ended
    }

    /// Closes every call and stops the media threads. The relay cannot be used afterwards.
    public func shutdown() async {
        let ids = state.withLock { s -> [String] in
            s.shuttingDown = true
            return Array(s.calls.keys)
        }
        for id in ids { _ = try? await closeCall(id, reason: .shutdown) }
        for w in workers { w.stop() }
    }
}

extension MediaRelay: Service {
    /// Sweeps timeouts until graceful shutdown, then closes every call.
    public func run() async throws {
        let interval = Duration.milliseconds(Int64(configuration.sweepInterval * 1000))
        logger.info(
            "media relay ready",
            metadata: [
                "media.bind": "\(configuration.bindHost)",
                "media.port_range": "\(configuration.portRange.lowerBound)-\(configuration.portRange.upperBound)",
                "media.threads": "\(configuration.threads)",
            ])
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: interval)
                await sweep()
            }
        } onGracefulShutdown: {}
        await shutdown()
    }
}
