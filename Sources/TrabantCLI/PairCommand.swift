import ArgumentParser
import Foundation
import Management
import PKI

/// Pairs this server with a satellite that shows a pairing code.
struct PairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Pair this server with a satellite (its code from 'trabant satellite pairing-code').")

    @Option(help: "The satellite's bridge: HOST[:PORT] (port 3280 by default), an IP address.")
    var satellite: String

    @Option(help: "The pairing code the satellite shows (XXXXX-XXXXX-XXXXX-XXXXX).")
    var code: String?

    @Flag(help: "Pair without a code, with a satellite in trust-on-first-use mode (unsafe).")
    var trustOnFirstUse = false

    @Option(help: "A name for the satellite (default: its address).")
    var name: String?

    @Option(help: "This server's data directory (its identity and list of satellites).")
    var dataDir: String = "./trabant-data"

    func run() async throws {
        do {
            let (host, port) = try SatelliteRegistry.parseAddress(satellite)
            let pairingCode: PairingCode?
            switch (code, trustOnFirstUse) {
            case (let c?, false): pairingCode = try PairingCode(typed: c)
            case (nil, true):
                pairingCode = nil
                FileHandle.standardError.write(Data("trabant: WARNING: pairing without a code trusts whatever answers at \(host):\(port)\n".utf8))
            default: throw ValidationError("give --code CODE (or, for a satellite in trust-on-first-use mode, --trust-on-first-use)")
            }
            let identity = try IdentityStore(directory: dataDir).loadOrCreate(role: "server").identity
            let client = try BridgeClient(host: host, port: port, identity: identity, satellitePins: [])
            let (key, release) = try await client.pair(code: pairingCode, serverName: ProcessInfo.processInfo.hostName)
            let record = SatelliteRecord(
                name: name ?? "\(host):\(port)", host: host, port: port, fingerprints: [key], pairedAt: Date(), release: release)
            try SatelliteRegistry(directory: dataDir).upsert(record)
            await client.close()
            print("paired with \(record.name) (Trabant \(release))")
            print("satellite key: \(key.shortCode)  (\(key.hex)) — compare with what the satellite shows")
            print("server key:    \(identity.fingerprint.shortCode)")
        } catch let e as PairingError {
            FileHandle.standardError.write(Data("trabant: \(e.message)\n".utf8))
            throw ExitCode(1)
        } catch let e as BridgeClientError {
            FileHandle.standardError.write(Data("trabant: pairing failed: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The server's paired satellites: list, watch, rotate keys.
struct SatellitesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "satellites", abstract: "The paired satellites: list them, watch one, rotate keys.",
        subcommands: [SatellitesListCommand.self, SatellitesWatchCommand.self, RotateSatelliteKeyCommand.self,
            RotateServerKeyCommand.self],
        defaultSubcommand: SatellitesListCommand.self)
}

/// Lists the paired satellites with their state, asked over the bridge.
struct SatellitesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the paired satellites and whether they answer.")

    @Option(help: "This server's data directory.")
    var dataDir: String = "./trabant-data"

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func run() async throws {
        let records: [SatelliteRecord]
        let identity: Identity
        do {
            records = try SatelliteRegistry(directory: dataDir).all()
            identity = try IdentityStore(directory: dataDir).loadOrCreate(role: "server").identity
        } catch {
            FileHandle.standardError.write(Data("trabant: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if records.isEmpty && !json { print("no satellites paired (trabant pair --satellite HOST --code CODE)") }
        if !json && !records.isEmpty {
            print("NAME".padding(24) + "ADDRESS".padding(24) + "STATE".padding(10) + "CALLS".padding(7) + "RELEASE".padding(10) + "KEY")
        }
        for r in records {
            let state: String
            var calls = "-"
            var release = r.release
            var detail = ""
            do {
                let client = try BridgeClient(host: r.host, port: r.port, identity: identity, satellitePins: Set(r.fingerprints))
                let s = try await client.status()
                await client.close()
                state = s.draining ? "draining" : "online"
                calls = "\(s.activeCalls)"
                release = s.release
            } catch {
                state = "offline"
                detail = "\(error)"
            }
            if json {
                let obj: [String: Any] = [
                    "name": r.name, "host": r.host, "port": r.port, "state": state, "calls": Int(calls) ?? -1,
                    "release": release, "fingerprint": r.fingerprints.first?.hex ?? "", "error": detail,
                ]
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(r.name.padding(24) + "\(r.host):\(r.port)".padding(24) + state.padding(10) + calls.padding(7)
                    + release.padding(10) + (r.fingerprints.first?.shortCode ?? "?"))
                if !detail.isEmpty { print("  \(detail)") }
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

/// Options of the commands that act on one paired satellite.
struct ServerSideOptions: ParsableArguments {
    @Option(help: "This server's data directory.")
    var dataDir: String = "./trabant-data"

    func registry() -> SatelliteRegistry { SatelliteRegistry(directory: dataDir) }

    func identity() throws -> Identity {
        try IdentityStore(directory: dataDir).loadOrCreate(role: "server").identity
    }

    func record(_ name: String) throws -> SatelliteRecord {
        let all = try registry().all()
        guard let r = all.first(where: { $0.name == name }) else {
            throw ValidationError("no paired satellite '\(name)'; paired: \(all.map(\.name).joined(separator: ", "))")
        }
        return r
    }
}

/// Follows one satellite's events (JSON lines), reconnecting with backoff, until interrupted.
struct SatellitesWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print a satellite's security and call events as JSON lines (reconnects by itself).")

    @Argument(help: "The satellite's name (see 'trabant satellites').")
    var name: String

    @OptionGroup var options: ServerSideOptions

    func run() async throws {
        let link = SatelliteLink(record: try options.record(name), identity: try options.identity()) { e in
            let obj: [String: Any] = [
                "time": e.unixTime, "category": e.category, "kind": e.kind, "source": e.source, "detail": e.detail,
                "call_id": e.callID,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        await link.run()
    }
}

/// Rotates a satellite's key over the pinned channel.
struct RotateSatelliteKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key", abstract: "Give a satellite a new key; its old key is destroyed once the new one answers.")

    @Argument(help: "The satellite's name.")
    var name: String

    @OptionGroup var options: ServerSideOptions

    func run() async throws {
        do {
            let r = try await KeyRotation.rotateSatellite(try options.record(name), server: try options.identity(), registry: options.registry())
            print("\(name): new satellite key \(r.fingerprints.first?.shortCode ?? "?")")
        } catch let e as BridgeClientError {
            FileHandle.standardError.write(Data("trabant: rotation failed: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Rotates this server's own key with every paired satellite.
struct RotateServerKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-server-key",
        abstract: "Give this server a new key; each satellite revokes the old one when the new one confirms.")

    @OptionGroup var options: ServerSideOptions

    func run() async throws {
        do {
            let (identity, confirmed, pending) = try await KeyRotation.rotateServer(
                store: IdentityStore(directory: options.dataDir), registry: options.registry())
            print("new server key \(identity.fingerprint.shortCode); confirmed by: \(confirmed.joined(separator: ", "))")
            for (name, why) in pending.sorted(by: { $0.key < $1.key }) {
                print("pending \(name): \(why) — it accepts both keys until confirmed; run this again when it is reachable")
            }
            if !pending.isEmpty { throw ExitCode(1) }
        } catch let e as BridgeClientError {
            FileHandle.standardError.write(Data("trabant: rotation failed: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
