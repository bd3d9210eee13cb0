import SRTP

/// A call's core plus its sockets. Owned by one media worker: every member that changes is
/// touched only on that worker's thread.
final class CallRuntime: @unchecked Sendable {
    let worker: MediaWorker
    let core: CallCore
    let ports: [[UInt16]]
    /// Socket per leg: [RTP] or [RTP, RTCP].
    let fds: [[Int32]]
    /// Whether the sockets are IPv6 (IPv4 peers are then written as IPv4-mapped).
    let v6: Bool
    /// The worker's epoll tokens for this call's sockets.
    var tokens: [Int] = []
    var closed = false

    init(worker: MediaWorker, core: CallCore, ports: [[UInt16]], fds: [[Int32]], v6: Bool) {
        self.worker = worker
        self.core = core
        self.ports = ports
        self.fds = fds
        self.v6 = v6
    }
}
