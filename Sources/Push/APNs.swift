import Crypto
import Foundation
import PushPayload

/// APNs token authentication: a .p8 key (P-256), its key id and the team id.
public struct APNsCredentials: Sendable {
    public let key: P256.Signing.PrivateKey
    public let keyID: String
    public let teamID: String

    public init(p8 pem: String, keyID: String, teamID: String) throws(PushError) {
        guard keyID.count == 10, keyID.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) }) else {
            throw PushError(.configuration, "apns.key_id: '\(keyID)' is not a 10-character APNs key id (e.g. ABC123DEFG)")
        }
        guard teamID.count == 10, teamID.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) }) else {
            throw PushError(.configuration, "apns.team_id: '\(teamID)' is not a 10-character Apple team id")
        }
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw PushError(.configuration, "apns.key_file: not a P-256 private key in PEM (.p8): \(error)")
        }
        self.keyID = keyID
        self.teamID = teamID
    }
}

/// The provider token for one team, reused for 40 minutes and never renewed more often than
/// every 20 (APNs refuses tokens older than an hour, and answers 429
/// TooManyProviderTokenUpdates to more frequent renewals). Time is passed in.
public struct APNsTokenCache: Sendable {
    public static let renewAfter: Double = 40 * 60
    public static let minimumAge: Double = 20 * 60
    let credentials: APNsCredentials
    public private(set) var token: String?
    public private(set) var issuedAt: Double = -.infinity
    public private(set) var issued = 0

    public init(credentials: APNsCredentials) { self.credentials = credentials }

    /// Takes over a token this key issued earlier (kept across restarts, so that a restart
    /// does not count as a renewal), if it is ours, not from the future and younger than 40 minutes.
    public mutating func restore(token: String, issuedAt: Double, now: Double) {
        guard issuedAt <= now + 60, now - issuedAt < Self.renewAfter, JWT.verifiesES256(token, key: credentials.key.publicKey) else {
            return
        }
        self.token = token
        self.issuedAt = issuedAt
    }

    /// The current token, renewed when it is 40 minutes old.
    public mutating func current(now: Double) throws -> String {
        if let token, now - issuedAt < Self.renewAfter { return token }
        return try issue(now: now)
    }

    /// After 403 ExpiredProviderToken: a new token, unless the last one is younger than
    /// 20 minutes (then nil: renewing would be refused).
    public mutating func renewAfterRejection(now: Double) throws -> String? {
        guard now - issuedAt >= Self.minimumAge else { return nil }
        return try issue(now: now)
    }

    mutating func issue(now: Double) throws -> String {
        struct Claims: Encodable {
            let iss: String
            let iat: Int
        }
        let t = try JWT.es256(kid: credentials.keyID, claims: Claims(iss: credentials.teamID, iat: Int(now)), key: credentials.key)
        token = t
        issuedAt = now
        issued += 1
        return t
    }
}

public enum APNsEnvironment: String, Sendable, CaseIterable {
    case production, sandbox
    public var host: String { self == .production ? "api.push.apple.com" : "api.sandbox.push.apple.com" }
}

/// One APNs notification, as an HTTP/2 request (Apple's "Sending notification requests to APNs").
public struct APNsRequest: Sendable, Equatable {
    public enum PushType: String, Sendable { case voip, alert }
    public var deviceToken: String
    public var type: PushType
    /// The app's bundle id; VoIP pushes go to "<bundle>.voip".
    public var bundleID: String
    /// Seconds since 1970 after which APNs drops it (for calls: within the ring time).
    public var expiration: Int
    public var apnsID: UUID
    public var collapseID: String?
    public var sealed: SealedNotice

    public init(
        deviceToken: String, type: PushType, bundleID: String, expiration: Int, apnsID: UUID = UUID(), collapseID: String? = nil,
        sealed: SealedNotice
    ) throws(PushError) {
        guard deviceToken.utf8.count >= 64, deviceToken.utf8.count <= 200, deviceToken.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
            throw PushError(.badToken, "an APNs device token is hex, at least 64 digits")
        }
        guard collapseID.map({ $0.utf8.count <= 64 && $0.utf8.allSatisfy { (0x20...0x7E).contains($0) } }) ?? true else {
            throw PushError(.configuration, "apns-collapse-id is at most 64 printable ASCII characters")
        }
        self.deviceToken = deviceToken.lowercased()
        self.type = type
        self.bundleID = bundleID
        self.expiration = expiration
        self.apnsID = apnsID
        self.collapseID = collapseID
        self.sealed = sealed
    }

    public var path: String { "/3/device/\(deviceToken)" }
    public var topic: String { type == .voip ? bundleID + ".voip" : bundleID }

    /// `token`: the provider token; nil with certificate authentication (the TLS client
    /// certificate authenticates, no authorization header).
    public func headers(token: String?) -> [(String, String)] {
        var h = token.map { [("authorization", "bearer \($0)")] } ?? []
        h += [
            ("apns-push-type", type.rawValue), ("apns-topic", topic),
            // 10 for both: a call rings now, and a cancel replaces its notification now.
            ("apns-priority", "10"), ("apns-expiration", "\(expiration)"),
            ("apns-id", apnsID.uuidString.lowercased()), ("content-type", "application/json"),
        ]
        if let collapseID { h.append(("apns-collapse-id", collapseID)) }
        return h
    }

    /// VoIP: only the sealed notice (PushKit hands the whole payload to the app). Alert: a
    /// generic, content-free text and mutable-content, so the app's extension can open it.
    public var body: [UInt8] {
        let sealedJSON = sealed.jsonText
        switch type {
        case .voip: return Array("{\"trabant\":\(sealedJSON)}".utf8)
        case .alert:
            return Array("{\"aps\":{\"alert\":{\"title\":\"Call\"},\"mutable-content\":1},\"trabant\":\(sealedJSON)}".utf8)
        }
    }
}

/// What became of a push, from the provider's answer.
public enum PushOutcome: Sendable, Equatable {
    case delivered
    /// Try again later (429, 5xx); `after` is the provider's Retry-After when it gave one.
    case retry(reason: String, after: Double?)
    /// The token is dead: the directory should drop it (APNs 410/BadDeviceToken, FCM UNREGISTERED).
    case deadToken(reason: String)
    /// Our credentials were refused (renew the token and try once more, or fix the config).
    case authentication(reason: String)
    /// The request was wrong; retrying will not help.
    case rejected(status: Int, reason: String)
}

extension APNsRequest {
    /// Apple's status codes and reasons ("Handling notification responses from APNs").
    public static func outcome(status: Int, body: [UInt8], retryAfter: String?) -> PushOutcome {
        // Only a refusal has a body worth reading (200 has none): no JSON work per delivered push.
        if status == 200 { return .delivered }
        struct Reason: Decodable { let reason: String? }
        let reason = (try? JSONDecoder().decode(Reason.self, from: Data(body)))?.reason ?? "HTTP \(status)"
        switch status {
        case 410: return .deadToken(reason: reason)
        // DeviceTokenNotForTopic is not taken as dead: a wrong bundle id in the configuration
        // would otherwise drop every token of the directory.
        case 400 where ["BadDeviceToken", "Unregistered"].contains(reason):
            return .deadToken(reason: reason)
        case 403 where ["ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken"].contains(reason):
            return .authentication(reason: reason)
        case 429 where reason == "TooManyProviderTokenUpdates":
            // Someone else renewed this key's token within 20 minutes (another process, or a
            // restart without the push state directory): retrying with ours cannot help.
            return .rejected(
                status: 429,
                reason: "TooManyProviderTokenUpdates: this APNs key's token was renewed elsewhere within 20 minutes; "
                    + "let one process (with its push state directory) hold the key")
        case 429, 500...599: return .retry(reason: reason, after: RetryPolicy.seconds(retryAfter))
        default: return .rejected(status: status, reason: reason)
        }
    }
}

public struct PushError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable { case configuration, badToken, transport, proxy, provider, overloaded }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
