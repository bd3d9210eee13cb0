import Demo
import Foundation
import Synchronization
import Testing

@testable import MediaRelay
@testable import SRTP

/// No socket of a call survives its end: hang-up, timeouts, errors. Checked in /proc/net/udp.
@Suite("Media relay: teardown leaves no socket behind")
struct TeardownTests {
    @Test func hangupClosesEverySocketAtOnce() async throws {
        let range = TestPorts.range(20)
        let relay = try MediaRelay(configuration: RelayConfiguration(portRange: range, threads: 2))
        let a = try Phone(ssrc: 1)
        let b = try Phone(ssrc: 2)
        for i in 0..<3 {
            let info = try await relay.createCall(
                CallRequest(id: "c\(i)", legs: [a.request("a", mux: i != 1), b.request("b")]))
            _ = info
        }
        #expect(TestPorts.openIn(range).count == 2 + 3 + 2, "mux legs have one port, others two")
        for i in 0..<3 { try await relay.closeCall("c\(i)") }
        #expect(TestPorts.openIn(range).isEmpty)
        #expect(relay.metrics.callsEnded[.hangup] == 3)
        #expect(relay.metrics.portsInUse == 0)
        await #expect(throws: RelayError.self) { try await relay.closeCall("c0") }
        await relay.shutdown()
    }

    @Test func inactivityEndsSilentCallsOnly() async throws {
        let range = TestPorts.range(21)
        let relay = try MediaRelay(
            configuration: RelayConfiguration(portRange: range, inactivityTimeout: 2.0, maxCallDuration: 3600, threads: 1))
        let a = try Phone(ssrc: 1)
        let b = try Phone(ssrc: 2)
        _ = try await RelayCallTests.call(relay, a, b, id: "silent")
        let c = try Phone(ssrc: 3)
        let d = try Phone(ssrc: 4)
        _ = try await RelayCallTests.call(relay, c, d, id: "chatty")
        #expect(TestPorts.openIn(range).count == 4)
        // "chatty" gets a packet every 50 ms from a thread of its own, so that its media keeps
        // flowing even when other tests keep Swift's cooperative threads busy.
        let talking = Atomic<Bool>(true)
        let talker = Thread { [c] in
            while talking.load(ordering: .acquiring) {
                _ = try? c.sendRTP()
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        talker.start()
        defer { talking.store(false, ordering: .releasing) }
        let start = Date()
        var ended: [(String, CallEndReason)] = []
        while Date().timeIntervalSince(start) < 20, ended.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            ended += await relay.sweep()
        }
        #expect(ended.map(\.0) == ["silent"])
        #expect(ended.first?.1 == .inactivity)
        #expect(relay.activeCallIDs == ["chatty"])
        #expect(TestPorts.openIn(range).count == 2)
        #expect(relay.metrics.callsEnded[.inactivity] == 1)
        await relay.shutdown()
        #expect(TestPorts.openIn(range).isEmpty)
    }

    @Test func maximumLifetimeEndsEvenBusyCalls() async throws {
        let range = TestPorts.range(25)
        let relay = try MediaRelay(
            configuration: RelayConfiguration(portRange: range, inactivityTimeout: 3600, maxCallDuration: 0.5, threads: 1))
        let c = try Phone(ssrc: 3)
        let d = try Phone(ssrc: 4)
        _ = try await RelayCallTests.call(relay, c, d, id: "long")
        let start = Date()
        var ended: [(String, CallEndReason)] = []
        while Date().timeIntervalSince(start) < 10, ended.isEmpty {
            try c.sendRTP()
            try await Task.sleep(for: .milliseconds(50))
            ended += await relay.sweep()
        }
        #expect(ended.first?.0 == "long")
        #expect(ended.first?.1 == .lifetime)
        #expect(TestPorts.openIn(range).isEmpty)
        await relay.shutdown()
    }

    @Test func poolExhaustionIsAClearErrorAndLeaksNothing() async throws {
        let range: ClosedRange<UInt16> = TestPorts.range(22).lowerBound...(TestPorts.range(22).lowerBound + 2)
        let relay = try MediaRelay(configuration: RelayConfiguration(portRange: range, threads: 1))
        let a = try Phone(ssrc: 1)
        let b = try Phone(ssrc: 2)
        _ = try await relay.createCall(CallRequest(id: "one", legs: [a.request("a"), b.request("b")]))
        do {
            _ = try await relay.createCall(CallRequest(id: "two", legs: [a.request("a"), b.request("b", mux: false)]))
            Issue.record("a call was created from an exhausted pool")
        } catch {
            #expect(error.code == .poolExhausted)
            #expect(error.message.contains("exhausted"))
        }
        #expect(relay.metrics.portPoolExhausted == 1)
        #expect(TestPorts.openIn(range).count == 2)
        await relay.shutdown()
        #expect(TestPorts.openIn(range).isEmpty)
    }

    @Test func portsHeldByAnotherProcessAreSkippedWithoutLeaks() async throws {
        let range = TestPorts.range(23).lowerBound...(TestPorts.range(23).lowerBound + 3)
        let squatter = try UDPEndpoint(port: range.lowerBound)
        let relay = try MediaRelay(configuration: RelayConfiguration(portRange: range, portQuarantine: 0, threads: 1))
        let a = try Phone(ssrc: 1)
        let b = try Phone(ssrc: 2)
        for i in 0..<2 {
            _ = try await relay.createCall(CallRequest(id: "c\(i)", legs: [a.request("a"), b.request("b")]))
            try await relay.closeCall("c\(i)")
        }
        #expect(TestPorts.openIn(range) == [squatter.local.port])
        await relay.shutdown()
    }

    @Test func badRequestsAreRefusedWithoutSockets() async throws {
        let range = TestPorts.range(24)
        let relay = try MediaRelay(configuration: RelayConfiguration(portRange: range, threads: 1))
        let a = try Phone(ssrc: 1)
        await #expect(throws: RelayError.self) { try await relay.createCall(CallRequest(id: "x", legs: [a.request("a")])) }
        _ = try await relay.createCall(CallRequest(id: "dup", legs: [a.request("a"), a.request("b")]))
        await #expect(throws: RelayError.self) {
            try await relay.createCall(CallRequest(id: "dup", legs: [a.request("a"), a.request("b")]))
        }
        #expect(TestPorts.openIn(range).count == 2)
        await relay.shutdown()
        #expect(TestPorts.openIn(range).isEmpty)
        #expect(throws: RelayError.self) { try MediaRelay(configuration: RelayConfiguration(bindHost: "not-an-ip")) }
        #expect(throws: RelayError.self) { try MediaRelay(configuration: RelayConfiguration(portRange: 80...90)) }
    }
}
