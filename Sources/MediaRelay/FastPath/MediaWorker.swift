import CTrabantNet
import Foundation
import SRTP
import Synchronization

/// One media thread: an epoll loop over the sockets of the calls it owns, reading with
/// recvmmsg, transforming each datagram in place through the call's core, and writing the
/// result with sendmmsg. Nothing is allocated per packet.
///
/// Why not NIO datagram channels: docs/media-fast-path.md (allocations and throughput,
/// measured). Commands from the relay's API run on this thread between batches.
final class MediaWorker: @unchecked Sendable {
    /// What an epoll token stands for.
    struct Slot {
        let runtime: CallRuntime
        let leg: Int
        let rtcpSocket: Bool
        let fd: Int32
    }

    static let wakeToken: UInt64 = .max
    static let stride = 2048
    let batch: Int
    let index: Int
    private let epfd: Int32
    private let wakeFD: Int32
    private let commands = Mutex<[@Sendable () -> Void]>([])
    private let clock: @Sendable () -> Double
    private var thread: Thread?
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    // Loop-confined state.
    private var slots: [Slot?] = []
    private var freeSlots: [Int] = []
    private let rxBuffers: UnsafeMutableRawBufferPointer
    private let lens: UnsafeMutablePointer<UInt32>
    private let sources: UnsafeMutablePointer<tn_addr>
    private let outs: UnsafeMutablePointer<tn_msg>
    private let outFDs: UnsafeMutablePointer<Int32>
    private let outV6: UnsafeMutablePointer<Bool>
    private let outLegs: UnsafeMutablePointer<Int>

    init(index: Int, batch: Int, clock: @escaping @Sendable () -> Double) throws(RelayError) {
        self.index = index
        self.batch = min(batch, Int(TN_MAX_BATCH))
        self.clock = clock
        let ep = tn_epoll_create()
        let wake = tn_eventfd()
        guard ep >= 0, wake >= 0 else {
            if ep >= 0 { _ = tn_close(ep) }
            throw RelayError(.bindFailed, "media worker: cannot create epoll/eventfd (errno \(-min(ep, wake)))")
        }
        epfd = ep
        wakeFD = wake
        _ = tn_epoll_add(epfd, wakeFD, Self.wakeToken)
        rxBuffers = .allocate(byteCount: self.batch * Self.stride, alignment: 16)
        lens = .allocate(capacity: self.batch)
        sources = .allocate(capacity: self.batch)
        outs = .allocate(capacity: self.batch)
        outFDs = .allocate(capacity: self.batch)
        outV6 = .allocate(capacity: self.batch)
        outLegs = .allocate(capacity: self.batch)
    }

    deinit {
        _ = tn_close(epfd)
        _ = tn_close(wakeFD)
        rxBuffers.deallocate()
        lens.deallocate()
        sources.deallocate()
        outs.deallocate()
        outFDs.deallocate()
        outV6.deallocate()
        outLegs.deallocate()
    }

    func start() {
        let t = Thread { [self] in
            loop()
            finished.signal()
        }
        t.name = "trabant-media-\(index)"
        thread = t
        t.start()
    }

    /// Stops the loop (after running queued commands) and waits for the thread to end.
    func stop() {
        guard thread != nil else { return }
        stopped.store(true, ordering: .releasing)
        tn_eventfd_signal(wakeFD)
        finished.wait()
        thread = nil
    }

    /// Runs `body` on the worker thread and returns its result.
    /// Runs `body` on the worker thread soon, without waiting for it.
    func post(_ body: @escaping @Sendable () -> Void) {
        commands.withLock { $0.append(body) }
        tn_eventfd_signal(wakeFD)
    }

    func submit<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            commands.withLock { $0.append { continuation.resume(returning: body()) } }
            tn_eventfd_signal(wakeFD)
        }
    }

    // MARK: loop-confined operations (call only from `submit` bodies)

    func register(_ runtime: CallRuntime, fds: [[Int32]]) {
        for (leg, legFDs) in fds.enumerated() {
            for (i, fd) in legFDs.enumerated() {
                let slot = Slot(runtime: runtime, leg: leg, rtcpSocket: i == 1, fd: fd)
                let token: Int
                if let free = freeSlots.popLast() {
                    slots[free] = slot
                    token = free
                } else {
                    slots.append(slot)
                    token = slots.count - 1
                }
                runtime.tokens.append(token)
                _ = tn_epoll_add(epfd, fd, UInt64(token))
            }
        }
    }

    func unregister(_ runtime: CallRuntime) {
        for token in runtime.tokens {
            if let s = slots[token] {
                _ = tn_epoll_del(epfd, s.fd)
                _ = tn_close(s.fd)
            }
            slots[token] = nil
            freeSlots.append(token)
        }
        runtime.tokens = []
        runtime.closed = true
    }

    // MARK: the loop

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 256)
        while true {
            let n = tokens.withUnsafeMutableBufferPointer { Int(tn_epoll_wait(epfd, $0.baseAddress!, 256, 200)) }
            for i in 0..<max(0, n) {
                let token = tokens[i]
                if token == Self.wakeToken {
                    tn_eventfd_drain(wakeFD)
                    runCommands()
                } else if Int(token) < slots.count, let slot = slots[Int(token)] {
                    serve(slot)
                }
            }
            if stopped.load(ordering: .acquiring) {
                runCommands()
                return
            }
        }
    }

    private func runCommands() {
        let pending = commands.withLock { list -> [@Sendable () -> Void] in
            let l = list
            list.removeAll(keepingCapacity: true)
            return l
        }
        for c in pending { c() }
    }

    /// Reads up to a few batches from one socket, so that one busy socket cannot starve the
    /// others (level-triggered epoll brings it back next round).
    private func serve(_ slot: Slot) {
        let runtime = slot.runtime
        guard !runtime.closed else { return }
        let core = runtime.core
        for _ in 0..<4 {
            let got = Int(
                tn_recv_many(
                    slot.fd, rxBuffers.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(Self.stride),
                    UInt32(batch), lens, sources))
            guard got > 0 else { return }
            let now = clock()
            var out = 0
            for i in 0..<got {
                let buf = UnsafeMutableRawBufferPointer(start: rxBuffers.baseAddress! + i * Self.stride, count: Self.stride)
                let length = Int(lens[i])
                guard length > 0 else {
                    core.legs[slot.leg].stats.countDrop(.notRTP)  // truncated by the kernel: too large
                    continue
                }
                let source = MediaAddress(sources[i])
                let action = core.receive(
                    leg: slot.leg, rtcpSocket: slot.rtcpSocket, buf: buf, length: length, from: source, now: now)
                guard case .forward(let toLeg, let toRTCP, let n, let destination) = action else { continue }
                outs[out] = tn_msg(buf: buf.baseAddress!, len: UInt32(n), addr: destination.tnAddress)
                outFDs[out] = runtime.fds[toLeg][toRTCP ? 1 : 0]
                outV6[out] = runtime.v6
                outLegs[out] = toLeg
                out += 1
            }
            flush(count: out, core: core, fromLeg: slot.leg)
            if got < batch { return }
        }
    }

    /// Sends the queued datagrams, one sendmmsg per run of the same socket. What does not
    /// fit the socket's buffer is shed and counted as overload.
    private func flush(count: Int, core: CallCore, fromLeg: Int) {
        var start = 0
        while start < count {
            let fd = outFDs[start]
            var end = start + 1
            while end < count && outFDs[end] == fd { end += 1 }
            let sent = Int(tn_send_many(fd, outV6[start] ? 1 : 0, outs + start, UInt32(end - start)))
            let shed = (end - start) - max(0, sent)
            if shed > 0 {
                for _ in 0..<shed { core.legs[fromLeg].stats.countDrop(.overload) }
                core.legs[outLegs[start]].stats.packetsSent &-= UInt64(shed)
            }
            start = end
        }
    }
}

extension MediaAddress {
    init(_ a: tn_addr) {
        self.init(raw: a.hi, a.lo, isIPv6: a.v6 != 0, port: a.port)
    }

    var tnAddress: tn_addr { tn_addr(hi: high, lo: low, port: port, v6: isIPv6 ? 1 : 0) }
}
