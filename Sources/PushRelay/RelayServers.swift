import Foundation
import PKI
import Synchronization

/// A server the relay accepts pushes from: its key (the server's identity, mutual TLS) and
/// its own rate limit.
public struct RegisteredServer: Codable, Sendable, Equatable {
    public var name: String
    public var fingerprint: Fingerprint
    /// Pushes per second on average, and the burst above it.
    public var perSecond: Double
    public var burst: Double
    public var addedAt: Date

    public init(name: String, fingerprint: Fingerprint, perSecond: Double, burst: Double, addedAt: Date = Date()) {
        self.name = name
        self.fingerprint = fingerprint
        self.perSecond = perSecond
        self.burst = burst
        self.addedAt = addedAt
    }
}

public struct RelayError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The registered servers in the relay's data directory (`relay-servers.json`, mode 0600).
/// The running relay re-reads the file when it changes, so `trabant push-relay add-server`
/// and `remove-server` take effect at the next connection without a restart.
public final class RelayServers: Sendable {
    public let path: String
    struct Cache {
        var stamp: [Int] = []
        var servers: [RegisteredServer] = []
    }
    let cache = Mutex(Cache())

    public init(directory: String) {
        path = directory + "/relay-servers.json"
    }

    /// The servers as the file says now (re-read only when its time or size changed).
    public func current() throws(RelayError) -> [RegisteredServer] {
        // Inode, size and nanosecond time: a replaced file is seen even within one clock tick.
        var st = stat()
        let stamp = stat(path, &st) == 0
            ? [Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)] : [-1]
        if let hit = cache.withLock({ $0.stamp == stamp ? $0.servers : nil }) { return hit }
        let servers = try read()
        cache.withLock { $0 = Cache(stamp: stamp, servers: servers) }
        return servers
    }

    /// The registered server with this key. An unreadable file lets nobody in; `onError`
    /// hears why (the relay logs it).
    public func server(for fingerprint: Fingerprint, onError: (RelayError) -> Void = { _ in }) -> RegisteredServer? {
        do {
            return try current().first { $0.fingerprint == fingerprint }
        } catch {
            onError(error)
            return nil
        }
    }

    func read() throws(RelayError) -> [RegisteredServer] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else { throw RelayError("\(path): cannot be read") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let servers: [RegisteredServer]
        do {
            servers = try decoder.decode([RegisteredServer].self, from: data)
        } catch {
            throw RelayError("\(path): not a list of registered servers (\(error)); fix or remove it")
        }
        for s in servers {
            do {
                try Self.validate(s)
            } catch {
                throw RelayError("\(path): server '\(s.name)': \(error.message)")
            }
        }
        return servers
    }

    static func validate(_ server: RegisteredServer) throws(RelayError) {
        guard !server.name.isEmpty, server.name.count <= 64,
            server.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else { throw RelayError("--name: 1 to 64 letters, digits, '-', '_' or '.'") }
        guard server.perSecond.isFinite, server.perSecond >= 0.001, server.perSecond <= 100_000 else {
            throw RelayError("--per-second: from 0.001 to 100000")
        }
        guard server.burst.isFinite, server.burst >= 1, server.burst <= 1_000_000 else { throw RelayError("--burst: from 1 to 1000000") }
    }

    /// Serializes the read-modify-write of `add` and `remove` between processes.
    func locked<T>(_ body: () throws(RelayError) -> T) throws(RelayError) -> T {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw RelayError("\(path).lock: cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Registers a server (or changes its limits). Names and keys are unique.
    public func add(_ server: RegisteredServer) throws(RelayError) {
        try Self.validate(server)
        try locked { () throws(RelayError) in
            var all = try read()
            if let other = all.first(where: { $0.fingerprint == server.fingerprint && $0.name != server.name }) {
                throw RelayError("that key is already registered as '\(other.name)'")
            }
            all.removeAll { $0.name == server.name }
            all.append(server)
            try write(all.sorted { $0.name < $1.name })
        }
    }

    /// Removes a server by name; its connections are refused from the next handshake on.
    @discardableResult
    public func remove(name: String) throws(RelayError) -> Bool {
        try locked { () throws(RelayError) -> Bool in
            var all = try read()
            let before = all.count
            all.removeAll { $0.name == name }
            guard all.count != before else { return false }
            try write(all)
            return true
        }
    }

    func write(_ servers: [RegisteredServer]) throws(RelayError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try IdentityStore.writePrivate(String(decoding: try encoder.encode(servers), as: UTF8.self), to: path)
        } catch let e as PKIError {
            throw RelayError(e.message)
        } catch {
            throw RelayError("\(path): cannot be written (\(error))")
        }
    }
}
