// trabant-bench-agent: Trabant's media relay as a separate process for `trabant bench media`,
// so that its CPU time, memory and heap allocations are measured on their own. Commands
// arrive as JSON lines on stdin (Bench/AgentProtocol.swift). With LD_PRELOAD of the malloc
// interposer it also counts allocations.
import Bench
import Foundation
import Logging
import MallocInterposerSwift
import MediaRelay
import SRTP

func reply(_ r: AgentProtocol.Reply) {
    var data = (try? JSONEncoder().encode(r)) ?? Data("{\"ok\":false}".utf8)
    data.append(0x0A)
    FileHandle.standardOutput.write(data)
}

var threads = 1
var srtpBench: (packets: Int, rounds: Int)?
var range: ClosedRange<UInt16> = 30000...59999
var engine = SRTPCryptoEngine.default
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--threads": threads = Int(args.popFirst() ?? "") ?? 1
    case "--port-range":
        let p = (args.popFirst() ?? "").split(separator: "-").compactMap { UInt16($0) }
        if p.count == 2 { range = p[0]...p[1] }
    case "--engine": engine = SRTPCryptoEngine(rawValue: args.popFirst() ?? "") ?? .default
    case "--spin":
        // A CPU hog for the overload step: busy for at most the given seconds.
        let seconds = Double(args.popFirst() ?? "") ?? 60
        let end = Date().addingTimeInterval(min(seconds, 600))
        var x: UInt64 = 1
        while Date() < end {
            for _ in 0..<100_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        }
        exit(x == 0 ? 1 : 0)
    case "--srtp-bench":
        let p = (args.popFirst() ?? "").split(separator: "x").compactMap { Int($0) }
        srtpBench = (p.first ?? 100_000, p.count > 1 ? p[1] : 7)
    default:
        FileHandle.standardError.write(Data("trabant-bench-agent: unknown argument \(a)\n".utf8))
        exit(2)
    }
}

LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
let counting = ProcessInfo.processInfo.environment["LD_PRELOAD"]?.contains("MallocInterposer") == true
if counting {
    MallocInterposerSwift.initialize()
    MallocInterposerSwift.hook()
}

if let (packets, rounds) = srtpBench {
    // The relay's per-packet crypto for every engine and profile, as one JSON array.
    var results: [SRTPBench.Result] = []
    for e in SRTPCryptoEngine.available {
        for profile in SRTPProfile.allCases {
            do {
                results.append(
                    try SRTPBench.run(engine: e, profile: profile, packets: packets, rounds: rounds) { body in
                        guard counting else {
                            body()
                            return nil
                        }
                        let before = MallocInterposerSwift.getStatistics().mallocCount
                        body()
                        return MallocInterposerSwift.getStatistics().mallocCount - before
                    })
            } catch {
                FileHandle.standardError.write(Data("trabant-bench-agent: \(error)\n".utf8))
                exit(1)
            }
        }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    FileHandle.standardOutput.write(try encoder.encode(results) + Data("\n".utf8))
    exit(0)
}

let relay: MediaRelay
do {
    relay = try MediaRelay(
        configuration: RelayConfiguration(
            bindHost: "127.0.0.1", portRange: range, portQuarantine: 0, inactivityTimeout: 3600, threads: threads,
            srtpEngine: engine))
} catch {
    reply(.init(ok: false, error: "\(error)"))
    exit(1)
}
reply(.init(ok: true))

while let line = readLine() {
    guard let request = try? JSONDecoder().decode(AgentProtocol.Request.self, from: Data(line.utf8)) else {
        reply(.init(ok: false, error: "not a request: \(line.prefix(80))"))
        continue
    }
    switch request.op {
    case "create":
        do {
            guard let id = request.id, let a = request.a, let b = request.b else { throw BenchError("create needs id, a, b") }
            let info = try await relay.createCall(
                CallRequest(
                    id: id,
                    legs: [
                        LegRequest(name: "a", remote: try a.address(), remoteCrypto: try a.parameters()),
                        LegRequest(name: "b", remote: try b.address(), remoteCrypto: try b.parameters()),
                    ]))
            reply(
                .init(
                    ok: true, a: .init(address: info.legs[0].local, keys: info.legs[0].localCrypto!),
                    b: .init(address: info.legs[1].local, keys: info.legs[1].localCrypto!)))
        } catch {
            reply(.init(ok: false, error: "\(error)"))
        }
    case "delete":
        do {
            try await relay.closeCall(request.id ?? "")
            reply(.init(ok: true))
        } catch {
            reply(.init(ok: false, error: "\(error)"))
        }
    case "allocations":
        reply(.init(ok: true, allocations: counting ? MallocInterposerSwift.getStatistics().mallocCount : nil))
    case "quit":
        await relay.shutdown()
        reply(.init(ok: true))
        exit(0)
    default:
        reply(.init(ok: false, error: "unknown op \(request.op); allowed: create, delete, allocations, quit"))
    }
}
await relay.shutdown()
