import CryptoExtras
import Foundation
import PushPayload

/// A Google service account key file (the JSON the Firebase console gives).
public struct FCMServiceAccount: Sendable {
    public let projectID: String
    public let clientEmail: String
    public let privateKeyID: String
    public let tokenURI: String
    let key: _RSA.Signing.PrivateKey

    public init(json: Data) throws(PushError) {
        struct File: Decodable {
            let type: String?
            let project_id: String?
            let private_key_id: String?
            let private_key: String?
            let client_email: String?
            let token_uri: String?
        }
        guard let f = try? JSONDecoder().decode(File.self, from: json) else {
            throw PushError(.configuration, "fcm.service_account: not a JSON service account key file")
        }
        guard f.type == "service_account" else {
            throw PushError(.configuration, "fcm.service_account: \"type\" must be \"service_account\", got \(f.type.map { "\"\($0)\"" } ?? "none")")
        }
        for (name, value) in [("project_id", f.project_id), ("private_key", f.private_key), ("client_email", f.client_email)]
        where (value ?? "").isEmpty {
            throw PushError(.configuration, "fcm.service_account: \"\(name)\" is missing")
        }
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: f.private_key!)
        } catch {
            throw PushError(.configuration, "fcm.service_account: \"private_key\" is not an RSA key in PEM: \(error)")
        }
        projectID = f.project_id!
        clientEmail = f.client_email!
        privateKeyID = f.private_key_id ?? ""
        tokenURI = f.token_uri ?? "https://oauth2.googleapis.com/token"
    }

    public static let scope = "https://www.googleapis.com/auth/firebase.messaging"

    /// The signed assertion exchanged for an access token (RFC 7523 JWT bearer grant).
    public func assertion(now: Double) throws -> String {
        struct Claims: Encodable {
            let iss: String
            let scope: String
            let aud: String
            let iat: Int
            let exp: Int
        }
        return try JWT.rs256(
            kid: privateKeyID.isEmpty ? nil : privateKeyID,
            claims: Claims(iss: clientEmail, scope: Self.scope, aud: tokenURI, iat: Int(now), exp: Int(now) + 3600), key: key)
    }

    /// The token request's form body.
    public func tokenRequestBody(now: Double) throws -> String {
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + (try assertion(now: now))
    }
}

/// The OAuth2 access token, kept until five minutes before it expires. Time is passed in.
public struct FCMTokenCache: Sendable {
    public private(set) var token: String?
    public private(set) var expiresAt: Double = -.infinity
    public static let margin: Double = 300

    public init() {}

    public func valid(now: Double) -> String? {
        guard let token, now < expiresAt - Self.margin else { return nil }
        return token
    }

    /// Reads the token endpoint's answer (`{"access_token": …, "expires_in": 3599, …}`).
    public mutating func store(response body: Data, now: Double) throws(PushError) -> String {
        struct Answer: Decodable {
            let access_token: String?
            let expires_in: Double?
            let error: String?
            let error_description: String?
        }
        guard let a = try? JSONDecoder().decode(Answer.self, from: body) else {
            throw PushError(.provider, "the OAuth2 token endpoint answered something that is not JSON")
        }
        guard let t = a.access_token, let e = a.expires_in else {
            // invalid_grant, invalid_client, unauthorized_client: the key file is wrong or
            // revoked — asking again cannot help (RFC 6749 §5.2).
            throw PushError(
                .configuration,
                "Google's OAuth2 endpoint refused the service account (fcm.service_account_file): \(a.error ?? "?") \(a.error_description ?? "")")
        }
        token = t
        expiresAt = now + e
        return t
    }

    public mutating func invalidate() { token = nil }
}

/// One FCM HTTP v1 message (projects.messages.send).
public struct FCMRequest: Sendable, Equatable {
    public var registrationToken: String
    /// Calls: high priority, time to live = the ring time. Otherwise normal priority.
    public var isCall: Bool
    public var ttlSeconds: Int
    public var sealed: SealedNotice

    public init(registrationToken: String, isCall: Bool, ttlSeconds: Int, sealed: SealedNotice) throws(PushError) {
        guard !registrationToken.isEmpty, registrationToken.utf8.count <= 4096,
            registrationToken.allSatisfy({ $0.isASCII && !$0.isWhitespace })
        else {
            throw PushError(.badToken, "an FCM registration token is printable ASCII without spaces, at most 4096 bytes")
        }
        self.registrationToken = registrationToken
        self.isCall = isCall
        self.ttlSeconds = ttlSeconds
        self.sealed = sealed
    }

    public static func path(project: String) -> String { "/v1/projects/\(project)/messages:send" }

    /// Data only: the app's service decides what to show after opening the notice.
    public var body: [UInt8] {
        let q = FastEncoding.quoted
        let text = "{\"message\":{\"android\":{\"priority\":\"\(isCall ? "high" : "normal")\",\"ttl\":\"\(ttlSeconds)s\"},"
            + "\"data\":{\"ct\":\(q(sealed.ct)),\"enc\":\(q(sealed.enc)),\"kid\":\(q(sealed.kid)),\"v\":\"\(sealed.v)\"},"
            + "\"token\":\(q(registrationToken))}}"
        return Array(text.utf8)
    }

    /// FCM's errors (FcmError codes in the google.rpc.Status details).
    public static func outcome(status: Int, body: [UInt8], retryAfter: String?) -> PushOutcome {
        if status == 200 { return .delivered }
        struct Envelope: Decodable {
            struct Err: Decodable {
                struct Detail: Decodable { let errorCode: String? }
                let status: String?
                let message: String?
                let details: [Detail]?
            }
            let error: Err?
        }
        let e = (try? JSONDecoder().decode(Envelope.self, from: Data(body)))?.error
        let code = e?.details?.compactMap(\.errorCode).first ?? e?.status ?? "HTTP \(status)"
        switch (status, code) {
        // Only UNREGISTERED means the token is dead; SENDER_ID_MISMATCH or a bare 404 (a wrong
        // project in the configuration) must not drop every token of the directory.
        case (_, "UNREGISTERED"): return .deadToken(reason: code)
        case (401, _), (_, "THIRD_PARTY_AUTH_ERROR"): return .authentication(reason: code)
        case (429, _), (500...599, _): return .retry(reason: code, after: RetryPolicy.seconds(retryAfter))
        default: return .rejected(status: status, reason: code + (e?.message.map { ": \($0)" } ?? ""))
        }
    }
}
