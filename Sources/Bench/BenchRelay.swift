import MediaRelay
import SRTP

/// One side of a benchmark call: a generator socket and the keys it may protect with.
public struct BenchEndpoint: Sendable {
    /// Where this endpoint's socket is (it sends from and receives on it).
    public var address: MediaAddress
    /// Keys it may protect with (at least 2; relays that need only one use `keys[0]`).
    public var keys: [SRTPParameters]
}

/// What a relay set up for one call: where each side sends, and with which keys.
public struct BenchCall: Sendable {
    public var sendToA: MediaAddress
    public var sendToB: MediaAddress
    /// What A protects with (one of A's keys).
    public var aTx: SRTPParameters
    /// What A must unprotect with (the relay's key toward A).
    public var aRx: SRTPParameters
    public var bTx: SRTPParameters
    public var bRx: SRTPParameters
    /// The relay's id for the call.
    public var handle: String
}

/// A relay under test, driven the same way whichever it is (Trabant, rtpengine).
public protocol BenchRelay: AnyObject {
    var name: String { get }
    /// The relay's process: CPU time and memory are read from /proc/<pid>.
    var pid: Int32 { get }
    func start() throws
    func createCall(index: Int, a: BenchEndpoint, b: BenchEndpoint) throws -> BenchCall
    func deleteCall(_ call: BenchCall) throws
    func stop()
    /// Heap allocations the relay made so far, when it can count them.
    func allocationCount() throws -> Int?
}

extension BenchRelay {
    public func allocationCount() throws -> Int? { nil }
}
