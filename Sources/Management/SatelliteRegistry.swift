import Foundation
import PKI

/// A satellite the server paired with, as persisted in `satellites.json` (mode 0600).
public struct SatelliteRecord: Codable, Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    /// The satellite's key(s): its current one, plus its next one during a rotation.
    public var fingerprints: [Fingerprint]
    public var pairedAt: Date
    public var release: String

    public init(name: String, host: String, port: Int, fingerprints: [Fingerprint], pairedAt: Date, release: String) {
        self.name = name
        self.host = host
        self.port = port
        self.fingerprints = fingerprints
        self.pairedAt = pairedAt
        self.release = release
    }
}

/// The server's list of paired satellites in its data directory.
public struct SatelliteRegistry: Sendable {
    public let directory: String
    public var path: String { directory + "/satellites.json" }

    public init(directory: String) { self.directory = directory }

    public func all() throws(PairingError) -> [SatelliteRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try PairingStore(directory: directory).read([SatelliteRecord].self, path)
    }

    /// Adds or replaces the satellite at the same host and port.
    public func upsert(_ record: SatelliteRecord) throws(PairingError) {
        var list = try all().filter { !($0.host == record.host && $0.port == record.port) && $0.name != record.name }
        list.append(record)
        try PairingStore(directory: directory).write(list.sorted { $0.name < $1.name }, path)
    }

    public func remove(name: String) throws(PairingError) -> Bool {
        let list = try all()
        let kept = list.filter { $0.name != name }
        guard kept.count != list.count else { return false }
        try PairingStore(directory: directory).write(kept, path)
        return true
    }

    /// `HOST[:PORT]` → host and port (3280 when not given); IPv6 in brackets.
    public static func parseAddress(_ text: String) throws(PairingError) -> (host: String, port: Int) {
        var host = text
        var port = 3280
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw PairingError(.badAddress, "'\(text)': an IPv6 address goes in brackets, e.g. [2001:db8::5]:3280")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()), (1...65535).contains(p) else {
                    throw PairingError(.badAddress, "'\(text)': the port must be 1 to 65535")
                }
                port = p
            }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else {
                throw PairingError(.badAddress, "'\(text)': the port must be 1 to 65535")
            }
            port = p
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else {
            throw PairingError(
                .badAddress, "'\(text)': give the satellite's IP address (HOST[:PORT], e.g. 10.0.1.10 or [2001:db8::5]:3280)")
        }
        return (host, port)
    }
}
