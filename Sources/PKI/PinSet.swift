import Synchronization

/// The keys a role currently trusts for a peer, shared by the listeners that check them and
/// the code that changes them (pairing, rotation, unpairing). Empty: not paired.
public final class PinSet: Sendable {
    private let pins: Mutex<Set<Fingerprint>>

    public init(_ initial: Set<Fingerprint> = []) {
        pins = Mutex(initial)
    }

    public var current: Set<Fingerprint> { pins.withLock { $0 } }
    public var isEmpty: Bool { pins.withLock { $0.isEmpty } }

    public func replace(with new: Set<Fingerprint>) { pins.withLock { $0 = new } }
    public func contains(_ f: Fingerprint) -> Bool { pins.withLock { $0.contains(f) } }
}
