import ArgumentParser
import Bench
import Foundation

struct BenchSIP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sip",
        abstract: "SIP/TCP call setups per second through the satellite (media allocated per call), side by side "
            + "with kamailio as a stateful TCP proxy; sipp drives both.")

    @Option(help: "Call rates to try, ascending, comma-separated (stops at the first failing rate).")
    var rates = "500,1000,1500,2000,2500,3000,3500,4000"
    @Option(help: "Seconds of calls per step (calls = rate × seconds, at most --max-calls).") var seconds = 10.0
    @Option(help: "Most calls per step.") var maxCalls = 60_000
    @Option(help: "Peer to compare with: kamailio or none.") var peer = "kamailio"
    @Option(help: "First of the loopback ports the run uses (it needs 30).") var basePort = 25060
    @Option(help: "Folder of the sipp scenarios (default: Tests/Interop/sipp of this checkout).") var scenarios: String?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard ["kamailio", "none"].contains(peer) else { throw ValidationError("--peer must be kamailio or none, got '\(peer)'") }
        guard !parsedRates.isEmpty, parsedRates.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--rates must be positive integers separated by commas, got '\(rates)'")
        }
    }

    var parsedRates: [Int] { rates.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let dir = try scenarioDirectory()
        let options = SIPBench.Options(
            rates: parsedRates, seconds: seconds, maxCalls: maxCalls, scenarios: dir,
            trabant: BenchFiles.directory.appendingPathComponent("trabant"), peers: peer == "none" ? [] : [peer],
            basePort: basePort, log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        let report = try await SIPBench.run(options)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(report), as: UTF8.self))
            return
        }
        func line(_ name: String, _ s: SIPBench.Summary) -> String {
            let l = s.setup_latency_ms.map { String(format: "p50 %.1f ms, p99 %.1f ms", $0.p50, $0.p99) } ?? "-"
            let h = s.half_rate.flatMap { h in h.setup_latency_ms.map { String(format: "at %d/s: p99 %.1f ms", h.target_cps, $0.p99) } } ?? ""
            return "\(name): \(s.calls_per_second) calls/s with 0 failed (setup \(l); \(h))"
        }
        print(line("trabant", report.trabant))
        if let k = report.kamailio { print(line("kamailio", k)) }
        if let r = report.ratio { print(String(format: "ratio: %.2f", r)) }
    }

    func scenarioDirectory() throws -> URL {
        if let scenarios { return URL(fileURLWithPath: scenarios) }
        var dir = BenchFiles.directory
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("Tests/Interop/sipp")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("uac_srtp.xml").path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw ValidationError("the sipp scenarios were not found; pass --scenarios DIR (Tests/Interop/sipp of a checkout)")
    }
}
