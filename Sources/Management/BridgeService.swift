import CallControl
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PKI

/// The caller of a bridge RPC as TLS and the socket know it.
struct BridgePeer {
    let fingerprint: Fingerprint?
    let address: String?

    init(_ context: ServerContext) {
        let cert = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
        fingerprint = cert.flatMap { try? Fingerprint(certificate: $0) }
        address = Self.host(of: context.remotePeer)
    }

    /// "ipv4:10.0.0.1:5555" → "10.0.0.1", "ipv6:[::1]:5555" → "::1".
    static func host(of peer: String) -> String? {
        if peer.hasPrefix("ipv4:") {
            let rest = peer.dropFirst(5)
            return rest.lastIndex(of: ":").map { String(rest[..<$0]) }
        }
        if peer.hasPrefix("ipv6:["), let close = peer.firstIndex(of: "]") {
            let host = String(peer[peer.index(peer.startIndex, offsetBy: 6)..<close])
            return host.hasPrefix("::ffff:") && host.contains(".") ? String(host.dropFirst(7)) : host
        }
        return nil
    }
}

/// Checked on every call: the caller's release, and — for everything but Pair — that the
/// satellite is paired and the caller is the paired server, by key and by address.
struct BridgeGuard: ServerInterceptor {
    let bridge: BridgeServer

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let release = request.metadata[stringValues: TrabantRelease.metadataKey].first(where: { _ in true })
        if let problem = TrabantRelease.mismatch(
            local: bridge.settings.release, remote: release, localRole: "satellite", remoteRole: "server")
        {
            bridge.refuse("release_mismatch", source: BridgePeer.host(of: context.remotePeer) ?? "", detail: problem)
            throw RPCError(code: .failedPrecondition, message: problem)
        }
        guard context.descriptor.method != "Pair" else { return try await next(request, context) }
        let peer = BridgePeer(context)
        guard let paired = bridge.paired else {
            throw RPCError(code: .failedPrecondition, message: "the satellite is not paired; call Pair first")
        }
        guard let key = peer.fingerprint, bridge.serverPins.contains(key) else {
            bridge.refuse("bridge_key_not_pinned", source: peer.address ?? "", detail: peer.fingerprint.map { "\($0)" } ?? "no key")
            throw RPCError(code: .permissionDenied, message: "this key is not the paired server's")
        }
        guard peer.address.flatMap(IPAddressBytes.parse)?.bytes == IPAddressBytes.parse(paired.address)?.bytes else {
            bridge.refuse("bridge_source_refused", source: peer.address ?? "", detail: "paired with \(paired.address)")
            throw RPCError(code: .permissionDenied, message: "calls come only from the paired server's address")
        }
        return try await next(request, context)
    }
}

/// The SatelliteBridge service (Protos/trabant/bridge/v1/bridge.proto).
struct BridgeService: Trabant_Bridge_V1_SatelliteBridge.SimpleServiceProtocol {
    let bridge: BridgeServer

    func pair(request: Trabant_Bridge_V1_PairRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_PairResponse {
        let peer = BridgePeer(context)
        guard let server = peer.fingerprint, let address = peer.address else {
            throw RPCError(code: .unauthenticated, message: "pairing needs the server's client certificate")
        }
        let satellite = bridge.identity.fingerprint
        let code: PairingCode?
        do {
            code = try bridge.store.pair(
                proof: Array(request.proof), satellite: satellite, server: server, address: address,
                name: request.serverName.isEmpty ? address : String(request.serverName.prefix(100)),
                mode: bridge.settings.pairing)
        } catch {
            bridge.refuse("pairing_refused", source: address, detail: error.message)
            throw RPCError(code: error.rpcCode, message: error.message)
        }
        do {
            try bridge.reload()
        } catch {
            // Paired and persisted already; the poll picks it up within a second.
            bridge.logger.error("paired, but reloading the pairing failed", metadata: ["error": "\(error)"])
        }
        bridge.events.publish(ControllerEvent(category: .security, kind: "paired", source: address, detail: "\(server)"))
        bridge.logger.notice(
            "paired with the server", metadata: ["server.address": "\(address)", "server.fingerprint": "\(server)"])
        var response = Trabant_Bridge_V1_PairResponse()
        if let code { response.confirmation = Data(code.confirmation(satellite: satellite, server: server)) }
        response.serverFingerprint = server.hex
        response.satelliteRelease = bridge.settings.release
        return response
    }

    func getStatus(request: Trabant_Bridge_V1_GetStatusRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_Status {
        let s = await bridge.control.status()
        var status = Trabant_Bridge_V1_Status()
        status.release = bridge.settings.release
        status.uptimeSeconds = Date().timeIntervalSince(bridge.startedAt)
        status.load = LoadAverage.read()
        status.activeCalls = UInt32(s.activeCalls)
        status.portsInUse = UInt32(s.portsInUse)
        status.portsTotal = UInt32(s.portsTotal)
        status.firewallState = s.firewallState
        status.draining = s.draining
        status.satelliteFingerprint = bridge.identity.fingerprint.hex
        status.configVersion = (try? bridge.store.managedConfig()?.version) ?? 0
        return status
    }

    func getConfig(request: Trabant_Bridge_V1_GetConfigRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_ApplyConfigResponse {
        let (version, config) = try await bridge.managedConfig()
        return .init(version: version, config: config)
    }

    func applyConfig(
        request: Trabant_Bridge_V1_ApplyConfigRequest, context: ServerContext
    ) async throws -> Trabant_Bridge_V1_ApplyConfigResponse {
        do {
            let (version, config) = try await bridge.applyConfig(
                ManagedConfig(request.config), mask: request.updateMask, expectedVersion: request.expectedVersion)
            return .init(version: version, config: config)
        } catch let e as ApplyError {
            let code: RPCError.Code = e.code == .invalid ? .invalidArgument : e.code == .versionMismatch ? .aborted : .unavailable
            throw RPCError(code: code, message: e.message)
        } catch let e as PairingError {
            // The satellite's own state files: the change is not in effect (rolled back if it was).
            throw RPCError(code: .internalError, message: "the satellite's settings file failed, nothing changed: \(e.message)")
        } catch {
            throw RPCError(code: .internalError, message: "applying the settings failed, nothing changed: \(error)")
        }
    }

    func listCalls(request: Trabant_Bridge_V1_ListCallsRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_ListCallsResponse {
        var out = Trabant_Bridge_V1_ListCallsResponse()
        for call in await bridge.control.calls() {
            var c = Trabant_Bridge_V1_CallSummary()
            c.id = call.id
            c.sipCallID = call.sipCallID
            c.state = call.state
            c.startedSecondsAgo = call.ageSeconds
            let packets = await bridge.control.packets(call: call.id)
            c.legs = call.legs.enumerated().map { i, leg in
                var l = Trabant_Bridge_V1_CallLeg()
                l.name = leg.name
                l.localMedia = leg.local
                l.remoteMedia = leg.remote
                if i < packets.count {
                    l.packetsReceived = packets[i].received
                    l.packetsSent = packets[i].sent
                }
                return l
            }
            out.calls.append(c)
        }
        return out
    }

    func hangupCall(request: Trabant_Bridge_V1_HangupCallRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_HangupCallResponse {
        guard await bridge.control.hangUp(call: request.id) else {
            throw RPCError(code: .notFound, message: "no running call '\(request.id.prefix(100))'")
        }
        return Trabant_Bridge_V1_HangupCallResponse()
    }

    func drain(request: Trabant_Bridge_V1_DrainRequest, context: ServerContext) async throws -> Trabant_Bridge_V1_DrainResponse {
        guard request.deadlineSeconds >= 0, request.deadlineSeconds <= 86400 else {
            throw RPCError(code: .invalidArgument, message: "deadline_seconds must be 0 to 86400, got \(request.deadlineSeconds)")
        }
        var r = Trabant_Bridge_V1_DrainResponse()
        r.activeCalls = UInt32(await bridge.control.drain(seconds: request.deadlineSeconds))
        return r
    }

    func watchEvents(
        request: Trabant_Bridge_V1_WatchEventsRequest, response: RPCWriter<Trabant_Bridge_V1_Event>, context: ServerContext
    ) async throws {
        for await e in bridge.events.subscribe() {
            var event = Trabant_Bridge_V1_Event()
            event.unixTime = e.time.timeIntervalSince1970
            event.category = e.category.rawValue
            event.kind = e.kind
            event.source = e.source
            event.detail = e.detail
            event.callID = e.callID
            try await response.write(event)
        }
    }

    func rotateIdentity(
        request: Trabant_Bridge_V1_RotateIdentityRequest, context: ServerContext
    ) async throws -> Trabant_Bridge_V1_RotateIdentityResponse {
        let caller = BridgePeer(context).fingerprint
        do {
            return try bridge.rotate(request.step, serverNext: request.serverNextFingerprint, caller: caller)
        } catch let e as PKIError {
            throw RPCError(code: .internalError, message: "rotation: \(e.message)")
        } catch let e as PairingError {
            throw RPCError(code: e.rpcCode, message: e.message)
        }
    }
}

extension PairingError {
    var rpcCode: RPCError.Code {
        switch code {
        case .wrongProof, .refused: return .permissionDenied
        case .badCode, .badAddress: return .invalidArgument
        case .alreadyPaired: return .alreadyExists
        case .noCode, .expired, .notPaired: return .failedPrecondition
        case .io: return .internalError
        }
    }
}

extension ManagedConfig {
    init(_ c: Trabant_Bridge_V1_SatelliteConfig) {
        self.init(
            acl: c.acl, mediaPortRange: c.mediaPortRange, ringTimeoutSeconds: c.ringTimeoutSeconds,
            mediaInactivityTimeoutSeconds: c.mediaInactivityTimeoutSeconds, sessionExpiresSeconds: Int(c.sessionExpiresSeconds),
            srtpSuites: c.srtpSuites, plainRTPNetworks: c.plainRtpNetworks)
    }

    var message: Trabant_Bridge_V1_SatelliteConfig {
        var c = Trabant_Bridge_V1_SatelliteConfig()
        c.acl = acl
        c.mediaPortRange = mediaPortRange
        c.ringTimeoutSeconds = ringTimeoutSeconds
        c.mediaInactivityTimeoutSeconds = mediaInactivityTimeoutSeconds
        c.sessionExpiresSeconds = UInt32(clamping: sessionExpiresSeconds)
        c.srtpSuites = srtpSuites
        c.plainRtpNetworks = plainRTPNetworks
        return c
    }
}

extension Trabant_Bridge_V1_ApplyConfigResponse {
    init(version: UInt64, config: ManagedConfig) {
        self.init()
        self.version = version
        self.config = config.message
    }
}

enum LoadAverage {
    static func read() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }
}
