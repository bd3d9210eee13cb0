/// A sliding replay window over packet indices (RFC 3711 §3.3.2), 128 packets wide.
///
/// `top` is the highest index accepted so far; bit k of `seen` says whether `top - k` was
/// accepted. Indices more than `size - 1` below `top` are too old and refused.
struct ReplayWindow: Sendable, Equatable {
    static let size: UInt64 = 128

    private(set) var top: UInt64 = 0
    private var seen: UInt128 = 0
    private(set) var started = false

    /// True if `index` is new and not too old.
    func isFresh(_ index: UInt64) -> Bool {
        guard started else { return true }
        if index > top { return true }
        let delta = top - index
        if delta >= Self.size { return false }
        return (seen >> delta) & 1 == 0
    }

    /// Records `index` as accepted (call only after the packet authenticated).
    mutating func accept(_ index: UInt64) {
        guard started else {
            started = true
            top = index
            seen = 1
            return
        }
        if index > top {
            let shift = index - top
            seen = shift >= Self.size ? 1 : (seen << shift) | 1
            top = index
        } else {
            seen |= UInt128(1) << (top - index)
        }
    }
}
