import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOSSL
import PKI
import Synchronization

/// The server's end of the bridge to one satellite: gRPC over mutual TLS 1.3, presenting
/// the server's identity and accepting only the satellite's pinned key(s).
///
/// With no pins (pairing), the first key the satellite presents is learnt and every later
/// connection must present the same one.
public final class BridgeClient: Sendable {
    public let host: String
    public let port: Int
    public let release: String
    let identity: Identity
    let keys: SatelliteKeys
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    let running: Task<Void, any Error>

    public init(
        host: String, port: Int = 3280, identity: Identity, satellitePins: Set<Fingerprint>,
        release: String = TrabantRelease.current
    ) throws {
        self.host = host
        self.port = port
        self.identity = identity
        self.release = release
        let keys = SatelliteKeys(satellitePins)
        self.keys = keys
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([])
        tls.applicationProtocols = ["h2"]
        tls.certificateChain = [.certificate(try identity.nioCertificate())]
        tls.privateKey = .privateKey(try identity.nioPrivateKey())
        let context = try NIOSSLContext(configuration: tls)
        let verify: @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void = { certs, promise in
            guard let key = certs.first.flatMap(PinnedPeers.fingerprint(of:)) else { return promise.succeed(.failed) }
            promise.succeed(keys.check(key) ? .certificateVerified : .failed)
        }
        let target: any ResolvableTarget =
            host.contains(":") ? .ipv6(address: host, port: port) : .ipv4(address: host, port: port)
        let transport = try HTTP2ClientTransport.Posix(
            target: target, transportSecurity: .customSecure,
            config: .defaults { c in
                c.backoff = .init(initial: .milliseconds(200), max: .seconds(10), multiplier: 2, jitter: 0.2)
                c.connection.maxIdleTime = .seconds(300)
                // A partitioned satellite is noticed (HTTP/2 PING) even while only an event stream is open.
                c.connection.keepalive = .init(time: .seconds(20), timeout: .seconds(10), allowWithoutCalls: true)
                c.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: verify),
                            position: .first)
                    }
                }
            })
        client = GRPCClient(transport: transport, interceptors: [ReleaseHeader(release: release)])
        let c = client
        running = Task { try await c.runConnections() }
    }

    deinit { client.beginGracefulShutdown() }

    public func close() async {
        client.beginGracefulShutdown()
        _ = try? await running.value
    }

    /// Runs `body`, then closes the client, also when `body` throws.
    public func use<T: Sendable>(_ body: (BridgeClient) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    /// The satellite's key as this client pinned or learnt it.
    public var satelliteKeys: Set<Fingerprint> { keys.pins.withLock { $0 } }
    /// The key a satellite presented that was refused (impostor or rotated without notice).
    public var refusedKey: Fingerprint? { keys.refused.withLock { $0 } }

    var stub: Trabant_Bridge_V1_SatelliteBridge.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }

    static let options: CallOptions = {
        var o = CallOptions.defaults
        o.timeout = .seconds(10)
        return o
    }()

    // MARK: calls

    /// Pairs with an unpaired satellite showing `code`: learns its key in a first handshake,
    /// proves the code bound to both keys, checks the satellite's confirmation. Returns the
    /// satellite's key (to pin) and its release.
    public func pair(code: PairingCode?, serverName: String) async throws -> (satellite: Fingerprint, release: String) {
        // The first call makes the handshake that shows the satellite's key (and fails: not paired).
        _ = try? await stub.getStatus(.init(), options: Self.options)
        guard let satellite = satelliteKeys.first else {
            throw BridgeClientError(
                refusedKey != nil
                    ? "the satellite at \(host):\(port) refused this server's key — is it paired with another server? "
                        + "Run 'trabant satellite unpair' on it first"
                    : "no TLS connection to \(host):\(port) (is the satellite running, and this address in its known networks?)")
        }
        var request = Trabant_Bridge_V1_PairRequest()
        request.serverName = serverName
        if let code { request.proof = Data(code.proof(satellite: satellite, server: identity.fingerprint)) }
        let response = try await mapped { try await stub.pair(request, options: Self.options) }
        if let code {
            let expected = code.confirmation(satellite: satellite, server: identity.fingerprint)
            guard PairingCode.equalInConstantTime(Array(response.confirmation), expected) else {
                throw BridgeClientError(
                    "the satellite's confirmation does not match: this is not the satellite that shows the code "
                        + "(a man in the middle?); nothing was pinned")
            }
        }
        guard response.serverFingerprint == identity.fingerprint.hex else {
            throw BridgeClientError("the satellite pinned another key (\(response.serverFingerprint.prefix(16))…) than ours")
        }
        if let problem = TrabantRelease.mismatch(
            local: release, remote: response.satelliteRelease, localRole: "server", remoteRole: "satellite")
        {
            throw BridgeClientError(problem)
        }
        return (satellite, response.satelliteRelease)
    }

    public func status() async throws -> Trabant_Bridge_V1_Status {
        let s = try await mapped { try await stub.getStatus(.init(), options: Self.options) }
        if let problem = TrabantRelease.mismatch(local: release, remote: s.release, localRole: "server", remoteRole: "satellite") {
            throw BridgeClientError(problem)
        }
        return s
    }

    public func config() async throws -> (version: UInt64, config: ManagedConfig) {
        let r = try await mapped { try await stub.getConfig(.init(), options: Self.options) }
        return (r.version, ManagedConfig(r.config))
    }

    /// Changes the fields in `mask` (all when empty) if the satellite is still at `expectedVersion`.
    public func apply(_ config: ManagedConfig, mask: [String] = [], expectedVersion: UInt64) async throws
        -> (version: UInt64, config: ManagedConfig)
    {
        var r = Trabant_Bridge_V1_ApplyConfigRequest()
        r.config = config.message
        r.updateMask = mask
        r.expectedVersion = expectedVersion
        let response = try await mapped { try await stub.applyConfig(r, options: Self.options) }
        return (response.version, ManagedConfig(response.config))
    }

    public func calls() async throws -> [Trabant_Bridge_V1_CallSummary] {
        try await mapped { try await stub.listCalls(.init(), options: Self.options) }.calls
    }

    public func hangUp(call: String) async throws {
        var r = Trabant_Bridge_V1_HangupCallRequest()
        r.id = call
        _ = try await mapped { try await stub.hangupCall(r, options: Self.options) }
    }

    public func drain(seconds: Double) async throws -> Int {
        var r = Trabant_Bridge_V1_DrainRequest()
        r.deadlineSeconds = seconds
        return Int(try await mapped { try await stub.drain(r, options: Self.options) }.activeCalls)
    }

    /// Streams events to `each` until it returns false or the stream ends.
    public func watchEvents(_ each: @escaping @Sendable (Trabant_Bridge_V1_Event) async -> Bool) async throws {
        try await mapped {
            try await stub.watchEvents(.init()) { response in
                for try await e in response.messages where await !each(e) { return }
            }
        }
    }

    public func rotate(_ step: Trabant_Bridge_V1_RotateIdentityRequest.Step, serverNext: Fingerprint? = nil) async throws
        -> Trabant_Bridge_V1_RotateIdentityResponse
    {
        try await rotate(step, serverNextText: serverNext?.hex ?? "")
    }

    func rotate(_ step: Trabant_Bridge_V1_RotateIdentityRequest.Step, serverNextText: String) async throws
        -> Trabant_Bridge_V1_RotateIdentityResponse
    {
        var r = Trabant_Bridge_V1_RotateIdentityRequest()
        r.step = step
        r.serverNextFingerprint = serverNextText
        return try await mapped { try await stub.rotateIdentity(r, options: Self.options) }
    }

    /// Adds a key the satellite may present (rotation: the next one beside the current).
    public func pin(_ key: Fingerprint) { keys.pins.withLock { _ = $0.insert(key) } }
    public func unpin(_ key: Fingerprint) { keys.pins.withLock { _ = $0.remove(key) } }

    /// RPC errors with the satellite's message; a refused handshake says what to check.
    func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as RPCError {
            if e.code == .unavailable {
                if let key = refusedKey {
                    throw BridgeClientError(
                        "the satellite at \(host):\(port) presented a key that is not pinned (\(key.hex.prefix(16))…): "
                            + "not the paired satellite, or its key changed without a rotation", code: e.code)
                }
                throw BridgeClientError(
                    "no connection to the satellite at \(host):\(port): it refused this server's key (paired with another "
                        + "server? run 'trabant satellite unpair' on it), or this address is not allowed, or it is not "
                        + "running (\(e.message))", code: e.code)
            }
            throw BridgeClientError("\(host):\(port): \(e.message) (\(e.code))", code: e.code)
        }
    }
}

/// The satellite keys a client accepts, checked at every handshake.
final class SatelliteKeys: Sendable {
    let pins: Mutex<Set<Fingerprint>>
    let refused = Mutex<Fingerprint?>(nil)

    init(_ pins: Set<Fingerprint>) { self.pins = Mutex(pins) }

    /// With no pins (pairing) the first key is learnt and held on to.
    func check(_ key: Fingerprint) -> Bool {
        let ok = pins.withLock { p -> Bool in
            if p.isEmpty {
                p = [key]
                return true
            }
            return p.contains(key)
        }
        if !ok { refused.withLock { $0 = key } }
        return ok
    }
}

public struct BridgeClientError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let code: RPCError.Code?
    init(_ message: String, code: RPCError.Code? = nil) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}

/// Sends this side's release on every call.
struct ReleaseHeader: ClientInterceptor {
    let release: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.addString(release, forKey: TrabantRelease.metadataKey)
        return try await next(request, context)
    }
}
