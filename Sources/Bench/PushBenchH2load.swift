import Crypto
import Foundation
import Push
import PushPayload

extension PushBench {
    /// nghttp2's h2load sends `count` copies of the bench's APNs request (same headers, same
    /// sealed body, the provider token the sender made) over two connections, `concurrency`
    /// streams in all. h2load does not verify the emulator's certificate; it is the reference
    /// for what a lean HTTP/2 client and the emulator reach on this machine, not a push client.
    static func runH2load(_ h2load: String, state: String, count: Int, concurrency: Int, emulator: ChildEmulator) throws -> PeerResult {
        guard let token = APNsTokenFile.read(directory: state)?.token else {
            throw BenchError("the sender kept no APNs provider token in \(state): h2load has none to send")
        }
        let key = DevicePushKey(id: "bench", publicKey: Curve25519.KeyAgreement.PrivateKey().publicKey)
        let request = try APNsRequest(
            deviceToken: deviceToken, type: .voip, bundleID: "com.example.phone", expiration: Int(Date().timeIntervalSince1970) + 3600,
            apnsID: UUID(), collapseID: "bench", sealed: try NoticeSeal.seal(notice, to: key))
        let bodyPath = state + "/h2load-body.json"
        try Data(request.body).write(to: URL(fileURLWithPath: bodyPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: h2load)
        p.arguments =
            ["-n", "\(count)", "-c", "2", "-m", "\(max(1, concurrency / 2))", "-t", "1", "-d", bodyPath]
            + request.headers(token: token).flatMap { ["-H", "\($0.0): \($0.1)"] }
            + ["https://127.0.0.1:\(emulator.port)\(request.path)"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        let before = childUsage()
        let cpuStart = emulator.cpuSeconds
        try p.run()
        // Bounded: at most 1 ms per request and a minute more.
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(60 + count / 1000), execute: watchdog)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        watchdog.cancel()
        let cpuEnd = emulator.cpuSeconds
        let after = childUsage()
        guard p.terminationStatus == 0, let done = H2loadReport(text) else {
            throw BenchError("h2load failed (exit \(p.terminationStatus)): \(text.suffix(500))")
        }
        return PeerResult(
            pushes_per_second: done.perSecond, sent: count, failed: count - done.ok, seconds: done.seconds,
            concurrency: max(1, concurrency / 2) * 2, client_cpu_us_per_push: (after.cpu - before.cpu) / Double(count) * 1e6,
            emulator_cpu_us_per_push: (cpuEnd - cpuStart) / Double(count) * 1e6, client_max_rss_bytes: after.maxRSS)
    }

    static func childUsage() -> (cpu: Double, maxRSS: Int) {
        var u = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &u)
        let cpu = Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        return (cpu, u.ru_maxrss * 1024)
    }
}

/// The lines of h2load's summary the bench reads:
/// "finished in 3.90s, 25627.24 req/s, 1.22MB/s" and "status codes: 100000 2xx, …".
struct H2loadReport {
    var seconds: Double
    var perSecond: Double
    var ok: Int

    /// h2load's durations: "3.90s", "17.79ms", "950us".
    static func seconds(_ text: Substring) -> Double? {
        for (unit, scale) in [("ms", 1e-3), ("us", 1e-6), ("s", 1.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }

    init?(_ text: String) {
        var seconds: Double?
        var perSecond: Double?
        var ok: Int?
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "," })
            if line.hasPrefix("finished in"), words.count >= 4 {
                seconds = Self.seconds(words[2])  // "3.90s", "17.79ms"
                perSecond = Double(words[3])
            } else if line.hasPrefix("status codes:"), words.count >= 3 {
                ok = Int(words[2])
            }
        }
        guard let seconds, let perSecond, let ok else { return nil }
        self.seconds = seconds
        self.perSecond = perSecond
        self.ok = ok
    }
}
