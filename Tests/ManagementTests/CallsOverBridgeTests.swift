import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Management

/// The server watches and steers calls over the bridge: a real call between two sipp
/// instances through the satellite is listed, its events stream out, HangupCall ends it,
/// and Drain makes the satellite refuse new calls.
@Suite("Management: calls over the bridge", .serialized)
struct CallsOverBridgeTests {
    final class Events: Sendable {
        let seen = Mutex<[Trabant_Bridge_V1_Event]>([])
        var all: [Trabant_Bridge_V1_Event] { seen.withLock { $0 } }
    }

    @Test func listWatchHangUpDrain() async throws {
        guard let sipp = try requireTool("sipp") else { return }
        let sat = try await SatelliteUnderTest(slot: 40)
        let server = try ServerSide()
        let client = try server.client(sat)
        _ = try await client.pair(code: try sat.code(), serverName: "s")

        let events = Events()
        let watcher = Task {
            try await client.watchEvents { e in
                events.seen.withLock { $0.append(e) }
                return true
            }
        }
        // Wait until the stream is open before anything happens.
        let open = Date().addingTimeInterval(5)
        while sat.bridge.events.subscriberCount == 0, Date() < open { try await Task.sleep(for: .milliseconds(20)) }

        let base = 17700
        let uas = try External.start(sipp, [
            "-sf", "\(sippDirectory)/uas_srtp.xml", "-t", "t1", "-i", "127.0.0.1", "-p", "\(base)", "-mi", "127.0.0.1",
            "-mp", "\(base + 4)", "-cp", "\(base + 8)", "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
        ])
        try await Task.sleep(for: .milliseconds(400))
        let uac = try External.start(sipp, [
            "127.0.0.1:\(sat.sipPort)", "-sf", "\(sippDirectory)/uac_wait_bye.xml", "-t", "t1", "-i", "127.0.0.1",
            "-p", "\(base + 1)", "-mi", "127.0.0.1", "-mp", "\(base + 12)", "-cp", "\(base + 9)", "-key", "target",
            "<sip:bob@127.0.0.1:\(base);transport=tcp>", "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
        ])

        // The call shows up, answered, with both legs' media addresses.
        var calls: [Trabant_Bridge_V1_CallSummary] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            calls = try await client.calls()
            if calls.first?.state == "confirmed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let call = try #require(calls.first, "no call listed")
        #expect(calls.count == 1)
        #expect(call.state == "confirmed")
        #expect(call.legs.map(\.name) == ["caller", "callee"])
        #expect(call.legs.allSatisfy { $0.localMedia.hasPrefix("127.0.0.1:") })
        #expect(call.legs[0].remoteMedia == "127.0.0.1:\(base + 12)")
        #expect(try await client.status().activeCalls == 1)

        // HangupCall: BYE to both sipps, which end normally.
        try await client.hangUp(call: call.id)
        let uacResult = await External.wait(uac.0, log: uac.1, timeout: 15)
        let uasResult = await External.wait(uas.0, log: uas.1, timeout: 15)
        #expect(uacResult.status == 0, "sipp UAC: \(uacResult.output.suffix(1200))")
        #expect(uasResult.status == 0, "sipp UAS: \(uasResult.output.suffix(1200))")
        #expect(try await client.calls().isEmpty)
        let missing = await #expect(throws: BridgeClientError.self) { try await client.hangUp(call: call.id) }
        #expect(missing?.code == .notFound)

        // The events of the call came through the stream, in order.
        let seenBy = Date().addingTimeInterval(5)
        while !events.all.contains(where: { $0.kind == "call_ended" }), Date() < seenBy { try await Task.sleep(for: .milliseconds(50)) }
        let mine = events.all.filter { $0.callID == call.id }.map(\.kind)
        #expect(mine == ["call_started", "call_answered", "call_ended"], "\(events.all.map(\.kind))")
        #expect(events.all.first { $0.kind == "call_ended" }?.detail == "hangup_management")

        // Drain: the satellite refuses new calls from now on.
        #expect(try await client.drain(seconds: 30) == 0)
        let status = try await client.status()
        #expect(status.draining)
        watcher.cancel()
        await client.close()
        await sat.stop()
    }
}
