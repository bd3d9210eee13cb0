import Synchronization

/// The keys a role currently trusts for a peer, shared by the listeners that check them and
/// the code that changes them (pairing, rotation, unpairing). Empty: not paired.
public final class PinSet: Sendable {
    private let pins: Mutex<Set<Fingerprint>>
    private let observers = Mutex<[@Sendable () -> Void]>([])

    public init(_ initial: Set<Fingerprint> = []) {
        pins = Mutex(initial)
    }

    public var current: Set<Fingerprint> { pins.withLock { $0 } }
    public var isEmpty: Bool { pins.withLock { $0.isEmpty } }

    /// Called when trust narrows: a pinned key is removed (revoked, unpaired), or the first
    /// pin arrives (connections made before pairing were not authenticated). Holders of
    /// connections close those made under the old trust.
    public func onNarrowed(_ body: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(body) }
    }

    public func replace(with new: Set<Fingerprint>) {
        let narrowed = pins.withLock { old -> Bool in
            defer { old = new }
            return old.isEmpty ? !new.isEmpty : !old.isSubset(of: new)
        }
        if narrowed { for o in observers.withLock({ $0 }) { o() } }
    }
    public func contains(_ f: Fingerprint) -> Bool { pins.withLock { $0.contains(f) } }
}
