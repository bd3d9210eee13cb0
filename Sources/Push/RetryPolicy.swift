import Foundation

/// Backoff between attempts: exponential with full jitter, capped, and never sooner than the
/// provider's Retry-After.
public struct RetryPolicy: Sendable, Equatable {
    public var attempts: Int
    public var base: Double
    public var cap: Double

    public init(attempts: Int = 5, base: Double = 0.5, cap: Double = 30) {
        self.attempts = attempts
        self.base = base
        self.cap = cap
    }

    /// The wait before attempt `n` (1 = the first retry); nil when no attempt is left.
    public func delay(beforeRetry n: Int, retryAfter: Double?, random: Double = Double.random(in: 0...1)) -> Double? {
        guard n < attempts else { return nil }
        let backoff = min(cap, base * pow(2, Double(n - 1))) * random
        return max(backoff, retryAfter ?? 0)
    }

    /// Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3).
    public static func seconds(_ header: String?, now: Date = Date()) -> Double? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        if let s = Double(header), s >= 0 { return s }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: header) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
