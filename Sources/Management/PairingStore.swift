import Foundation
import PKI
import Synchronization

/// The server a satellite is paired with, as persisted (`paired-server.json`, mode 0600).
public struct PairedServer: Codable, Sendable, Equatable {
    /// The keys accepted: the server's current one, plus its next one during a rotation.
    public var fingerprints: [Fingerprint]
    /// The source address the server paired from; connections from elsewhere are closed.
    public var address: String
    public var name: String
    public var pairedAt: Date
}

/// A pairing code as issued (`pairing-code.json`, mode 0600): single use, expiring; a source
/// address is shut out after a few wrong proofs, and the code is burnt after many in all.
struct IssuedCode: Codable, Sendable {
    var code: String
    var expiresAt: Date
    var failures: Int
    /// Wrong proofs per source address (absent in files written before it existed).
    var failuresBySource: [String: Int]?
}

/// How an unpaired satellite accepts its server.
public enum PairingMode: String, Sendable, CaseIterable {
    /// A one-time code shown locally, proven bound to both keys (the default).
    case code
    /// The source document's behaviour: the first server to ask is trusted. Off by default.
    case trustOnFirstUse = "trust-on-first-use"
}

/// The satellite's pairing state in its data directory. Both the running satellite and the
/// local commands (`pairing-code`, `unpair`) use it; the files are the truth, so a change
/// made by a command is seen by the running satellite at its next look.
public final class PairingStore: Sendable {
    public let directory: String
    /// One change at a time in this process (concurrent Pair calls, the reload poll).
    let lock = Mutex(())
    /// Wrong proofs one source address may make against a code; then that address is refused
    /// for this code, while the server at its own address can still pair (one noisy host in
    /// the known networks cannot burn the operator's code).
    public static let maxFailuresPerSource = 5
    /// Wrong proofs a code survives in all; then it is burnt and a new one must be shown
    /// locally. (Guessing 100 bits in 50 tries is hopeless; the bound keeps it that way.)
    public static let maxFailures = 50

    public init(directory: String) {
        self.directory = directory
    }

    var pairedPath: String { directory + "/paired-server.json" }
    var codePath: String { directory + "/pairing-code.json" }

    // MARK: paired server

    public func paired() throws(PairingError) -> PairedServer? {
        guard FileManager.default.fileExists(atPath: pairedPath) else { return nil }
        return try read(PairedServer.self, pairedPath)
    }

    public func save(_ server: PairedServer) throws(PairingError) {
        try lock.withLock { _ throws(PairingError) in try write(server, pairedPath) }
    }

    /// Forgets the server (run locally only): the satellite is open for pairing again.
    public func unpair() throws(PairingError) -> PairedServer? {
        try lock.withLock { _ throws(PairingError) in try unpairLocked() }
    }

    func unpairLocked() throws(PairingError) -> PairedServer? {
        let was = try paired()
        if was != nil {
            do {
                try FileManager.default.removeItem(atPath: pairedPath)
            } catch {
                throw PairingError(.io, "cannot remove \(pairedPath): \(error.localizedDescription)")
            }
        }
        return was
    }

    // MARK: codes

    /// The code to show: the valid one, or a fresh one (persisted) when there is none or it
    /// expired. Nil when paired.
    public func codeToShow(now: Date = Date(), ttl: Double) throws(PairingError) -> (code: PairingCode, expires: Date)? {
        try lock.withLock { _ throws(PairingError) in try codeToShowLocked(now: now, ttl: ttl) }
    }

    func codeToShowLocked(now: Date, ttl: Double) throws(PairingError) -> (code: PairingCode, expires: Date)? {
        guard try paired() == nil else { return nil }
        if let issued = try issued(), issued.expiresAt > now, let code = try? PairingCode(typed: issued.code) {
            return (code, issued.expiresAt)
        }
        let code = PairingCode.random()
        let expires = now.addingTimeInterval(ttl)
        try write(IssuedCode(code: code.symbols, expiresAt: expires, failures: 0), codePath)
        return (code, expires)
    }

    func issued() throws(PairingError) -> IssuedCode? {
        guard FileManager.default.fileExists(atPath: codePath) else { return nil }
        return try read(IssuedCode.self, codePath)
    }

    /// Checks a Pair request's proof against the issued code and the keys this satellite saw.
    /// On success the code is used up and the server persisted; returns the code for the
    /// confirmation (nil in trust-on-first-use mode).
    public func pair(
        proof: [UInt8], satellite: Fingerprint, server: Fingerprint, address: String, name: String,
        mode: PairingMode, now: Date = Date()
    ) throws(PairingError) -> PairingCode? {
        try lock.withLock { _ throws(PairingError) in
            try pairLocked(proof: proof, satellite: satellite, server: server, address: address, name: name, mode: mode, now: now)
        }
    }

    func pairLocked(
        proof: [UInt8], satellite: Fingerprint, server: Fingerprint, address: String, name: String,
        mode: PairingMode, now: Date
    ) throws(PairingError) -> PairingCode? {
        if let existing = try paired() {
            throw PairingError(
                .alreadyPaired,
                "this satellite is paired with \(existing.name) (\(existing.fingerprints.first?.hex.prefix(16) ?? "?")…) "
                    + "since \(existing.pairedAt); pairing again needs 'trabant satellite unpair' run on the satellite")
        }
        var code: PairingCode?
        if mode == .code || !proof.isEmpty {
            guard var issued = try issued(), let c = try? PairingCode(typed: issued.code) else {
                throw PairingError(
                    .noCode, "no pairing code is open; show one on the satellite with 'trabant satellite pairing-code'")
            }
            guard issued.expiresAt > now else {
                removeCode()
                throw PairingError(.expired, "the pairing code expired; show a new one with 'trabant satellite pairing-code'")
            }
            let fromHere = issued.failuresBySource?[address] ?? 0
            guard fromHere < Self.maxFailuresPerSource else {
                throw PairingError(
                    .wrongProof,
                    "\(Self.maxFailuresPerSource) wrong pairing proofs came from \(address): it may not try this code again "
                        + "(the server at another address still can; or show a new code with 'trabant satellite pairing-code')")
            }
            guard PairingCode.equalInConstantTime(c.proof(satellite: satellite, server: server), proof) else {
                issued.failures += 1
                issued.failuresBySource = (issued.failuresBySource ?? [:]).merging([address: fromHere + 1]) { _, new in new }
                if issued.failures >= Self.maxFailures {
                    removeCode()
                    throw PairingError(
                        .wrongProof,
                        "wrong pairing proof (wrong code, or a man in the middle); \(Self.maxFailures) failures in all burnt the code — "
                            + "show a new one with 'trabant satellite pairing-code'")
                }
                try write(issued, codePath)
                throw PairingError(
                    .wrongProof,
                    "wrong pairing proof: the code is wrong, or the connection is intercepted "
                        + "(\(Self.maxFailuresPerSource - fromHere - 1) attempts left for this code from \(address))")
            }
            code = c
        }
        removeCode()
        try write(PairedServer(fingerprints: [server], address: address, name: name, pairedAt: now), pairedPath)
        return code
    }

    func removeCode() {
        try? FileManager.default.removeItem(atPath: codePath)
    }

    // MARK: files

    func read<T: Decodable>(_ type: T.Type, _ path: String) throws(PairingError) -> T {
        do {
            try IdentityStore.checkPrivate(path)
            let text = try IdentityStore.read(path)
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch let e as PKIError {
            throw PairingError(.io, e.message)
        } catch {
            throw PairingError(.io, "\(path) is not readable pairing state: \(error)")
        }
    }

    func write<T: Encodable>(_ value: T, _ path: String) throws(PairingError) {
        do {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try IdentityStore.writePrivate(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n", to: path)
        } catch let e as PKIError {
            throw PairingError(.io, e.message)
        } catch {
            throw PairingError(.io, "cannot write \(path): \(error)")
        }
    }
}
