import Foundation

/// The APNs provider token as kept in the push state directory (`apns-token.json`, mode
/// 0600), so that a restart reuses it instead of renewing within APNs' 20 minutes.
struct APNsTokenFile: Codable, Sendable, Equatable {
    var keyID: String
    var teamID: String
    var token: String
    var issuedAt: Double

    static func path(_ directory: String) -> String { directory + "/apns-token.json" }

    /// nil when there is none, or it cannot be read (then a new token is made, as without it).
    static func read(directory: String) -> APNsTokenFile? {
        guard let data = FileManager.default.contents(atPath: path(directory)) else { return nil }
        return try? JSONDecoder().decode(APNsTokenFile.self, from: data)
    }

    func write(directory: String) throws {
        let target = Self.path(directory)
        let temp = target + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let data = try JSONEncoder().encode(self)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw PushError(.configuration, "\(temp): cannot be created (\(String(cString: strerror(errno))))") }
        let ok = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) == $0.count }
        close(fd)
        guard ok, rename(temp, target) == 0 else {
            unlink(temp)
            throw PushError(.configuration, "\(target): cannot be written")
        }
    }
}
