import CallControl
import Foundation
import Synchronization

/// Fans the satellite's events out to every WatchEvents stream. Each subscriber keeps the
/// newest 1,000 events when it reads slower than they come; nobody blocks the publisher.
public final class EventHub: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<ControllerEvent>.Continuation]>([:])

    public init() {}

    public func publish(_ event: ControllerEvent) {
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(event) }
    }

    public func subscribe() -> AsyncStream<ControllerEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: ControllerEvent.self, bufferingPolicy: .bufferingNewest(1000))
        continuation.onTermination = { [weak self] _ in self?.subscribers.withLock { $0[id] = nil } }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    public func finishAll() {
        for c in subscribers.withLock({ Array($0.values) }) { c.finish() }
    }
}
