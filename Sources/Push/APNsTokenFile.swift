import Foundation
import PKI

/// The APNs provider token as kept in the push state directory (`apns-token.json`, mode
/// 0600), so that a restart reuses it instead of renewing within APNs' 20 minutes.
public struct APNsTokenFile: Codable, Sendable, Equatable {
    public var keyID: String
    public var teamID: String
    public var token: String
    public var issuedAt: Double

    static func path(_ directory: String) -> String { directory + "/apns-token.json" }

    /// nil when there is none, or it cannot be read (then a new token is made, as without it).
    public static func read(directory: String) -> APNsTokenFile? {
        guard let data = FileManager.default.contents(atPath: path(directory)) else { return nil }
        return try? JSONDecoder().decode(APNsTokenFile.self, from: data)
    }

    func write(directory: String) throws {
        try IdentityStore.writePrivate(String(decoding: try JSONEncoder().encode(self), as: UTF8.self), to: Self.path(directory))
    }
}
