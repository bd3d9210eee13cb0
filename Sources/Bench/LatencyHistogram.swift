/// A latency histogram in microseconds: 1 µs buckets up to 100 ms, then 1 ms buckets up to
/// 10 s. Fixed memory, no allocation while recording.
struct LatencyHistogram {
    private var fine = [UInt32](repeating: 0, count: 100_000)
    private var coarse = [UInt32](repeating: 0, count: 10_000)
    private(set) var count: UInt64 = 0
    private(set) var sumMicroseconds: Double = 0

    mutating func record(microseconds us: Int) {
        let v = max(0, us)
        if v < 100_000 {
            fine[v] &+= 1
        } else {
            coarse[min(v / 1000, 9_999)] &+= 1
        }
        count &+= 1
        sumMicroseconds += Double(v)
    }

    var mean: Double { count == 0 ? 0 : sumMicroseconds / Double(count) }

    /// The value at quantile q (0...1), in microseconds.
    func percentile(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in fine.enumerated() where c > 0 {
            seen += UInt64(c)
            if seen >= target { return Double(i) }
        }
        for (i, c) in coarse.enumerated() where c > 0 {
            seen += UInt64(c)
            if seen >= target { return Double(i * 1000) }
        }
        return 10_000_000
    }
}
