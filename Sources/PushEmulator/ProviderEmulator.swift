import Crypto
import CryptoExtras
import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import PushPayload
import SwiftASN1
import Synchronization
import X509

/// A private CA and a certificate for the providers' names, so that the client verifies the
/// emulator exactly as it verifies Apple and Google (names, chain, dates). For tests and
/// `trabant bench push` only.
public struct TestCA: Sendable {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey
    let leaf: Certificate
    let leafKey: P256.Signing.PrivateKey

    public init(names: [String], commonName: String = "Trabant test CA") throws {
        key = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + 86400, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            }, issuerPrivateKey: .init(key))
        (leaf, leafKey) = try Self.make(names: names, uid: nil, days: 1, issuer: caName, caKey: key)
    }

    /// A certificate from this CA: a server's (names + 127.0.0.1) or, with `uid`, an APNs-style
    /// client certificate whose subject UID is the bundle id.
    public func issue(names: [String] = [], uid: String? = nil, days: Double = 1) throws -> (certificatePEM: String, keyPEM: String) {
        let (cert, k) = try Self.make(names: names, uid: uid, days: days, issuer: certificate.subject, caKey: key)
        return (try cert.serializeAsPEM().pemString, k.pemRepresentation)
    }

    static func make(names: [String], uid: String?, days: Double, issuer: DistinguishedName, caKey: P256.Signing.PrivateKey) throws
        -> (Certificate, P256.Signing.PrivateKey)
    {
        let k = P256.Signing.PrivateKey()
        let now = Date()
        var rdns: [RelativeDistinguishedName] = []
        if let uid { rdns.append(RelativeDistinguishedName(.init(type: [0, 9, 2342, 19_200_300, 100, 1, 1], utf8String: uid))) }
        rdns.append(RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: uid.map { "Apple VoIP Services: \($0)" } ?? names.first ?? "client")))
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(k.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + days * 86400, issuer: issuer, subject: DistinguishedName(rdns), signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(uid == nil ? [.serverAuth] : [.clientAuth])
                if uid == nil { SubjectAlternativeNames(names.map { .dnsName($0) } + [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]) }
            }, issuerPrivateKey: .init(caKey))
        return (cert, k)
    }

    public var nioRoot: NIOSSLCertificate { get throws { try NIOSSLCertificate(bytes: Array(certificate.serializeAsPEM().pemString.utf8), format: .pem) } }

    public func serverContext() throws -> NIOSSLContext {
        var c = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(leaf.serializeAsPEM().pemString.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)))
        c.applicationProtocols = ["h2", "http/1.1"]
        // Like APNs: a client certificate is optional (token authentication sends none), and
        // one that is sent must chain to the CA.
        c.certificateVerification = .optionalVerification
        c.trustRoots = .certificates([try nioRoot])
        return try NIOSSLContext(configuration: c)
    }
}

/// APNs, Google's OAuth2 token endpoint and FCM HTTP v1 as documented, on one HTTP/2 + TLS
/// port: they check headers, JWTs (signature, kid, iss, iat) and payloads, and answer with the
/// services' own error bodies.
public final class ProviderEmulator: Sendable {
    public struct Push: Sendable {
        public var provider: String
        public var token: String
        public var headers: [String: String]
        public var body: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:] }
        public var bytes: [UInt8]
    }

    public struct State: Sendable {
        /// The pushes accepted (kept only when `keepPushes`; counted always).
        public var pushes: [Push] = []
        public var accepted = 0
        public var deadTokens: Set<String> = []
        public var accessTokens: Set<String> = []
        public var tokenRequests = 0
        public var apnsTokensSeen: Set<String> = []
        /// Pushes authenticated by a client certificate (no provider token).
        public var certificatePushes = 0
        /// The next answers to force (status, body, retry-after), before normal handling.
        var forced: [(Int, String, String?)] = []
    }

    /// Like APNs once a connection is authenticated: up to 1,000 streams at once.
    static var connectionConfiguration: NIOHTTP2Handler.ConnectionConfiguration {
        var c = NIOHTTP2Handler.ConnectionConfiguration()
        c.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16384),
        ]
        return c
    }

    public static let names = ["api.push.apple.com", "api.sandbox.push.apple.com", "fcm.googleapis.com", "oauth2.googleapis.com"]

    public let ca: TestCA
    let apnsKey: P256.Signing.PublicKey
    let keyID: String
    let teamID: String
    let bundleID: String
    let fcmKey: _RSA.Signing.PublicKey
    let fcmProject: String
    let fcmEmail: String
    public let tokenURI: String
    public let state = Mutex(State())
    let verifiedAt = Mutex<[String: Double]>([:])
    /// The bench sends a million pushes: it only counts them.
    public let keepPushes: Bool
    let channel: Channel
    public let port: Int

    public init(
        apnsKey: P256.Signing.PublicKey, keyID: String, teamID: String, bundleID: String, fcmKey: _RSA.Signing.PublicKey,
        fcmProject: String, fcmEmail: String, tokenURI: (Int) -> String, port: Int = 0, keepPushes: Bool = true
    ) async throws {
        self.keepPushes = keepPushes
        let ca = try TestCA(names: Self.names)
        self.ca = ca
        self.apnsKey = apnsKey
        self.keyID = keyID
        self.teamID = teamID
        self.bundleID = bundleID
        self.fcmKey = fcmKey
        self.fcmProject = fcmProject
        self.fcmEmail = fcmEmail
        let context = try ca.serverContext()
        let box = EmulatorBox()
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try ch.pipeline.syncOperations.addHandler(
                        NIOHTTP2Handler(mode: .server, initialSettings: Self.connectionConfiguration.initialSettings))
                    try ch.pipeline.syncOperations.addHandler(FrameHandler(box: box))
                }
            }
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port).get()
        channel = ch
        self.port = ch.localAddress?.port ?? 0
        self.tokenURI = tokenURI(self.port)
        box.emulator.withLock { $0 = self }
    }

    public func stop() { channel.close(promise: nil) }

    public var pushes: [Push] { state.withLock { $0.pushes } }
    public var accepted: Int { state.withLock { $0.accepted } }

    /// The next `times` requests get no answer at all (a provider that hangs).
    public func stall(times: Int = 1) { force(Self.stalled, "", times: times) }

    /// The next request is refused with GOAWAY (last stream: the one before it), then the
    /// connection closes: what a provider does when it restarts.
    public func goAway(times: Int = 1) { force(Self.goingAway, "", times: times) }

    /// The next request's connection stops reading (a peer cut off by a NAT or firewall):
    /// no answer, not even to PING.
    public func freeze() { force(Self.frozen, "") }

    static let stalled = -1
    static let goingAway = -2
    static let frozen = -3
    static let quitting = -4

    /// The next request is answered after a GOAWAY that names it as the last stream, then
    /// the connection closes: a graceful goodbye.
    public func quit() { force(Self.quitting, "") }

    public func force(_ status: Int, _ body: String, retryAfter: String? = nil, times: Int = 1) {
        state.withLock { s in for _ in 0..<times { s.forced.append((status, body, retryAfter)) } }
    }

    // MARK: handling

    func record(_ push: Push) {
        state.withLock { s in
            s.accepted += 1
            if keepPushes { s.pushes.append(push) }
        }
    }

    static func uid(of certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes(), let cert = try? Certificate(derEncoded: der) else { return nil }
        for rdn in cert.subject {
            for a in rdn where a.type == [0, 9, 2342, 19_200_300, 100, 1, 1] { return String(a.value) }
        }
        return nil
    }

    func handle(method: String, path: String, headers: [String: String], body: [UInt8]) -> (Int, [(String, String)], String) {
        if let forced = state.withLock({ s -> (Int, String, String?)? in s.forced.isEmpty ? nil : s.forced.removeFirst() }) {
            return (forced.0, forced.2.map { [("retry-after", $0)] } ?? [], forced.1)
        }
        if path == "/token" || path.hasSuffix("/token") { return oauth(body) }
        if path.hasPrefix("/3/device/") { return apns(path: path, headers: headers, body: body) }
        if path.hasPrefix("/v1/projects/") { return fcm(path: path, headers: headers, body: body) }
        return (404, [], "{}")
    }

    func apnsError(_ status: Int, _ reason: String) -> (Int, [(String, String)], String) {
        let ts = status == 410 ? ",\"timestamp\":\(Int(Date().timeIntervalSince1970 * 1000))" : ""
        return (status, [("apns-id", UUID().uuidString)], "{\"reason\":\"\(reason)\"\(ts)}")
    }

    func apns(path: String, headers: [String: String], body: [UInt8]) -> (Int, [(String, String)], String) {
        let token = String(path.dropFirst("/3/device/".count))
        if let auth = headers["authorization"] {
            guard auth.hasPrefix("bearer ") else { return apnsError(403, "MissingProviderToken") }
            switch verifyES256(String(auth.dropFirst(7))) {
            case .invalid: return apnsError(403, "InvalidProviderToken")
            case .expired: return apnsError(403, "ExpiredProviderToken")
            case .tooManyUpdates: return apnsError(429, "TooManyProviderTokenUpdates")
            case .ok(let jwt): state.withLock { _ = $0.apnsTokensSeen.insert(jwt) }
            }
        } else if let uid = headers[":client-uid"] {
            // Certificate authentication: the certificate's UID names the topics it may push to.
            guard let topic = headers["apns-topic"], topic == uid || topic == uid + ".voip" else { return apnsError(400, "TopicDisallowed") }
            state.withLock { $0.certificatePushes += 1 }
        } else {
            return apnsError(403, "MissingProviderToken")
        }
        guard token.count >= 64, token.allSatisfy(\.isHexDigit) else { return apnsError(400, "BadDeviceToken") }
        guard let type = headers["apns-push-type"], ["voip", "alert"].contains(type) else { return apnsError(400, "InvalidPushType") }
        guard headers["apns-topic"] == (type == "voip" ? bundleID + ".voip" : bundleID) else { return apnsError(400, "DeviceTokenNotForTopic") }
        guard headers["apns-priority"].map({ ["5", "10"].contains($0) }) ?? true else { return apnsError(400, "BadPriority") }
        guard headers["apns-expiration"].flatMap(Int.init) != nil else { return apnsError(400, "BadExpirationDate") }
        guard body.count <= (type == "voip" ? 5120 : 4096) else { return apnsError(413, "PayloadTooLarge") }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let sealed = json["trabant"] as? [String: Any], sealed["ct"] is String, sealed["kid"] is String
        else { return apnsError(400, "PayloadEmpty") }
        if state.withLock({ $0.deadTokens.contains(token) }) { return apnsError(410, "Unregistered") }
        record(Push(provider: "apns", token: token, headers: headers, bytes: body))
        return (200, [("apns-id", headers["apns-id"] ?? UUID().uuidString)], "")
    }

    enum JWTCheck { case ok(String), invalid, expired, tooManyUpdates }

    func verifyES256(_ jwt: String) -> JWTCheck {
        // Like APNs, a token verified once is known (its age is still checked).
        if state.withLock({ $0.apnsTokensSeen.contains(jwt) }), let iat = verifiedAt.withLock({ $0[jwt] }) {
            return Date().timeIntervalSince1970 - iat > 3600 ? .expired : .ok(jwt)
        }
        let parts = jwt.split(separator: ".").map(String.init)
        guard parts.count == 3, let h = Data(base64URL: parts[0]), let c = Data(base64URL: parts[1]), let s = Data(base64URL: parts[2]),
            let header = try? JSONSerialization.jsonObject(with: h) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: c) as? [String: Any],
            header["alg"] as? String == "ES256", header["kid"] as? String == keyID, claims["iss"] as? String == teamID,
            let iat = claims["iat"] as? Int, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: s),
            apnsKey.isValidSignature(sig, for: Data((parts[0] + "." + parts[1]).utf8))
        else { return .invalid }
        // A token from the future is not valid (APNs allows little clock skew).
        guard Double(iat) <= Date().timeIntervalSince1970 + 60 else { return .invalid }
        // Like APNs: a new token for the key less than 20 minutes after the newest one is refused.
        let refused = verifiedAt.withLock { seen -> Bool in
            guard let newest = seen.values.max(), Double(iat) > newest else { return false }
            return Double(iat) - newest < 1200
        }
        if refused { return .tooManyUpdates }
        verifiedAt.withLock { $0[jwt] = Double(iat) }
        return Date().timeIntervalSince1970 - Double(iat) > 3600 ? .expired : .ok(jwt)
    }

    func oauth(_ body: [UInt8]) -> (Int, [(String, String)], String) {
        let form = Dictionary(
            String(decoding: body, as: UTF8.self).split(separator: "&").compactMap { pair -> (String, String)? in
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0], kv[1].removingPercentEncoding ?? kv[1]) : nil
            }, uniquingKeysWith: { a, _ in a })
        let bad = (400, [("content-type", "application/json")], #"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
        guard form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", let jwt = form["assertion"] else { return bad }
        let parts = jwt.split(separator: ".").map(String.init)
        guard parts.count == 3, let c = Data(base64URL: parts[1]), let s = Data(base64URL: parts[2]),
            let claims = try? JSONSerialization.jsonObject(with: c) as? [String: Any], claims["iss"] as? String == fcmEmail,
            claims["scope"] as? String == "https://www.googleapis.com/auth/firebase.messaging",
            claims["aud"] as? String == tokenURI,
            // Google: iat not in the future, exp after now and at most an hour after iat.
            let iat = claims["iat"] as? Int, let exp = claims["exp"] as? Int,
            Double(iat) <= Date().timeIntervalSince1970 + 60, Double(exp) > Date().timeIntervalSince1970, exp - iat <= 3600,
            fcmKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: s), for: Data((parts[0] + "." + parts[1]).utf8), padding: .insecurePKCS1v1_5)
        else { return bad }
        let token = "ya29." + UUID().uuidString
        state.withLock {
            $0.accessTokens.insert(token)
            $0.tokenRequests += 1
        }
        return (200, [("content-type", "application/json")], "{\"access_token\":\"\(token)\",\"expires_in\":3599,\"token_type\":\"Bearer\"}")
    }

    func fcmError(_ status: Int, _ state: String, _ code: String?) -> (Int, [(String, String)], String) {
        let details = code.map { ",\"details\":[{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"\($0)\"}]" } ?? ""
        return (status, [("content-type", "application/json")], "{\"error\":{\"code\":\(status),\"message\":\"\(state)\",\"status\":\"\(state)\"\(details)}}")
    }

    func fcm(path: String, headers: [String: String], body: [UInt8]) -> (Int, [(String, String)], String) {
        guard let auth = headers["authorization"], auth.hasPrefix("Bearer "),
            state.withLock({ $0.accessTokens.contains(String(auth.dropFirst(7))) })
        else { return fcmError(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR") }
        guard path == "/v1/projects/\(fcmProject)/messages:send" else { return fcmError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH") }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let message = json["message"] as? [String: Any], let token = message["token"] as? String,
            let data = message["data"] as? [String: String], data["ct"] != nil,
            let android = message["android"] as? [String: String], ["high", "normal"].contains(android["priority"] ?? "")
        else { return fcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT") }
        if state.withLock({ $0.deadTokens.contains(token) }) { return fcmError(404, "NOT_FOUND", "UNREGISTERED") }
        record(Push(provider: "fcm", token: token, headers: headers, bytes: body))
        return (200, [("content-type", "application/json")], "{\"name\":\"projects/\(fcmProject)/messages/\(UUID().uuidString)\"}")
    }

    /// The streams of one HTTP/2 connection, as frames (like a provider's front end, no
    /// channel per stream): each request is collected, answered, and the answers of one read
    /// go out with one flush.
    final class FrameHandler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame
        typealias OutboundOut = HTTP2Frame
        struct Request {
            var headers: HPACKHeaders
            var body: [UInt8] = []
        }
        let box: EmulatorBox
        var requests: [HTTP2StreamID: Request] = [:]
        /// The client certificate's UID (certificate authentication), read once after the handshake.
        var clientUID: String??
        var unflushed = false

        init(box: EmulatorBox) { self.box = box }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.payload {
            case .headers(let h):
                if requests[frame.streamID] == nil { requests[frame.streamID] = Request(headers: h.headers) }
                if h.endStream { answer(context, frame.streamID) }
            case .data(let d):
                if case .byteBuffer(let b) = d.data { requests[frame.streamID]?.body += b.readableBytesView }
                if d.endStream { answer(context, frame.streamID) }
            case .rstStream:
                requests[frame.streamID] = nil
            default:
                break
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            if unflushed {
                unflushed = false
                context.flush()
            }
            context.fireChannelReadComplete()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // Request bodies use up the connection's window; give it back.
            if let e = event as? NIOHTTP2WindowUpdatedEvent, e.streamID == .rootStream, let w = e.inboundWindowSize, w < 32_768 {
                context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: 65_535 - w))), promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func answer(_ context: ChannelHandlerContext, _ id: HTTP2StreamID) {
            guard let request = requests.removeValue(forKey: id), let emulator = box.emulator.withLock({ $0 }) else { return }
            if clientUID == nil {
                clientUID = .some((try? context.pipeline.syncOperations.nioSSL_peerCertificate()).flatMap { $0 }.flatMap(ProviderEmulator.uid(of:)))
            }
            var headers: [String: String] = [:]
            for (k, v, _) in request.headers where !k.hasPrefix(":") { headers[k.lowercased()] = v }
            headers[":client-uid"] = clientUID ?? nil
            func handle() -> (Int, [(String, String)], String) {
                emulator.handle(
                    method: request.headers.first(name: ":method") ?? "", path: request.headers.first(name: ":path") ?? "", headers: headers,
                    body: request.body)
            }
            var (status, extra, text) = handle()
            var closeAfter = false
            if status == ProviderEmulator.quitting {
                // GOAWAY naming this stream as the last: it is still answered, then the connection closes.
                context.write(
                    wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: id, errorCode: .noError, opaqueData: nil))),
                    promise: nil)
                (status, extra, text) = handle()
                closeAfter = true
            }
            if status == ProviderEmulator.stalled { return }
            if status == ProviderEmulator.frozen {
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
                return
            }
            if status == ProviderEmulator.goingAway {
                let last = HTTP2StreamID(max(0, Int(Int32(id)) - 2))
                context.writeAndFlush(
                    wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: last, errorCode: .noError, opaqueData: nil))),
                    promise: nil)
                context.close(promise: nil)
                return
            }
            var h = HPACKHeaders([(":status", "\(status)")] + extra)
            h.add(name: "content-length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: h, endStream: text.isEmpty)))), promise: nil)
            if !text.isEmpty {
                context.write(
                    wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: text)), endStream: true)))),
                    promise: nil)
            }
            unflushed = true
            if closeAfter {
                unflushed = false
                context.flush()
                context.close(promise: nil)
            }
        }
    }
}

final class EmulatorBox: Sendable {
    let emulator = Mutex<ProviderEmulator?>(nil)
}
