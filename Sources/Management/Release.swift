/// Trabant's release, exchanged on every bridge call: roles of different major releases
/// refuse each other with a message naming both.
public enum TrabantRelease {
    public static let current = "0.5.0"
    /// The metadata key that carries the caller's release on every call.
    public static let metadataKey = "trabant-release"

    /// The major number: "0.5.0" → 0, "2.1" → 2; nil when not a release string.
    public static func major(of release: String) -> Int? {
        guard let first = release.split(separator: ".").first, let n = Int(first), n >= 0 else { return nil }
        return n
    }

    /// Nil when the two may talk; else the message that refuses it.
    public static func mismatch(local: String, remote: String?, localRole: String, remoteRole: String) -> String? {
        guard let remote, !remote.isEmpty else {
            return "the \(remoteRole) sent no release (metadata '\(metadataKey)'); this \(localRole) runs Trabant \(local)"
        }
        guard let l = major(of: local), let r = major(of: remote) else {
            return "the \(remoteRole)'s release '\(remote)' is not MAJOR.MINOR.PATCH; this \(localRole) runs Trabant \(local)"
        }
        guard l == r else {
            return "release mismatch: this \(localRole) runs Trabant \(local), the \(remoteRole) runs Trabant \(remote); "
                + "major releases must match — upgrade the older side"
        }
        return nil
    }
}
