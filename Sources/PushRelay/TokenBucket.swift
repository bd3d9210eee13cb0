/// A token bucket: `rate` pushes per second on average, bursts up to `burst`. Time is
/// passed in (seconds, monotonic).
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    var tokens: Double
    var last: Double

    public init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        last = now
    }

    /// The same bucket under new limits, keeping its tokens (capped at the new burst).
    public func with(rate: Double, burst: Double) -> TokenBucket {
        var b = self
        b = TokenBucket(rate: rate, burst: burst, now: last)
        b.tokens = min(tokens, burst)
        return b
    }

    /// Takes one token; when none is left, nil and how many seconds until one is.
    public mutating func take(now: Double) -> (allowed: Bool, retryAfter: Double) {
        tokens = min(burst, tokens + max(0, now - last) * rate)
        last = max(last, now)
        if tokens >= 1 {
            tokens -= 1
            return (true, 0)
        }
        return (false, (1 - tokens) / rate)
    }
}
