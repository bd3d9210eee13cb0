import CTrabantNet
import MediaRelay
import SRTP

/// The media load generator: S sockets on 127.0.0.1 carrying any number of SRTP streams,
/// paced globally (stream k gets rate/streams packets per second, evenly spaced), sent with
/// sendmmsg and received with recvmmsg on one thread. Packets are protected as they are sent
/// (BoringSSL, ~0.2 µs each); received packets are identified by SSRC and sequence number
/// in the clear header, so loss and one-way latency are exact without decrypting.
public final class LoadGenerator {
    struct Stream {
        var socket: Int
        var destination: tn_addr
        var context: SRTPContext
        var ssrc: UInt32
        var seq: UInt16 = 0
    }

    public struct Result: Sendable, Codable {
        public var targetPacketsPerSecond: Double
        public var sentPacketsPerSecond: Double
        public var deliveredPacketsPerSecond: Double
        public var sentInWindow: UInt64
        public var receivedInWindow: UInt64
        public var lossRatio: Double
        public var latencyMicroseconds: [String: Double]
        public var meanLatencyFirstHalfMicroseconds: Double
        public var meanLatencySecondHalfMicroseconds: Double
        public var silentStreams: Int
        public var protectFailures: Int
        /// The worst stream's delivered/sent ratio in the window: 0 means a starved stream.
        public var worstStreamDeliveryRatio: Double
    }

    let fds: [Int32]
    let addresses: [MediaAddress]
    static let payloadBytes = 160
    static let historyPerStream = 1024
    static let ssrcBase: UInt32 = 0x5000_0000

    init(sockets: Int) throws {
        var fds: [Int32] = []
        var addresses: [MediaAddress] = []
        for _ in 0..<sockets {
            var local = tn_addr(hi: 0, lo: 0x7F00_0001, port: 0, v6: 0)
            let fd = tn_bind(&local, 8 << 20, 8 << 20)
            let port = fd >= 0 ? UInt16(max(0, tn_local_port(fd))) : 0
            guard fd >= 0 else {
                for f in fds { _ = tn_close(f) }
                throw BenchError("load generator: cannot bind a UDP socket on 127.0.0.1 (errno \(-fd))")
            }
            fds.append(fd)
            addresses.append(MediaAddress(ipv4: (127, 0, 0, 1), port: port))
        }
        self.fds = fds
        self.addresses = addresses
    }

    deinit { for f in fds { _ = tn_close(f) } }

    static func address(_ a: MediaAddress) -> tn_addr {
        tn_addr(hi: a.high, lo: a.low, port: a.port, v6: a.isIPv6 ? 1 : 0)
    }

    /// Sends `rate` packets per second over `streams` for `warmup + duration` seconds, then
    /// keeps receiving for `drain` seconds. Measures the `duration` window only.
    func run(streams: inout [Stream], rate: Double, warmup: Double, duration: Double, drain: Double) -> Result {
        let n = streams.count
        precondition(n > 0)
        let start = tn_now_ns()
        let windowStart = start + UInt64(warmup * 1e9)
        let windowEnd = windowStart + UInt64(duration * 1e9)
        let stopReceiving = windowEnd + UInt64(drain * 1e9)
        let slot = 256
        let batch = 64
        // Per-socket send batches.
        let sendBuffers = UnsafeMutableRawBufferPointer.allocate(byteCount: fds.count * batch * slot, alignment: 16)
        sendBuffers.initializeMemory(as: UInt8.self, repeating: 0)
        defer { sendBuffers.deallocate() }
        var outs = [tn_msg](repeating: tn_msg(), count: fds.count * batch)
        var sources = [tn_addr](repeating: tn_addr(), count: batch)
        var pending = [Int](repeating: 0, count: fds.count)
        var recvBuffer = [UInt8](repeating: 0, count: batch * 2048)
        var lens = [UInt32](repeating: 0, count: batch)
        var sentAt = [UInt64](repeating: 0, count: n * Self.historyPerStream)
        var receivedPerStream = [UInt32](repeating: 0, count: n)
        var sentInWindowPerStream = [UInt32](repeating: 0, count: n)
        var receivedInWindowPerStream = [UInt32](repeating: 0, count: n)
        var histogram = LatencyHistogram()
        var firstHalf = (sum: 0.0, count: 0.0)
        var secondHalf = (sum: 0.0, count: 0.0)
        let mid = windowStart + (windowEnd - windowStart) / 2
        var sent: UInt64 = 0
        var sentInWindow: UInt64 = 0
        var receivedInWindow: UInt64 = 0
        var protectFailures = 0
        let epfd = tn_epoll_create()
        defer { _ = tn_close(epfd) }
        for (i, fd) in fds.enumerated() { _ = tn_epoll_add(epfd, fd, UInt64(i)) }
        var ready = [UInt64](repeating: 0, count: 256)
        let nsPerPacket = 1e9 / rate

        func flush(_ s: Int) {
            guard pending[s] > 0 else { return }
            // What does not fit the socket's send buffer is lost, as on a real network.
            outs.withUnsafeBufferPointer { o in
                _ = tn_send_many(fds[s], 0, o.baseAddress! + s * batch, UInt32(pending[s]))
            }
            pending[s] = 0
        }

        while true {
            let now = tn_now_ns()
            if now >= stopReceiving { break }
            // Send what is due (only until the window ends).
            if now < windowEnd {
                let due = UInt64(Double(now - start) / nsPerPacket)
                var budget = 2048
                while sent < due && budget > 0 {
                    let k = Int(sent % UInt64(n))
                    let s = streams[k].socket
                    if pending[s] == batch { flush(s) }
                    let index = s * batch + pending[s]
                    streams[k].seq &+= 1
                    let seq = streams[k].seq
                    let ssrc = streams[k].ssrc
                    let length: Int = {
                        let buf = UnsafeMutableRawBufferPointer(rebasing: sendBuffers[(index * slot)..<((index + 1) * slot)])
                        buf[0] = 0x80
                        buf[1] = 0
                        buf[2] = UInt8(seq >> 8)
                        buf[3] = UInt8(seq & 0xFF)
                        let ts = UInt32(seq) &* 160
                        buf[4] = UInt8(ts >> 24)
                        buf[5] = UInt8((ts >> 16) & 0xFF)
                        buf[6] = UInt8((ts >> 8) & 0xFF)
                        buf[7] = UInt8(ts & 0xFF)
                        buf[8] = UInt8(ssrc >> 24)
                        buf[9] = UInt8((ssrc >> 16) & 0xFF)
                        buf[10] = UInt8((ssrc >> 8) & 0xFF)
                        buf[11] = UInt8(ssrc & 0xFF)
                        for i in 12..<(12 + Self.payloadBytes) { buf[i] = 0xD5 }
                        switch streams[k].context.protectRTP(buf, length: 12 + Self.payloadBytes) {
                        case .ok(let len): return len
                        case .dropped: return 0
                        }
                    }()
                    sent += 1
                    budget -= 1
                    guard length > 0 else {
                        protectFailures += 1
                        continue
                    }
                    let t = tn_now_ns()
                    sentAt[k * Self.historyPerStream + Int(seq) % Self.historyPerStream] = t
                    if t >= windowStart && t < windowEnd {
                        sentInWindow += 1
                        sentInWindowPerStream[k] &+= 1
                    }
                    outs[index] = tn_msg(
                        buf: sendBuffers.baseAddress! + index * slot, len: UInt32(length), addr: streams[k].destination)
                    pending[s] += 1
                }
                for s in pending.indices where pending[s] > 0 { flush(s) }
            }
            // Receive whatever is ready.
            let readyCount = Int(tn_epoll_wait(epfd, &ready, Int32(ready.count), now < windowEnd ? 0 : 1))
            for r in 0..<max(0, readyCount) {
                let fd = fds[Int(ready[r])]
                for _ in 0..<16 {
                    let got = recvBuffer.withUnsafeMutableBufferPointer { b in
                        Int(tn_recv_many(fd, b.baseAddress!, 2048, UInt32(batch), &lens, &sources))
                    }
                    if got <= 0 { break }
                    let t = tn_now_ns()
                    recvBuffer.withUnsafeBytes { b in
                        for i in 0..<got where lens[i] >= 12 {
                            let p = b.baseAddress! + i * 2048
                            let seq = Int(p.load(fromByteOffset: 2, as: UInt8.self)) << 8
                                | Int(p.load(fromByteOffset: 3, as: UInt8.self))
                            var ssrc: UInt32 = 0
                            for j in 8..<12 { ssrc = ssrc << 8 | UInt32(p.load(fromByteOffset: j, as: UInt8.self)) }
                            let k = Int(ssrc &- Self.ssrcBase)
                            guard k >= 0 && k < n else { continue }
                            let slotIndex = k * Self.historyPerStream + seq % Self.historyPerStream
                            let sentTime = sentAt[slotIndex]
                            guard sentTime != 0 else { continue }
                            sentAt[slotIndex] = 0
                            receivedPerStream[k] &+= 1
                            if sentTime >= windowStart && sentTime < windowEnd {
                                receivedInWindow += 1
                                receivedInWindowPerStream[k] &+= 1
                                let us = Int((t - sentTime) / 1000)
                                histogram.record(microseconds: us)
                                if sentTime < mid {
                                    firstHalf.sum += Double(us)
                                    firstHalf.count += 1
                                } else {
                                    secondHalf.sum += Double(us)
                                    secondHalf.count += 1
                                }
                            }
                        }
                    }
                    if got < batch { break }
                }
            }
        }
        let loss = sentInWindow == 0 ? 1 : 1 - Double(receivedInWindow) / Double(sentInWindow)
        return Result(
            targetPacketsPerSecond: rate,
            sentPacketsPerSecond: Double(sentInWindow) / duration,
            deliveredPacketsPerSecond: Double(receivedInWindow) / duration,
            sentInWindow: sentInWindow, receivedInWindow: receivedInWindow, lossRatio: max(0, loss),
            latencyMicroseconds: [
                "p50": histogram.percentile(0.5), "p99": histogram.percentile(0.99),
                "p999": histogram.percentile(0.999), "max": histogram.percentile(1),
            ],
            meanLatencyFirstHalfMicroseconds: firstHalf.count > 0 ? firstHalf.sum / firstHalf.count : 0,
            meanLatencySecondHalfMicroseconds: secondHalf.count > 0 ? secondHalf.sum / secondHalf.count : 0,
            silentStreams: receivedPerStream.filter { $0 == 0 }.count,
            protectFailures: protectFailures,
            worstStreamDeliveryRatio: zip(sentInWindowPerStream, receivedInWindowPerStream).map {
                $0 == 0 ? 1 : Double($1) / Double($0)
            }.min() ?? 0)
    }
}
