import Testing

@testable import MediaRelay

@Suite("Per-leg loss and jitter (RFC 3550 A.3, A.8)")
struct LegStatisticsTests {
    @Test func lossCountsGapsAcrossTheSequenceWrap() {
        var s = LegStatistics()
        for i in 0..<200 where i % 10 != 3 {  // every tenth packet missing
            s.observe(seq: UInt16(truncatingIfNeeded: 65500 + i), timestamp: UInt32(i * 160), now: Double(i) * 0.02)
            s.packetsReceived += 1
        }
        #expect(s.expected == 200)
        #expect(s.packetsReceived == 180)
        #expect(abs(s.lossRatio - 0.1) < 1e-9)
    }

    @Test func jitterIsZeroForEvenSpacingAndGrowsWithIrregularArrival() {
        var even = LegStatistics()
        for i in 0..<100 { even.observe(seq: UInt16(i), timestamp: UInt32(i * 160), now: Double(i) * 0.02) }
        #expect(even.jitterMilliseconds < 0.001)

        var bumpy = LegStatistics()
        for i in 0..<100 {
            let wobble = i % 2 == 0 ? 0.0 : 0.010  // every other packet 10 ms late
            bumpy.observe(seq: UInt16(i), timestamp: UInt32(i * 160), now: Double(i) * 0.02 + wobble)
        }
        #expect(bumpy.jitterMilliseconds > 5 && bumpy.jitterMilliseconds < 11)
    }

    @Test func timestampWrapIsNoJump() {
        var s = LegStatistics()
        for i in 0..<50 {
            s.observe(seq: UInt16(i), timestamp: UInt32.max &- 4000 &+ UInt32(i * 160), now: Double(i) * 0.02)
        }
        #expect(s.jitterMilliseconds < 0.001)
    }
}
