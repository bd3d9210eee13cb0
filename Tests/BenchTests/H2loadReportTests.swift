import Testing

@testable import Bench

/// The lines of h2load's summary `bench push --breakdown` reads, short and long runs alike.
@Suite("Bench: h2load's summary")
struct H2loadReportTests {
    @Test(arguments: [("3.90s", 3.90), ("17.79ms", 0.01779), ("950us", 0.00095)])
    func durationsInAnyUnit(_ text: String, _ seconds: Double) throws {
        let report = try #require(H2loadReport("""
            finished in \(text), 25627.24 req/s, 1.22MB/s
            requests: 300 total, 300 started, 300 done, 299 succeeded, 1 failed, 0 errored, 0 timeout
            status codes: 299 2xx, 0 3xx, 1 4xx, 0 5xx
            """))
        #expect(abs(report.seconds - seconds) < 1e-9)
        #expect(report.perSecond == 25627.24)
        #expect(report.ok == 299)
    }

    @Test func somethingElseIsNotAReport() {
        #expect(H2loadReport("") == nil)
        #expect(H2loadReport("finished in soon, fast req/s\nstatus codes: many 2xx") == nil)
    }
}
