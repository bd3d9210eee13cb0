import NIOCore
import SRTP

/// A call's core plus its sockets, confined to one event loop. `@unchecked Sendable` so the
/// relay can hold it in its registry; every mutable member is touched only on `loop`.
final class CallRuntime: @unchecked Sendable {
    let loop: any EventLoop
    let core: CallCore
    let ports: [[UInt16]]
    private(set) var channels: [[any Channel]] = []
    private var pendingFlush: [Bool] = [false, false, false, false]
    private var destinations: [MediaAddress: SocketAddress] = [:]
    private(set) var closed = false
    private let clock: @Sendable () -> Double

    init(loop: any EventLoop, core: CallCore, ports: [[UInt16]], clock: @escaping @Sendable () -> Double) {
        self.loop = loop
        self.core = core
        self.ports = ports
        self.clock = clock
    }

    func attach(_ channels: [[any Channel]]) {
        loop.preconditionInEventLoop()
        self.channels = channels
    }

    func handle(_ envelope: AddressedEnvelope<ByteBuffer>, leg: Int, rtcpSocket: Bool) {
        guard !closed, !channels.isEmpty, let source = MediaAddress(envelope.remoteAddress) else { return }
        var buffer = envelope.data
        let length = buffer.readableBytes
        // Room for the largest tag the other leg's suite may add.
        buffer.writeRepeatingByte(0, count: SRTPContext.maxOverhead)
        let now = clock()
        let action = buffer.withUnsafeMutableReadableBytes {
            core.receive(leg: leg, rtcpSocket: rtcpSocket, buf: $0, length: length, from: source, now: now)
        }
        guard case .forward(let toLeg, let toRTCP, let n, let destination) = action else { return }
        buffer.moveWriterIndex(to: buffer.readerIndex + n)
        let slot = toRTCP ? 1 : 0
        let channel = channels[toLeg][slot]
        guard channel.isWritable else {
            // Shed rather than queue without bound: overload shows as proportional loss.
            core.legs[leg].stats.countDrop(.overload)
            core.legs[toLeg].stats.packetsSent &-= 1
            return
        }
        channel.write(AddressedEnvelope(remoteAddress: socketAddress(destination), data: buffer), promise: nil)
        pendingFlush[toLeg * 2 + slot] = true
    }

    func flushPending() {
        for i in pendingFlush.indices where pendingFlush[i] {
            pendingFlush[i] = false
            channels[i / 2][i % 2].flush()
        }
    }

    func socketError(_ error: any Error, leg: Int) {}

    private func socketAddress(_ address: MediaAddress) -> SocketAddress {
        if let cached = destinations[address] { return cached }
        if destinations.count > 16 { destinations.removeAll(keepingCapacity: true) }
        let made = address.socketAddress
        destinations[address] = made
        return made
    }

    /// Closes every socket of the call; completes when all are closed.
    func close() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        closed = true
        let all = channels.flatMap { $0 }
        channels = []
        return EventLoopFuture.andAllComplete(all.map { $0.close() }, on: loop)
    }
}
