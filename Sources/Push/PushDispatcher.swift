import Foundation
import PushPayload

/// A device as the directory knows it: where to push, and the key its notices are sealed to.
public struct DeviceRoute: Sendable, Hashable {
    public var id: String
    public var target: PushTarget
    public var key: DevicePushKey

    public init(id: String, target: PushTarget, key: DevicePushKey) {
        self.id = id
        self.target = target
        self.key = key
    }

    public static func == (a: DeviceRoute, b: DeviceRoute) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// What the server asks of push for calls: exactly one call push per call and device, a
/// cancel push to those devices when the call ends unanswered, a bounded queue that refuses
/// work it cannot take (back-pressure) instead of growing, and dead tokens reported.
public actor PushDispatcher {
    struct Job: Sendable {
        var route: DeviceRoute
        var notice: CallNotice
    }

    let sender: PushSender
    public let queueLimit: Int
    let workers: Int
    var queue: [Job] = []
    var head = 0
    var running = 0
    var started = false
    /// Calls and the devices that got their call push, oldest first (bounded by age).
    var rung: [String: (at: Date, devices: [DeviceRoute])] = [:]
    var ringOrder: [(call: String, at: Date)] = []
    let onResult: @Sendable (DeviceRoute, CallNotice, PushResult) -> Void
    public private(set) var refused = 0

    public init(
        sender: PushSender, queueLimit: Int = 10_000, workers: Int = 64, start: Bool = true,
        onResult: @escaping @Sendable (DeviceRoute, CallNotice, PushResult) -> Void = { _, _, _ in }
    ) {
        self.sender = sender
        self.queueLimit = queueLimit
        self.workers = workers
        self.onResult = onResult
        self.started = start
    }

    public var pending: Int { queue.count - head }

    /// Queues the call push for each device that has not had one for this call. Throws
    /// `.overloaded` (nothing queued) when the queue cannot take them all.
    @discardableResult
    public func ring(_ notice: CallNotice, devices: [DeviceRoute], now: Date = Date()) throws(PushError) -> Int {
        forgetOld(now: now)
        let already = Set(rung[notice.callID]?.devices ?? [])
        let fresh = devices.filter { !already.contains($0) }
        guard pending + fresh.count <= queueLimit else {
            refused += fresh.count
            throw PushError(.overloaded, "the push queue is full (\(queueLimit)); try again shortly")
        }
        if rung[notice.callID] == nil { ringOrder.append((notice.callID, now)) }
        rung[notice.callID, default: (now, [])].devices += fresh
        for d in fresh { queue.append(Job(route: d, notice: notice)) }
        pump()
        return fresh.count
    }

    /// The call ended unanswered: every device that got its call push gets a cancel push
    /// (APNs: an alert replacing the call's notification by its collapse id; FCM: normal priority).
    @discardableResult
    public func cancel(callID: String, caller: String, gateway: String, now: Date = Date()) throws(PushError) -> Int {
        guard let entry = rung.removeValue(forKey: callID) else { return 0 }
        guard pending + entry.devices.count <= queueLimit else {
            refused += entry.devices.count
            throw PushError(.overloaded, "the push queue is full (\(queueLimit)); try again shortly")
        }
        let notice = CallNotice(kind: .cancel, callID: callID, caller: caller, gateway: gateway, sentAt: now.timeIntervalSince1970)
        for var d in entry.devices {
            if case .apns(let token, _) = d.target { d.target = .apns(token: token, type: .alert) }
            queue.append(Job(route: d, notice: notice))
        }
        pump()
        return entry.devices.count
    }

    public func start() {
        started = true
        pump()
    }

    /// Calls older than ten minutes are forgotten (no cancel can follow a ring that late).
    func forgetOld(now: Date) {
        var drop = 0
        while drop < ringOrder.count, now.timeIntervalSince(ringOrder[drop].at) > 600 {
            if let e = rung[ringOrder[drop].call], e.at == ringOrder[drop].at { rung[ringOrder[drop].call] = nil }
            drop += 1
        }
        if drop > 0 { ringOrder.removeFirst(drop) }
    }

    func pump() {
        guard started else { return }
        while running < workers, head < queue.count {
            let job = queue[head]
            head += 1
            running += 1
            Task { await self.run(job) }
        }
        if head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    func run(_ job: Job) async {
        let result = await sender.send(job.notice, to: job.route.target, key: job.route.key)
        onResult(job.route, job.notice, result)
        running -= 1
        pump()
    }

    /// Waits until nothing is queued or in flight (bounded).
    public func drained(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while pending > 0 || running > 0 {
            if Date() > deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}
