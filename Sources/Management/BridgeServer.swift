import CallControl
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOSSL
import PKI
import Synchronization

/// The satellite's end of the management bridge: gRPC over mutual TLS 1.3.
///
/// Before pairing it accepts connections from the known networks and any client key, and
/// serves only Pair. Once paired, connections from any address but the server's are closed
/// before TLS, any key but the server's fails the handshake, and every call is checked again.
public final class BridgeServer: Sendable {
    public let settings: BridgeSettings
    public let store: PairingStore
    let identities: IdentityHolder
    /// The server's pinned keys, shared with the SIP listener.
    public let serverPins: PinSet
    public let events: EventHub
    let control: any SatelliteControl
    let logger: Logger
    let startedAt = Date()
    let state = Mutex(State())
    let refusals = Mutex<[String: Int]>([:])
    /// Told when the satellite's identity changes (SIP over TLS presents it too).
    let onIdentityChange = Mutex<(@Sendable (Identity) -> Void)?>(nil)
    /// Where a server may connect from before pairing; follows ApplyConfig's ACL.
    let knownNetworks: Mutex<[CIDR]>
    /// One ApplyConfig at a time.
    let applying = Mutex(false)
    let reloading = Mutex(())

    struct State {
        var paired: PairedServer?
        var server: GRPCServer<HTTP2ServerTransport.Posix>?
        var task: Task<Void, any Error>?
        var poll: Task<Void, Never>?
        var context: NIOSSLContext?
    }

    public init(
        settings: BridgeSettings, identity: IdentityStore, store: PairingStore, serverPins: PinSet = PinSet(),
        events: EventHub = EventHub(), control: any SatelliteControl, logger: Logger = Logger(label: "trabant.bridge")
    ) throws(PKIError) {
        self.settings = settings
        self.store = store
        self.identities = try IdentityHolder(store: identity, role: "satellite")
        self.serverPins = serverPins
        self.events = events
        self.control = control
        self.logger = logger
        knownNetworks = Mutex(settings.unpairedSources)
    }

    public var identity: Identity { identities.current }

    public func whenIdentityChanges(_ body: @escaping @Sendable (Identity) -> Void) {
        onIdentityChange.withLock { $0 = body }
    }
    public var paired: PairedServer? { state.withLock { $0.paired } }
    public var refusalCounts: [String: Int] { refusals.withLock { $0 } }

    /// Binds and serves; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        try reload()
        try rebuildTLS()
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: settings.host, port: settings.port), transportSecurity: .plaintext,
            config: .defaults { c in
                // The server's client pings every 20 s to notice partitions (BridgeClient).
                c.connection.keepalive.clientBehavior = .init(minPingIntervalWithoutCalls: .seconds(10), allowWithoutCalls: true)
                // Addresses are checked before any byte is read; TLS (1.3 only) is ours.
                c.channelDebuggingCallbacks.onBindTCPListener = { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SourceGate { [self] in admit($0) })
                    }
                }
                c.channelDebuggingCallbacks.onAcceptTCPConnection = { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try tlsHandler(), position: .first)
                    }
                }
            })
        let server = GRPCServer(
            transport: transport, services: [BridgeService(bridge: self)], interceptors: [BridgeGuard(bridge: self)])
        let task = Task { try await server.serve() }
        let port = try await transport.listeningAddress.ipv4?.port ?? 0
        let poll = Task { [self] in
            // Local commands (unpair, pairing-code) change the files; follow them.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                try? reload()
            }
        }
        state.withLock {
            $0.server = server
            $0.task = task
            $0.poll = poll
        }
        logger.info("management bridge listening", metadata: ["bridge.port": "\(port)", "bridge.pairing": "\(settings.pairing.rawValue)"])
        try announce()
        return port
    }

    public func stop() async {
        let (server, task, poll) = state.withLock { ($0.server, $0.task, $0.poll) }
        poll?.cancel()
        events.finishAll()
        server?.beginGracefulShutdown()
        _ = try? await task?.value
    }

    /// Logs the pairing code while unpaired, or loudly the trust-on-first-use mode.
    func announce() throws {
        guard paired == nil else { return }
        if settings.pairing == .trustOnFirstUse {
            logger.critical(
                "UNSAFE: management.pairing is trust-on-first-use — the first server that connects from the known networks is trusted without a code; use it only as the source document describes and switch back to 'code'")
            return
        }
        if let (code, expires) = try? store.codeToShow(ttl: settings.codeTTL) {
            logger.notice(
                "satellite not paired: pair it from the server with 'trabant pair --satellite HOST:\(settings.port) --code \(code)'",
                metadata: [
                    "pairing.code": "\(code)", "pairing.expires": "\(ISO8601DateFormatter().string(from: expires))",
                    "identity.fingerprint": "\(identity.fingerprint)", "identity.code": "\(identity.fingerprint.shortCode)",
                ])
        }
    }

    /// Reads the pairing state from disk into the pins, one reader at a time (a read and its
    /// application are never overtaken by an older read). When trust narrows, open event
    /// streams end (their callers must come back with a key that is still trusted).
    func reload() throws {
        try reloading.withLock { _ in try reloadLocked() }
    }

    private func reloadLocked() throws {
        let paired = try store.paired()
        let changed = state.withLock { s -> Bool in
            defer { s.paired = paired }
            return s.paired != paired
        }
        let before = serverPins.current
        let now = Set(paired?.fingerprints ?? [])
        serverPins.replace(with: now)
        if !before.isSubset(of: now) { events.finishAll() }
        if changed, paired == nil, state.withLock({ $0.server != nil }) {
            logger.notice("unpaired: the satellite is open for pairing again")
            try announce()
        }
    }

    func rebuildTLS() throws {
        let identity = identities.current
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try identity.nioCertificate())], privateKey: .privateKey(try identity.nioPrivateKey()))
        config.minimumTLSVersion = .tlsv13
        config.certificateVerification = .noHostnameVerification  // a client certificate is required
        config.trustRoots = .certificates([])
        config.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: config)
        state.withLock { $0.context = context }
    }

    func tlsHandler() throws -> NIOSSLServerHandler {
        guard let context = state.withLock({ $0.context }) else { throw PKIError(.io, "TLS is not set up") }
        return NIOSSLServerHandler(context: context, customVerificationCallbackWithMetadata: { [self] certificates, promise in
            guard let leaf = certificates.first, let key = PinnedPeers.fingerprint(of: leaf) else {
                return promise.succeed(.failed)
            }
            // Unpaired: any key may ask to pair. Paired: only the server's.
            if paired != nil && !serverPins.contains(key) {
                refuse("bridge_key_not_pinned", source: "", detail: "\(key)")
                return promise.succeed(.failed)
            }
            promise.succeed(.certificateVerified(VerificationMetadata(NIOSSL.ValidatedCertificateChain([leaf]))))
        })
    }

    /// Whether a connection from `address` may start TLS at all.
    func admit(_ address: NIOCore.SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress, let bytes = IPAddressBytes.parse(ip)?.bytes else { return false }
        if let paired {
            if IPAddressBytes.parse(paired.address)?.bytes == bytes { return true }
            refuse("bridge_source_refused", source: ip, detail: "paired with \(paired.address)")
            return false
        }
        if knownNetworks.withLock({ $0 }).contains(where: { $0.contains(bytes) }) { return true }
        refuse("bridge_source_refused", source: ip, detail: "not in the known networks")
        return false
    }

    func refuse(_ kind: String, source: String, detail: String) {
        refusals.withLock { $0[kind, default: 0] += 1 }
        events.publish(ControllerEvent(category: .security, kind: kind, source: source, detail: detail))
        logger.warning("refused", metadata: ["security.event": "\(kind)", "net.source": "\(source)", "detail": "\(detail)"])
    }
}

extension BridgeServer {
    /// One step of a key rotation (bridge.proto, RotateIdentityRequest.Step). The old key stays
    /// valid until the new one is confirmed; then it is gone (revoked).
    func rotate(
        _ step: Trabant_Bridge_V1_RotateIdentityRequest.Step, serverNext: String, caller: Fingerprint?
    ) throws -> Trabant_Bridge_V1_RotateIdentityResponse {
        guard var paired = try store.paired() else { throw PairingError(.notPaired, "the satellite is not paired") }
        var response = Trabant_Bridge_V1_RotateIdentityResponse()
        switch step {
        case .satellitePrepare:
            let next = try identities.prepareNext()
            response.satelliteFingerprint = next.fingerprint.hex
            logger.notice("next satellite key prepared", metadata: ["identity.next": "\(next.fingerprint)"])
        case .satelliteCommit:
            guard let now = try identities.commitNext() else {
                throw PairingError(.notPaired, "no next key was prepared (SATELLITE_PREPARE first)")
            }
            try rebuildTLS()
            onIdentityChange.withLock { $0 }?(now)
            response.satelliteFingerprint = now.fingerprint.hex
            events.publish(ControllerEvent(category: .security, kind: "satellite_key_rotated", detail: "\(now.fingerprint)"))
            logger.notice("satellite key rotated; the old key is destroyed", metadata: ["identity.fingerprint": "\(now.fingerprint)"])
        case .serverAnnounce:
            let next: Fingerprint
            do {
                next = try Fingerprint(hex: serverNext)
            } catch {
                throw PairingError(.badCode, "server_next_fingerprint: \(error.message)")
            }
            if !paired.fingerprints.contains(next) { paired.fingerprints.append(next) }
            try store.save(paired)
            try reload()
            response.satelliteFingerprint = identity.fingerprint.hex
        case .serverConfirm:
            guard let caller, paired.fingerprints.contains(caller), paired.fingerprints.count > 1,
                caller != paired.fingerprints.first
            else {
                throw PairingError(
                    .refused, "SERVER_CONFIRM must come over a connection made with the announced next key")
            }
            paired.fingerprints = [caller]
            try store.save(paired)
            try reload()
            events.publish(ControllerEvent(category: .security, kind: "server_key_rotated", detail: "\(caller)"))
            logger.notice("server key rotated; the old key is revoked", metadata: ["server.fingerprint": "\(caller)"])
            response.satelliteFingerprint = identity.fingerprint.hex
        default:
            throw PairingError(.badCode, "step must be one of SATELLITE_PREPARE, SATELLITE_COMMIT, SERVER_ANNOUNCE, SERVER_CONFIRM")
        }
        response.serverFingerprints = (try store.paired()?.fingerprints ?? []).map(\.hex)
        return response
    }
}

extension BridgeServer {
    /// The managed settings and their version (0 before the first ApplyConfig).
    public func managedConfig() async throws -> (version: UInt64, config: ManagedConfig) {
        let file = try store.managedConfig()
        return (file?.version ?? 0, await control.currentConfig())
    }

    /// Applies the persisted managed settings at start (they override the file's).
    public func restoreManagedConfig() async throws {
        guard let file = try store.managedConfig() else { return }
        let valid = try file.config.validated()
        try await control.apply(valid)
        knownNetworks.withLock { $0 = valid.acl }
        logger.notice(
            "managed settings applied over the configuration file", metadata: ["config.version": "\(file.version)"])
    }

    /// ApplyConfig: merge by mask, validate everything, apply to relay and controller, persist
    /// with the next version. A failure leaves the running settings and the file as they were.
    public func applyConfig(_ change: ManagedConfig, mask: [String], expectedVersion: UInt64) async throws
        -> (version: UInt64, config: ManagedConfig)
    {
        guard applying.withLock({ busy in
            defer { busy = true }
            return !busy
        }) else {
            throw ApplyError(.busy, "another ApplyConfig is running; try again")
        }
        defer { applying.withLock { $0 = false } }
        let (version, current) = try await managedConfig()
        guard expectedVersion == version else {
            throw ApplyError(.versionMismatch, "expected_version \(expectedVersion) is not the current version \(version); read it again (GetConfig)")
        }
        let merged: ManagedConfig
        let valid: ValidatedConfig
        do {
            merged = try current.merged(with: change, mask: mask)
            valid = try merged.validated()
        } catch {
            throw ApplyError(.invalid, error.message)
        }
        let previous = try current.validated()
        try await control.apply(valid)
        do {
            try store.saveManagedConfig(ManagedConfigFile(version: version + 1, config: merged, appliedAt: Date()))
        } catch {
            try? await control.apply(previous)
            throw error
        }
        knownNetworks.withLock { $0 = valid.acl }
        events.publish(ControllerEvent(category: .security, kind: "config_applied", detail: "version \(version + 1)"))
        logger.notice("managed settings applied", metadata: ["config.version": "\(version + 1)", "config.fields": "\(mask.isEmpty ? ["all"] : mask)"])
        return (version + 1, merged)
    }
}

public struct ApplyError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable { case invalid, versionMismatch, busy }
    public let code: Code
    public let message: String
    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// The satellite's identity now, and the next one during a rotation.
final class IdentityHolder: Sendable {
    let store: IdentityStore
    let role: String
    private let identities: Mutex<(current: Identity, next: Identity?)>

    init(store: IdentityStore, role: String) throws(PKIError) {
        self.store = store
        self.role = role
        // A next key prepared before a restart is still the next one.
        let next = try IdentityStore(directory: store.directory, name: store.name + ".next").load()
        identities = Mutex((try store.loadOrCreate(role: role).identity, next))
    }

    var current: Identity { identities.withLock { $0.current } }
    var next: Identity? { identities.withLock { $0.next } }

    /// Makes (or returns) the next identity, kept beside the current one until committed.
    func prepareNext() throws(PKIError) -> Identity {
        if let next { return next }
        let made = try Identity.generate(role: role)
        try IdentityStore(directory: store.directory, name: store.name + ".next").save(made)
        identities.withLock { $0.next = made }
        return made
    }

    /// The next identity becomes the current one; the old key is gone from disk.
    func commitNext() throws(PKIError) -> Identity? {
        guard let next else { return nil }
        try store.save(next)
        IdentityStore(directory: store.directory, name: store.name + ".next").remove()
        identities.withLock { $0 = (next, nil) }
        return next
    }
}

/// Closes accepted connections from unwanted addresses before anything is read: a handler
/// on the listening channel, in front of the child channel's initialisation.
final class SourceGate: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    let allow: @Sendable (NIOCore.SocketAddress?) -> Bool

    init(allow: @escaping @Sendable (NIOCore.SocketAddress?) -> Bool) { self.allow = allow }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = Self.unwrapInboundIn(data)
        if allow(child.remoteAddress) {
            context.fireChannelRead(data)
        } else {
            child.close(promise: nil)
        }
    }
}
