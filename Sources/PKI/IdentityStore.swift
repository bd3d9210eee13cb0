import Foundation

/// Where a role keeps its identity: `<directory>/<name>.key` and `<name>.crt`, both mode
/// 0600, in a directory of mode 0700. Made on first start; refused when others can read it.
public struct IdentityStore: Sendable {
    public let directory: String
    public let name: String

    public init(directory: String, name: String = "identity") {
        self.directory = directory
        self.name = name
    }

    public var keyPath: String { directory + "/" + name + ".key" }
    public var certificatePath: String { directory + "/" + name + ".crt" }

    /// The stored identity, or a new one (made and written with mode 0600) when there is none.
    public func loadOrCreate(role: String) throws(PKIError) -> (identity: Identity, created: Bool) {
        if let existing = try load() { return (existing, false) }
        let identity = try Identity.generate(role: role)
        try save(identity)
        return (identity, true)
    }

    public func load() throws(PKIError) -> Identity? {
        let fm = FileManager.default
        let haveKey = fm.fileExists(atPath: keyPath)
        let haveCert = fm.fileExists(atPath: certificatePath)
        if !haveKey && !haveCert { return nil }
        guard haveKey && haveCert else {
            throw PKIError(
                .unreadable,
                "\(haveKey ? certificatePath : keyPath) is missing while \(haveKey ? keyPath : certificatePath) exists; "
                    + "restore it, or remove both to make a new identity (peers must then pair again)")
        }
        try Self.checkPrivate(keyPath)
        let keyPEM = try Self.read(keyPath)
        let certPEM = try Self.read(certificatePath)
        do {
            return try Identity(certificatePEM: certPEM, privateKeyPEM: keyPEM)
        } catch {
            // A rotation that stopped between the key's and the certificate's rename leaves
            // the next identity beside: when it holds this key, it is the identity.
            let next = IdentityStore(directory: directory, name: name + ".next")
            if !name.hasSuffix(".next"), let n = try? next.load(), n.privateKeyPEM == keyPEM {
                try save(n)
                next.remove()
                return n
            }
            throw PKIError(error.code, "\(directory): \(error.message)")
        }
    }

    public func save(_ identity: Identity) throws(PKIError) {
        try Self.makePrivateDirectory(directory)
        try Self.writePrivate(identity.privateKeyPEM, to: keyPath)
        try Self.writePrivate(identity.certificatePEM, to: certificatePath)
    }

    /// Removes the stored identity (after a rotation committed the new one elsewhere).
    public func remove() {
        try? FileManager.default.removeItem(atPath: keyPath)
        try? FileManager.default.removeItem(atPath: certificatePath)
    }

    // MARK: files

    static func makePrivateDirectory(_ path: String) throws(PKIError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PKIError(.io, "cannot create the data directory \(path): \(error.localizedDescription)")
        }
    }

    /// Writes atomically (temporary file, then rename) with mode 0600 from the start.
    public static func writePrivate(_ text: String, to path: String) throws(PKIError) {
        // A fresh, unguessable temporary name, created exclusively (no symlink, no file that
        // someone prepared with a wider mode), forced to 0600.
        let tmp = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PKIError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw PKIError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    public static func read(_ path: String) throws(PKIError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PKIError(.unreadable, "cannot read \(path)")
        }
        return text
    }

    /// A private file must be readable by its owner only.
    public static func checkPrivate(_ path: String) throws(PKIError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw PKIError(.unreadable, "cannot stat \(path)") }
        guard st.st_mode & 0o077 == 0 else {
            throw PKIError(
                .insecurePermissions,
                "\(path) has mode \(String(st.st_mode & 0o777, radix: 8)); others may read the private key — "
                    + "run 'chmod 600 \(path)' (allowed: 0600 or 0400)")
        }
    }
}
