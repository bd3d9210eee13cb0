import SRTP

/// The relay's UDP port pool over a configured range (sans-I/O; time is passed in).
///
/// Ports are handed out at random, never one in use, and never one released less than
/// `quarantine` seconds ago (late packets of an old call must not reach a new one). With
/// `pairs`, allocations are RTP/RTCP pairs: an even port and the odd one above it.
public struct PortPool: Sendable {
    public struct Exhausted: Error, Sendable, CustomStringConvertible {
        public private(set) var range: ClosedRange<UInt16>
        public let inUse: Int
        public let quarantined: Int
        public var description: String {
            "media port pool \(range.lowerBound)-\(range.upperBound) exhausted: \(inUse) ports in use, "
                + "\(quarantined) in quarantine; widen media.port_range or lower the call load"
        }
    }

    public private(set) var range: ClosedRange<UInt16>
    /// Seconds a released port stays unusable.
    public let quarantine: Double
    private var inUse: Set<UInt16> = []
    /// Released ports and the time they may be used again.
    private var quarantined: [UInt16: Double] = [:]
    /// The same releases in time order (the quarantine is constant), expired from the front.
    private var releaseOrder: [(port: UInt16, until: Double)] = []
    private var releaseHead = 0
    private var rng: any RandomNumberGenerator & Sendable
    /// Allocations refused because the pool was exhausted (a metric).
    public private(set) var exhaustedCount = 0

    public init(range: ClosedRange<UInt16>, quarantine: Double = 5, rng: any RandomNumberGenerator & Sendable = SecureRandom()) {
        self.range = range
        self.quarantine = quarantine
        self.rng = rng
    }

    /// A new range (the management bridge's ApplyConfig): new calls get ports from it;
    /// ports in use outside it stay with their calls until released, and are not handed out again.
    public mutating func setRange(_ new: ClosedRange<UInt16>) {
        range = new
    }

    public var inUseCount: Int { inUse.count }
    public var quarantinedCount: Int { quarantined.count }
    public var capacity: Int { range.count }

    /// Allocates one port (rtcp-mux) or an even/odd pair. `excluding` lets the caller skip ports
    /// the operating system refused to bind.
    public mutating func allocate(pair: Bool, now: Double, excluding: Set<UInt16> = []) throws(Exhausted) -> [UInt16] {
        expireQuarantine(now: now)
        let lo = Int(range.lowerBound)
        let hi = Int(range.upperBound)
        let span = hi - lo + 1
        let start = Int.random(in: 0..<span, using: &rng)
        for step in 0..<span {
            var port = lo + (start + step) % span
            if pair {
                if port % 2 == 1 { continue }
                guard port + 1 <= hi else { continue }
                let a = UInt16(port)
                let b = UInt16(port + 1)
                if isFree(a, excluding) && isFree(b, excluding) {
                    inUse.insert(a)
                    inUse.insert(b)
                    return [a, b]
                }
            } else {
                if port > hi { port = lo }
                let a = UInt16(port)
                if isFree(a, excluding) {
                    inUse.insert(a)
                    return [a]
                }
            }
        }
        exhaustedCount += 1
        throw Exhausted(range: range, inUse: inUse.count, quarantined: quarantined.count)
    }

    /// Returns ports to the pool; they stay in quarantine for `quarantine` seconds.
    public mutating func release(_ ports: [UInt16], now: Double) {
        for p in ports where inUse.remove(p) != nil {
            quarantined[p] = now + quarantine
            releaseOrder.append((p, now + quarantine))
        }
    }

    /// Marks ports as not handed out without quarantine (a bind that failed).
    public mutating func abandon(_ ports: [UInt16]) {
        for p in ports { inUse.remove(p) }
    }

    private func isFree(_ port: UInt16, _ excluding: Set<UInt16>) -> Bool {
        !inUse.contains(port) && quarantined[port] == nil && !excluding.contains(port)
    }

    private mutating func expireQuarantine(now: Double) {
        while releaseHead < releaseOrder.count, releaseOrder[releaseHead].until <= now {
            let (port, until) = releaseOrder[releaseHead]
            // Only if this release is still the port's latest one.
            if quarantined[port] == until { quarantined[port] = nil }
            releaseHead += 1
        }
        if releaseHead > 4096 && releaseHead * 2 > releaseOrder.count {
            releaseOrder.removeFirst(releaseHead)
            releaseHead = 0
        }
    }
}
