import ArgumentParser
import Bench
import Foundation
import SRTP
import TrabantConfig

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, side by side with the peer projects (build with -c release first).",
        subcommands: [BenchMedia.self, BenchSRTP.self, BenchSIP.self, BenchPush.self, BenchPushEmulator.self])
}

/// Files the benchmarks need next to the trabant executable.
enum BenchFiles {
    static var directory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }
    static var agent: URL { directory.appendingPathComponent("trabant-bench-agent") }
    /// The malloc interposer, preloaded into the agent to count allocations (nil if absent).
    static var interposer: String? {
        let path = directory.appendingPathComponent("libMallocInterposerSwift.so").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}

struct BenchSRTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "srtp",
        abstract: "Cost of the relay's per-packet crypto (unprotect + protect, 172-byte RTP) per engine and suite.")

    @Option(help: "Packets per round.") var packets = 100_000
    @Option(help: "Rounds (the median is reported).") var rounds = 7
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let p = Process()
        p.executableURL = BenchFiles.agent
        p.arguments = ["--srtp-bench", "\(packets)x\(rounds)"]
        var env = ProcessInfo.processInfo.environment
        if let so = BenchFiles.interposer { env["LD_PRELOAD"] = so }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        guard FileManager.default.isExecutableFile(atPath: BenchFiles.agent.path) else {
            throw ValidationError("\(BenchFiles.agent.path) is missing; build everything first: swift build -c release")
        }
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ExitCode(p.terminationStatus) }
        if json {
            print(String(decoding: data, as: UTF8.self), terminator: "")
            return
        }
        let results = try JSONDecoder().decode([SRTPBench.Result].self, from: data)
        print("engine        suite                     ns/packet (median, best)   packets/s/core  allocations/packet")
        for r in results {
            let name = r.engine.padding(toLength: 13, withPad: " ", startingAt: 0)
            let suite = r.profile.padding(toLength: 25, withPad: " ", startingAt: 0)
            print(
                name + " " + suite
                    + String(
                        format: " %8.0f %8.0f   %14.0f  %@", r.nsPerPacketMedian, r.nsPerPacketBest,
                        r.packetsPerSecondPerCore,
                        r.allocationsPerPacket.map { String(format: "%.2f", $0) } ?? "not counted"))
        }
    }
}

struct BenchMedia: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "SRTP calls through the relay at 50 packets/s per direction; the highest rate with loss < 0.1 %.")

    @Option(help: "Call counts to try, ascending, comma-separated (stops at the first failure, then bisects).")
    var calls = "250,500,750,1000,1250,1500,1750,2000"
    @Option(help: "Bisection steps between the last pass and the first failure.") var refine = 2
    @Option(help: "Measurement window per step, seconds.") var duration = 20.0
    @Option(help: "Warm-up per step, seconds (not counted).") var warmup = 3.0
    @Option(help: "SRTP engine of Trabant's relay: boringssl or swift-crypto.") var engine = SRTPCryptoEngine.default.rawValue
    @Option(help: "Wait before a step while the 1-minute load average is above this.") var maxLoad = 1.5
    @Option(help: "Also measure this peer in the same run: rtpengine (Debian's rtpengine-daemon).") var peer: String?
    @Option(help: "Also run the overload step with this many calls (0: skip).") var overload = 0
    @Option(help: "Overload: offered load as a multiple of the calls' nominal 100 packets/s.") var overloadFactor = 1.0
    @Option(help: "Overload: the load afterwards, to show recovery.") var recoveryFactor = 0.3
    @Flag(inversion: .prefixedNo, help: "Overload: share the relay's core with a CPU hog (a noisy neighbour).")
    var contend = true
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let counts = calls.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ (1...20_000).contains($0) }) else {
            throw ValidationError("--calls '\(calls)' must be a comma-separated list of numbers in 1...20000")
        }
        guard SRTPCryptoEngine(rawValue: engine) != nil else {
            throw ValidationError("--engine '\(engine)': allowed: \(SRTPCryptoEngine.available.map(\.rawValue).joined(separator: ", "))")
        }
        if let peer, peer != "rtpengine" { throw ValidationError("--peer '\(peer)': allowed: rtpengine") }
        var options = MediaBench.Options(calls: counts)
        options.refine = refine
        options.duration = duration
        options.warmup = warmup
        options.maxLoad = maxLoad
        let log: (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }

        let trabant = TrabantAgentRelay(executable: BenchFiles.agent, engine: engine, preload: BenchFiles.interposer)
        let ours = try MediaBench.sweep(relay: trabant, options: options, log: log)
        var output: [String: Any] = ["trabant": try jsonObject(ours)]
        if overload > 0 {
            let o = try MediaBench.overload(
                relay: TrabantAgentRelay(executable: BenchFiles.agent, engine: engine, preload: nil), calls: overload,
                overloadFactor: overloadFactor, recoveryFactor: recoveryFactor, options: options,
                spinner: contend ? BenchFiles.agent : nil, log: log)
            output["trabant_overload"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(o))
        }
        if peer == "rtpengine" {
            let theirs = try MediaBench.sweep(relay: RtpengineRelay(), options: options, log: log)
            output["rtpengine"] = try jsonObject(theirs)
            output["ratio"] = theirs.packets_per_second > 0 ? ours.packets_per_second / theirs.packets_per_second : 0
            if overload > 0 {
                let o = try MediaBench.overload(
                    relay: RtpengineRelay(), calls: overload, overloadFactor: overloadFactor,
                    recoveryFactor: recoveryFactor, options: options, spinner: contend ? BenchFiles.agent : nil, log: log)
                output["rtpengine_overload"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(o))
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (name, value) in output.sorted(by: { $0.key < $1.key }) {
                if let m = value as? [String: Any] {
                    print(
                        "\(name): \(m["packets_per_second"] ?? 0) packets/s (\(m["calls"] ?? 0) calls), "
                            + "cpu \(m["cpu_percent"] ?? 0) %, latency \(m["latency_us"] ?? [:]) us")
                } else {
                    print("\(name): \(value)")
                }
            }
        }
    }

    private func jsonObject(_ s: MediaBench.Summary) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(s))
    }
}
