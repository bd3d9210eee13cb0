import Foundation
import PushPayload

/// One push as a server hands it to the push relay (`POST /v1/push`, JSON): where to, and the
/// notice already sealed to the device — the relay never gets anything it could open.
public struct RelayPush: Sendable, Equatable {
    public var target: PushTarget
    public var kind: CallNotice.Kind
    public var collapseID: String?
    public var sealed: SealedNotice

    public init(target: PushTarget, kind: CallNotice.Kind, collapseID: String?, sealed: SealedNotice) {
        self.target = target
        self.kind = kind
        self.collapseID = collapseID
        self.sealed = sealed
    }

    public static let path = "/v1/push"
    public static let maximumBytes = 8192
    static let fields: Set<String> = ["provider", "token", "type", "kind", "collapse_id", "sealed"]
    static let sealedFields: Set<String> = ["v", "kid", "enc", "ct"]

    public var json: [UInt8] {
        let q = FastEncoding.quoted
        var fields: [String] = []
        switch target {
        case .apns(let token, let type):
            fields += ["\"provider\":\"apns\"", "\"token\":\(q(token))", "\"type\":\"\(type.rawValue)\""]
        case .fcm(let token):
            fields += ["\"provider\":\"fcm\"", "\"token\":\(q(token))"]
        }
        fields.append("\"kind\":\"\(kind.rawValue)\"")
        if let collapseID { fields.append("\"collapse_id\":\(q(collapseID))") }
        fields.append("\"sealed\":\(sealed.jsonText)")
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    /// Reads and checks a request body. Only the fields above are allowed — a body that
    /// carries anything else (a plaintext notice, say) is refused, not forwarded.
    public init(json body: [UInt8]) throws(PushError) {
        guard body.count <= Self.maximumBytes else {
            throw PushError(.configuration, "the request is \(body.count) bytes; at most \(Self.maximumBytes) are allowed")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw PushError(.configuration, "the request is not a JSON object")
        }
        let unknown = Set(object.keys).subtracting(Self.fields)
        guard unknown.isEmpty else {
            throw PushError(
                .configuration,
                "unknown field(s) \(unknown.sorted().joined(separator: ", ")); allowed: \(Self.fields.sorted().joined(separator: ", "))")
        }
        func string(_ key: String) throws(PushError) -> String {
            guard let s = object[key] as? String else { throw PushError(.configuration, "\"\(key)\" must be a string") }
            return s
        }
        let token = try string("token")
        switch try string("provider") {
        case "apns":
            guard let type = APNsRequest.PushType(rawValue: try string("type")) else {
                throw PushError(.configuration, "\"type\" must be \"voip\" or \"alert\"")
            }
            target = .apns(token: token, type: type)
        case "fcm": target = .fcm(token: token)
        case let other: throw PushError(.configuration, "\"provider\" must be \"apns\" or \"fcm\", not \"\(other)\"")
        }
        guard let kind = CallNotice.Kind(rawValue: try string("kind")) else {
            throw PushError(.configuration, "\"kind\" must be \"call\" or \"cancel\"")
        }
        self.kind = kind
        if object["collapse_id"] != nil {
            let c = try string("collapse_id")
            guard c.utf8.count <= 64, c.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                throw PushError(.configuration, "\"collapse_id\" is at most 64 printable ASCII characters")
            }
            collapseID = c
        } else {
            collapseID = nil
        }
        guard let s = object["sealed"] as? [String: Any], Set(s.keys) == Self.sealedFields else {
            throw PushError(.configuration, "\"sealed\" must be an object with exactly v, kid, enc and ct")
        }
        guard let v = s["v"] as? Int, v == 1 else { throw PushError(.configuration, "\"sealed.v\" must be 1") }
        guard let kid = s["kid"] as? String, DevicePushKey.isValidID(kid) else { throw PushError(.configuration, "\"sealed.kid\" is 1 to 64 letters, digits, '-' or '_'") }
        guard let enc = s["enc"] as? String, Data(base64URL: enc)?.count == 32 else {
            throw PushError(.configuration, "\"sealed.enc\" must be a 32-byte X25519 key in base64url")
        }
        guard let ct = s["ct"] as? String, let raw = Data(base64URL: ct), raw.count >= 16, raw.count <= 3000 else {
            throw PushError(.configuration, "\"sealed.ct\" must be 16 to 3000 bytes of ciphertext in base64url")
        }
        sealed = SealedNotice(v: 1, kid: kid, enc: enc, ct: ct)
    }
}

/// The relay's answer: what became of the push at the provider.
public struct RelayAnswer: Codable, Sendable, Equatable {
    public var outcome: String
    public var reason: String?
    public var status: Int?
    public var retry_after: Double?

    public init(_ o: PushOutcome) {
        switch o {
        case .delivered: outcome = "delivered"
        case .retry(let r, let after):
            outcome = "retry"
            reason = r
            retry_after = after
        case .deadToken(let r):
            outcome = "dead_token"
            reason = r
        case .authentication(let r):
            outcome = "auth_failed"
            reason = r
        case .rejected(let status, let r):
            outcome = "rejected"
            reason = r
            self.status = status
        }
    }

    /// The relay's HTTP answer as an outcome for the server's retry logic.
    public static func outcome(status: Int, body: [UInt8], retryAfter: String?) -> PushOutcome {
        let a = try? JSONDecoder().decode(RelayAnswer.self, from: Data(body))
        let reason = "push relay: " + (a?.reason ?? "HTTP \(status)")
        switch (status, a?.outcome) {
        case (200, "delivered"?): return .delivered
        case (200, "dead_token"?): return .deadToken(reason: a?.reason ?? "dead token")
        case (200, "retry"?): return .retry(reason: reason, after: a?.retry_after)
        // The relay's own provider credentials were refused: nothing this server can renew.
        case (200, "auth_failed"?): return .rejected(status: 502, reason: reason)
        case (200, "rejected"?): return .rejected(status: a?.status ?? 400, reason: reason)
        case (429, _), (500...599, _): return .retry(reason: reason, after: RetryPolicy.seconds(retryAfter) ?? a?.retry_after)
        default: return .rejected(status: status, reason: reason)
        }
    }
}
