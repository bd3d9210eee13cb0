import Foundation
import Testing

@testable import Bench

/// The benchmark's machinery end to end at a trivial load (no figure is asserted, only that
/// every packet went through and the relay's allocations were counted).
@Suite("bench media machinery", .serialized)
struct MediaBenchSmokeTests {
    static var buildDirectory: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("trabant-bench-agent").path),
            dir.path != "/"
        {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    @Test func fewCallsThroughTheAgentRelay() throws {
        let dir = Self.buildDirectory
        let so = dir.appendingPathComponent("libMallocInterposerSwift.so").path
        let relay = TrabantAgentRelay(
            executable: dir.appendingPathComponent("trabant-bench-agent"), portRange: "64500-64999", engine: "boringssl",
            preload: FileManager.default.fileExists(atPath: so) ? so : nil)
        var options = MediaBench.Options(calls: [5])
        options.refine = 0
        options.warmup = 0.5
        options.duration = 1.5
        options.maxLoad = 1000
        options.sockets = 4
        options.generatorCPU = nil
        let summary = try MediaBench.sweep(relay: relay, options: options) { _ in }
        let step = try #require(summary.steps.first)
        #expect(step.generator.sentInWindow > 0)
        #expect(step.generator.receivedInWindow == step.generator.sentInWindow)
        #expect(step.generator.silentStreams == 0)
        #expect(step.allocationsPerPacket != nil, "the agent counts allocations when the interposer is preloaded")
    }
}
