import Foundation
import MediaRelay
import SRTP

/// `trabant bench media`: N concurrent SRTP calls through a relay at 50 packets/s per
/// direction (G.711, 172-byte RTP), swept to the highest rate with loss < 0.1 %.
public enum MediaBench {
    public struct Options: Sendable {
        public var calls: [Int]
        public var refine = 2
        public var warmup = 3.0
        public var duration = 20.0
        public var drain = 0.2
        public var sockets = 64
        /// Packets per second per call (both directions together); 100 for G.711 at 20 ms.
        public var packetsPerSecondPerCall = 100.0
        /// Wait before each step while the 1-minute load average is above this.
        public var maxLoad = 1.5
        public var maxWait = 60.0
        /// CPU the generator's thread is pinned to; nil leaves it unpinned (tests).
        public var generatorCPU: Int? = 0

        public init(calls: [Int]) { self.calls = calls }
    }

    public struct Step: Sendable, Codable {
        public var relay: String
        public var calls: Int
        public var generator: LoadGenerator.Result
        public var cpuPercent: Double
        public var rssBytes: Int
        public var bytesPerCall: Double
        public var allocationsPerPacket: Double?
        public var loadAverageBefore: Double
        public var passed: Bool
        public var failure: String?
    }

    /// The figures the issue asks for, from the best passing step.
    public struct Summary: Sendable, Codable {
        public var packets_per_second: Double
        public var calls: Int
        public var loss_ratio: Double
        public var latency_us: [String: Double]
        public var cpu_percent: Double
        public var rss_bytes: Int
        public var bytes_per_call: Double
        public var allocations_per_packet: Double?
        public var steps: [Step]
    }

    public static func sweep(relay: BenchRelay, options: Options, log: (String) -> Void) throws -> Summary {
        let generator = try LoadGenerator(sockets: options.sockets)
        try relay.start()
        defer { relay.stop() }
        // Memory per call is measured against the relay's footprint before any call existed.
        let baseline = ProcessStats.residentBytes(pid: relay.pid) ?? 0
        var steps: [Step] = []
        var best: Step?
        var lastPass = 0
        var firstFail = Int.max
        func runStep(_ calls: Int) throws -> Step {
            let step = try measure(relay: relay, generator: generator, calls: calls, options: options, baseline: baseline)
            steps.append(step)
            log(describe(step))
            if step.passed {
                if calls > (best?.calls ?? 0) { best = step }
                lastPass = max(lastPass, calls)
            } else {
                firstFail = min(firstFail, calls)
            }
            return step
        }
        for calls in options.calls.sorted() {
            if try !runStep(calls).passed { break }
        }
        var refine = options.refine
        while refine > 0 && firstFail != Int.max && firstFail - lastPass > max(10, lastPass / 50) {
            _ = try runStep((lastPass + firstFail) / 2)
            refine -= 1
        }
        guard let b = best else {
            let s = steps.first
            return Summary(
                packets_per_second: 0, calls: 0, loss_ratio: s?.generator.lossRatio ?? 1,
                latency_us: s?.generator.latencyMicroseconds ?? [:], cpu_percent: s?.cpuPercent ?? 0,
                rss_bytes: s?.rssBytes ?? 0, bytes_per_call: s?.bytesPerCall ?? 0,
                allocations_per_packet: s?.allocationsPerPacket, steps: steps)
        }
        var lat = b.generator.latencyMicroseconds
        lat["max"] = nil
        return Summary(
            packets_per_second: b.generator.deliveredPacketsPerSecond, calls: b.calls, loss_ratio: b.generator.lossRatio,
            latency_us: lat, cpu_percent: b.cpuPercent, rss_bytes: b.rssBytes, bytes_per_call: b.bytesPerCall,
            allocations_per_packet: b.allocationsPerPacket, steps: steps)
    }

    static func describe(_ s: Step) -> String {
        let g = s.generator
        return String(
            format: "%@ %5d calls: target %7.0f pps, sent %7.0f, delivered %7.0f, loss %.4f%%, p50 %.0f us, p99 %.0f us, "
                + "cpu %.1f%%, rss %.1f MiB%@ -> %@",
            s.relay, s.calls, g.targetPacketsPerSecond, g.sentPacketsPerSecond, g.deliveredPacketsPerSecond,
            g.lossRatio * 100, g.latencyMicroseconds["p50"] ?? 0, g.latencyMicroseconds["p99"] ?? 0, s.cpuPercent,
            Double(s.rssBytes) / 1_048_576,
            s.allocationsPerPacket.map { String(format: ", %.2f allocs/packet", $0) } ?? "",
            s.passed ? "pass" : "FAIL (\(s.failure ?? ""))")
    }

    /// Creates `calls` calls through the relay between the generator's sockets (streams in
    /// blocks per socket, so that sends batch well) and returns the generator's streams.
    static func makeCalls(
        _ calls: Int, relay: BenchRelay, generator: LoadGenerator, created: (BenchCall) -> Void
    ) throws -> [LoadGenerator.Stream] {
        let sockets = generator.addresses.count
        func socketFor(_ stream: Int) -> Int { stream * sockets / (calls * 2) }
        var streams: [LoadGenerator.Stream] = []
        func endpoint(_ socket: Int) -> BenchEndpoint {
            BenchEndpoint(
                address: generator.addresses[socket], keys: [.random(.aesCM128HmacSHA1_80), .random(.aesCM128HmacSHA1_80)])
        }
        for i in 0..<calls {
            let sa = socketFor(2 * i)
            let sb = socketFor(2 * i + 1)
            let call = try relay.createCall(index: i, a: endpoint(sa), b: endpoint(sb))
            created(call)
            for (socket, dest, keys, k) in [(sa, call.sendToA, call.aTx, 2 * i), (sb, call.sendToB, call.bTx, 2 * i + 1)] {
                streams.append(
                    LoadGenerator.Stream(
                        socket: socket, destination: LoadGenerator.address(dest),
                        context: try SRTPContext(profile: keys.profile, keyingMaterial: keys.keyingMaterial),
                        ssrc: LoadGenerator.ssrcBase + UInt32(k)))
            }
        }
        return streams
    }

    static func measure(
        relay: BenchRelay, generator: LoadGenerator, calls: Int, options: Options, baseline: Int
    ) throws -> Step {
        // Let the machine settle (bounded).
        let waitUntil = Date().addingTimeInterval(options.maxWait)
        while ProcessStats.loadAverage() > options.maxLoad && Date() < waitUntil { Thread.sleep(forTimeInterval: 2) }
        let loadBefore = ProcessStats.loadAverage()

        var created: [BenchCall] = []
        defer { for c in created { try? relay.deleteCall(c) } }
        var streams = try makeCalls(calls, relay: relay, generator: generator) { created.append($0) }
        let rss1 = ProcessStats.residentBytes(pid: relay.pid) ?? 0

        // Sample the relay's CPU time and allocations at the window's edges from another thread.
        let sampler = WindowSampler(relay: relay, warmup: options.warmup, duration: options.duration)
        sampler.start()
        if let cpu = options.generatorCPU { ProcessStats.pinCurrentThread(cpu: cpu) }
        let result = generator.run(
            streams: &streams, rate: Double(calls) * options.packetsPerSecondPerCall, warmup: options.warmup,
            duration: options.duration, drain: options.drain)
        let samples = sampler.finish()
        let rss2 = ProcessStats.residentBytes(pid: relay.pid) ?? rss1

        var failure: [String] = []
        if result.lossRatio >= 0.001 { failure.append(String(format: "loss %.3f%%", result.lossRatio * 100)) }
        if result.sentPacketsPerSecond < 0.99 * result.targetPacketsPerSecond { failure.append("generator could not send the target rate") }
        if result.silentStreams > 0 { failure.append("\(result.silentStreams) streams delivered nothing") }
        if result.meanLatencySecondHalfMicroseconds > 1.5 * result.meanLatencyFirstHalfMicroseconds + 2000 {
            failure.append("latency grew during the window (backlog)")
        }
        let allocs: Double? = samples.allocations.map { Double($0) / Double(max(1, result.receivedInWindow)) }
        return Step(
            relay: relay.name, calls: calls, generator: result, cpuPercent: samples.cpuSeconds / options.duration * 100,
            rssBytes: rss2, bytesPerCall: Double(max(0, max(rss1, rss2) - baseline)) / Double(max(1, calls)),
            allocationsPerPacket: allocs, loadAverageBefore: loadBefore, passed: failure.isEmpty,
            failure: failure.isEmpty ? nil : failure.joined(separator: "; "))
    }
}

/// Reads a relay's CPU time and allocation count at the start and end of the measurement window.
final class WindowSampler: @unchecked Sendable {
    private let relay: BenchRelay
    private let warmup: Double
    private let duration: Double
    private let done = DispatchSemaphore(value: 0)
    private var cpuSeconds = 0.0
    private var allocations: Int?

    init(relay: BenchRelay, warmup: Double, duration: Double) {
        self.relay = relay
        self.warmup = warmup
        self.duration = duration
    }

    func start() {
        let t = Thread { [self] in
            Thread.sleep(forTimeInterval: warmup)
            let c0 = ProcessStats.cpuSeconds(pid: relay.pid) ?? 0
            let a0 = try? relay.allocationCount()
            Thread.sleep(forTimeInterval: duration)
            let c1 = ProcessStats.cpuSeconds(pid: relay.pid) ?? 0
            let a1 = try? relay.allocationCount()
            cpuSeconds = c1 - c0
            if let a0 = a0 ?? nil, let a1 = a1 ?? nil { allocations = a1 - a0 }
            done.signal()
        }
        t.start()
    }

    func finish() -> (cpuSeconds: Double, allocations: Int?) {
        done.wait()
        return (cpuSeconds, allocations)
    }
}

extension MediaBench {
    /// The overload step: more packets than the relay can handle, then a load it can.
    public struct Overload: Sendable, Codable {
        public var calls: Int
        public var offered_pps: Double
        public var delivered_pps: Double
        public var loss_ratio: Double
        /// The worst stream's delivered share: near the mean when no stream is starved.
        public var worst_stream_delivery_ratio: Double
        public var cpu_percent: Double
        public var recovery_offered_pps: Double
        public var recovery_loss_ratio: Double
        public var recovery_worst_stream_delivery_ratio: Double
        public var recovered: Bool
    }

    /// Runs `calls` calls at `overloadFactor` × their nominal rate, then at `recoveryFactor` ×,
    /// on the same calls. With `contend`, a CPU hog shares the relay's core (a noisy
    /// neighbour), which lowers its capacity below what the generator can offer.
    public static func overload(
        relay: BenchRelay, calls: Int, overloadFactor: Double, recoveryFactor: Double, options: Options,
        spinner: URL?, log: (String) -> Void
    ) throws -> Overload {
        let generator = try LoadGenerator(sockets: options.sockets)
        try relay.start()
        defer { relay.stop() }
        var created: [BenchCall] = []
        defer { for c in created { try? relay.deleteCall(c) } }
        var streams = try makeCalls(calls, relay: relay, generator: generator) { created.append($0) }
        var hog: Process?
        if let spinner {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            p.arguments = ["-c", "1", spinner.path, "--spin", String(Int(options.warmup + options.duration) * 2 + 30)]
            try p.run()
            hog = p
        }
        defer {
            hog?.terminate()
            hog?.waitUntilExit()
        }
        if let cpu = options.generatorCPU { ProcessStats.pinCurrentThread(cpu: cpu) }
        let nominal = Double(calls) * options.packetsPerSecondPerCall
        let sampler = WindowSampler(relay: relay, warmup: options.warmup, duration: options.duration)
        sampler.start()
        let over = generator.run(
            streams: &streams, rate: nominal * overloadFactor, warmup: options.warmup, duration: options.duration,
            drain: 1)
        let cpu = sampler.finish().cpuSeconds / options.duration * 100
        log(
            String(
                format: "%@ overload: %d calls, offered %.0f pps, delivered %.0f, loss %.2f%%, worst stream %.1f%% delivered",
                relay.name, calls, over.sentPacketsPerSecond, over.deliveredPacketsPerSecond, over.lossRatio * 100,
                over.worstStreamDeliveryRatio * 100))
        let rec = generator.run(
            streams: &streams, rate: nominal * recoveryFactor, warmup: options.warmup, duration: options.duration,
            drain: 1)
        log(
            String(
                format: "%@ recovery: offered %.0f pps, delivered %.0f, loss %.3f%%, worst stream %.1f%% delivered",
                relay.name, rec.sentPacketsPerSecond, rec.deliveredPacketsPerSecond, rec.lossRatio * 100,
                rec.worstStreamDeliveryRatio * 100))
        return Overload(
            calls: calls, offered_pps: over.sentPacketsPerSecond, delivered_pps: over.deliveredPacketsPerSecond,
            loss_ratio: over.lossRatio, worst_stream_delivery_ratio: over.worstStreamDeliveryRatio, cpu_percent: cpu,
            recovery_offered_pps: rec.sentPacketsPerSecond, recovery_loss_ratio: rec.lossRatio,
            recovery_worst_stream_delivery_ratio: rec.worstStreamDeliveryRatio,
            recovered: rec.lossRatio < 0.001 && rec.silentStreams == 0)
    }
}
