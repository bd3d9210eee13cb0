import ArgumentParser
import Bench
import Foundation

struct BenchPush: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Sealed VoIP pushes per second to an APNs emulator (HTTP/2 + TLS on loopback), directly and through squid.")

    @Option(help: "Pushes per measurement (after 2,000 to warm up).") var count = 100_000
    @Option(help: "Pushes in flight at once.") var concurrency = 256
    @Flag(help: "Only direct, without the squid run.") var noProxy = false
    @Flag(help: "Also time a notice sealed once (the transport without HPKE) and nghttp2's h2load as the reference client.")
    var breakdown = false
    @Flag(help: "Print JSON: {\"direct\": P, \"proxy\": P}.") var json = false

    func run() async throws {
        guard (1...10_000_000).contains(count), (1...10_000).contains(concurrency) else {
            throw ValidationError("--count must be 1 to 10,000,000 and --concurrency 1 to 10,000")
        }
        var squid: String?
        if !noProxy {
            squid = ["/usr/sbin/squid", "/usr/bin/squid"].first { FileManager.default.isExecutableFile(atPath: $0) }
            if squid == nil { throw ValidationError("squid is not installed (apt-get install squid), or pass --no-proxy") }
        }
        var h2load: String?
        if breakdown {
            h2load = ["/usr/bin/h2load", "/usr/local/bin/h2load"].first { FileManager.default.isExecutableFile(atPath: $0) }
            if h2load == nil { throw ValidationError("--breakdown needs nghttp2's h2load (apt-get install nghttp2-client)") }
        }
        let results = try await PushBench.run(count: count, concurrency: concurrency, proxy: squid, h2load: h2load)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
            return
        }
        let runs = [("direct", results.direct), ("direct_presealed", results.direct_presealed), ("proxy", results.proxy)]
        for case let (name, r?) in runs {
            print("\(name): \(Int(r.pushes_per_second)) pushes/s (\(r.sent) sent, \(r.failed) failed, \(String(format: "%.1f", r.seconds)) s, "
                + "RSS \(r.rss_bytes_start / 1_048_576) → \(r.rss_bytes_end / 1_048_576) MiB, \(r.concurrency) in flight; "
                + "CPU per push: sender \(Int(r.sender_cpu_us_per_push)) µs, emulator \(Int(r.emulator_cpu_us_per_push)) µs)")
        }
        if let r = results.h2load {
            print("h2load: \(Int(r.pushes_per_second)) requests/s (\(r.sent) sent, \(r.failed) failed, \(String(format: "%.1f", r.seconds)) s, "
                + "\(r.concurrency) in flight; CPU per request: h2load \(Int(r.client_cpu_us_per_push)) µs, emulator \(Int(r.emulator_cpu_us_per_push)) µs)")
        }
    }
}

/// The APNs emulator in its own process, for `trabant bench push` (not for operators).
struct BenchPushEmulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push-emulator", abstract: "The APNs emulator for 'bench push', in its own process.", shouldDisplay: false)

    @Option(help: "The APNs provider key (P-256 public key, PEM) the emulator accepts tokens of.") var apnsKey: String

    func run() async throws {
        try await PushBench.serveEmulator(apnsKeyPEM: apnsKey)
    }
}
