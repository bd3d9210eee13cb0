import Foundation
import Testing

@testable import Bench

/// A few pushes through the bench's own path (emulator, HTTP/2, TLS verified), to keep
/// `trabant bench push` working; no timing is asserted.
@Suite("Bench: push smoke")
struct PushBenchSmokeTests {
    @Test func aFewPushesDirectAndThroughSquid() async throws {
        let squid = ["/usr/sbin/squid", "/usr/bin/squid"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if squid == nil, ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("squid is not installed; .ci/run installs it")
        }
        let results = try await PushBench.run(count: 40, concurrency: 8, proxy: squid)
        let direct = try #require(results["direct"])
        #expect(direct.sent == 40 && direct.failed == 0)
        #expect(direct.pushes_per_second > 0 && direct.rss_bytes_start > 0 && direct.rss_bytes_end > 0)
        if squid != nil {
            let proxy = try #require(results["proxy"])
            #expect(proxy.sent == 40 && proxy.failed == 0)
        }
        let json = String(decoding: try JSONEncoder().encode(results), as: UTF8.self)
        for key in ["pushes_per_second", "failed", "rss_bytes_start", "rss_bytes_end"] { #expect(json.contains("\"\(key)\"")) }
    }
}
