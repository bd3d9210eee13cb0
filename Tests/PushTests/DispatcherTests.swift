import Crypto
import Foundation
import PushEmulator
import Synchronization
import Testing

@testable import Push
@testable import PushPayload

/// One call push per call and device, a cancel push when the call ends unanswered, a queue
/// that refuses what it cannot take, dead tokens reported — against the emulators.
@Suite("Push: dispatching calls", .serialized)
struct DispatcherTests {
    final class Results: Sendable {
        let all = Mutex<[(String, CallNotice.Kind, PushOutcome)]>([])
    }

    static func devices(_ w: PushTransportTests.World) -> [DeviceRoute] {
        [
            DeviceRoute(id: "iphone", target: .apns(token: PushTransportTests.World.apnsToken, type: .voip), key: w.key),
            DeviceRoute(id: "pixel", target: .fcm(token: "fcm:pixel"), key: w.key),
        ]
    }

    @Test func oneCallPushPerDeviceThenACancelPush() async throws {
        let w = try await PushTransportTests.World.make()
        let results = Results()
        let d = PushDispatcher(sender: w.sender) { route, notice, r in results.all.withLock { $0.append((route.id, notice.kind, r.outcome)) } }
        let ring = CallNotice(kind: .call, callID: "call-9", caller: "Alice", gateway: "wss://gw", sentAt: 1)
        #expect(try await d.ring(ring, devices: Self.devices(w)) == 2)
        #expect(try await d.ring(ring, devices: Self.devices(w)) == 0, "the same call rings a device once")
        #expect(await d.drained(timeout: 10))
        #expect(w.emulator.pushes.count == 2)

        #expect(try await d.cancel(callID: "call-9", caller: "Alice", gateway: "wss://gw") == 2)
        #expect(try await d.cancel(callID: "call-9", caller: "Alice", gateway: "wss://gw") == 0, "one cancel")
        #expect(await d.drained(timeout: 10))
        let pushes = w.emulator.pushes
        #expect(pushes.count == 4)
        let apnsCancel = try #require(pushes.last { $0.provider == "apns" })
        #expect(apnsCancel.headers["apns-push-type"] == "alert", "a cancel is not a VoIP push")
        #expect(apnsCancel.headers["apns-collapse-id"] == "call-9", "it replaces the call's notification")
        let fcmCancel = try #require(pushes.last { $0.provider == "fcm" })
        #expect(((fcmCancel.body["message"] as? [String: Any])?["android"] as? [String: String])?["priority"] == "normal")
        let kinds = results.all.withLock { $0 }.map(\.1)
        #expect(kinds.filter { $0 == .call }.count == 2 && kinds.filter { $0 == .cancel }.count == 2)
        await w.stop()
    }

    @Test func aFullQueueRefusesInsteadOfGrowing() async throws {
        let w = try await PushTransportTests.World.make()
        let d = PushDispatcher(sender: w.sender, queueLimit: 3, workers: 2, start: false)
        let devices = (0..<3).map { i in
            DeviceRoute(id: "d\(i)", target: .fcm(token: "fcm:d\(i)"), key: w.key)
        }
        let first = CallNotice(kind: .call, callID: "c1", caller: "A", gateway: "g", sentAt: 1)
        #expect(try await d.ring(first, devices: devices) == 3)
        let second = CallNotice(kind: .call, callID: "c2", caller: "B", gateway: "g", sentAt: 1)
        let e = await #expect(throws: PushError.self) { try await d.ring(second, devices: [devices[0]]) }
        #expect(e?.code == .overloaded)
        #expect(await d.refused == 1)
        #expect(await d.pending == 3, "nothing was added")
        await d.start()
        #expect(await d.drained(timeout: 10))
        #expect(w.emulator.pushes.count == 3)
        #expect(try await d.ring(second, devices: [devices[0]]) == 1, "room again")
        await w.stop()
    }

    @Test func deadTokensAreReportedToTheDirectory() async throws {
        let w = try await PushTransportTests.World.make()
        w.emulator.state.withLock { $0.deadTokens = ["fcm:pixel"] }
        let results = Results()
        let d = PushDispatcher(sender: w.sender) { route, notice, r in results.all.withLock { $0.append((route.id, notice.kind, r.outcome)) } }
        try await d.ring(CallNotice(kind: .call, callID: "c", caller: "A", gateway: "g", sentAt: 1), devices: Self.devices(w))
        #expect(await d.drained(timeout: 10))
        let dead = results.all.withLock { $0 }.filter { if case .deadToken = $0.2 { true } else { false } }.map(\.0)
        #expect(dead == ["pixel"])
        await w.stop()
    }
}
