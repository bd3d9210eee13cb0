import CallControl
import Foundation
import Testing

/// What an attacker in the DMZ or on the internet would try: nothing gets through, every
/// refusal is counted, and the allowed server is still answered.
@Suite("Call controller under attack", .serialized)
struct AttackTests {
    @Test func connectionFromOutsideTheACLIsClosedBeforeAnyByteIsRead() async throws {
        let sat = try await SatelliteHarness(slot: 5, acl: ["10.0.0.0/8"])
        let port = sat.port
        let result = await onThread { () -> (String, Bool)? in
            guard let c = RawSIPClient(port: port) else { return nil }
            c.send(SIPText.options())
            return c.read()
        }
        let (text, closed) = try #require(result)
        #expect(text.isEmpty, "nothing may be answered to a source outside the ACL, got \(text.prefix(80))")
        #expect(closed)
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.connections["not_in_acl"] == 1)
        #expect(snap.core.messagesReceived == 0, "not a single message may be read")
        await sat.stop()
    }

    @Test func anotherHostIsRefusedWhileTheServerIsAnswered() async throws {
        let sat = try await SatelliteHarness(slot: 6, acl: ["127.0.0.1/32"])
        let port = sat.port
        let (outsider, server) = await onThread { () -> ((String, Bool)?, (String, Bool)?) in
            let o = RawSIPClient(source: "127.0.0.2", port: port).map { c -> (String, Bool) in
                c.send(SIPText.options())
                return c.read()
            }
            let s = RawSIPClient(source: "127.0.0.1", port: port).map { c -> (String, Bool) in
                c.send(SIPText.options())
                return c.read(until: "\r\n\r\n")
            }
            return (o, s)
        }
        #expect(outsider?.0.isEmpty == true)
        #expect(server?.0.hasPrefix("SIP/2.0 200 OK") == true, "the server gets its OPTIONS answered: \(server?.0 ?? "")")
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.connections["not_in_acl"] == 1)
        #expect(snap.transport.connections["allow"] == 1)
        await sat.stop()
    }

    @Test func noUDPSocketExistsForSIP() async throws {
        let sat = try await SatelliteHarness(slot: 7)
        let hex = String(format: "%04X", sat.port)
        // Read to the end: /proc files report size 0, and a busy machine lists many sockets.
        func proc(_ path: String) -> String {
            String(decoding: FileHandle(forReadingAtPath: path)?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        }
        let udp = proc("/proc/net/udp")
        let tcp = proc("/proc/net/tcp")
        #expect(tcp.contains(":\(hex) "), "the TCP listener is in /proc/net/tcp")
        #expect(!udp.contains(":\(hex) "), "no UDP socket may listen on the SIP port")
        await sat.stop()
    }

    @Test func garbageGets400AndTheConnectionIsClosed() async throws {
        let sat = try await SatelliteHarness(slot: 8)
        let port = sat.port
        let r = await onThread { () -> (String, Bool)? in
            guard let c = RawSIPClient(port: port) else { return nil }
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return c.read()
        }
        #expect(r?.0.hasPrefix("SIP/2.0 400") == true || r?.0.hasPrefix("SIP/2.0 505") == true, "\(r?.0 ?? "")")
        #expect(r?.1 == true)
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.malformed.values.reduce(0, +) == 1)
        await sat.stop()
    }

    @Test func oversizedMessageGets413() async throws {
        let sat = try await SatelliteHarness(slot: 9)
        let port = sat.port
        let r = await onThread { () -> (String, Bool)? in
            guard let c = RawSIPClient(port: port) else { return nil }
            let big = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n" + String(repeating: "X-Fill: \(String(repeating: "a", count: 1000))\r\n", count: 70)
            c.send(big)
            return c.read()
        }
        #expect(r?.0.hasPrefix("SIP/2.0 413") == true, "\(r?.0.prefix(60) ?? "")")
        #expect(r?.1 == true)
        await sat.stop()
    }

    @Test func scannerUserAgentIsDroppedAndBlocked() async throws {
        let sat = try await SatelliteHarness(slot: 10)
        let port = sat.port
        let r = await onThread { () -> (String, Bool)? in
            guard let c = RawSIPClient(port: port) else { return nil }
            c.send(SIPText.options(userAgent: "friendly-scanner"))
            return c.read()
        }
        #expect(r?.0.isEmpty == true)
        #expect(r?.1 == true)
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.requests["scanner_user_agent"] == 1)
        #expect(snap.core.messagesReceived == 0)
        await sat.stop()
    }

    /// A flood of INVITEs from a known network (the pike rule) and of connections from
    /// outside: the flooders are cut off, each refusal counted, and the server is answered.
    @Test func inviteFloodIsCutOffAndTheServerStillAnswered() async throws {
        var limits = AccessGate.Limits()
        limits.requestsPerWindow = 50
        limits.window = 10
        limits.blockTime = 60
        let sat = try await SatelliteHarness(slot: 11, acl: ["127.0.0.1/32", "127.0.0.3/32"], limits: limits)
        let port = sat.port
        let (answered, serverReply) = await onThread { () -> (Int, String) in
            var answered = 0
            // 500 INVITEs without SDP from 127.0.0.3 on one connection (bounded).
            if let c = RawSIPClient(source: "127.0.0.3", port: port) {
                for i in 0..<500 {
                    c.send(SIPText.options(branch: "z9hG4bKflood\(i)").replacingOccurrences(of: "OPTIONS", with: "INVITE"))
                }
                let (text, _) = c.read()
                answered = text.components(separatedBy: "SIP/2.0 ").count - 1
            }
            // 200 connections from outside the ACL (bounded).
            for _ in 0..<200 {
                if let c = RawSIPClient(source: "127.0.0.2", port: port) { c.send(SIPText.options()) }
            }
            let server = RawSIPClient(port: port).map { c -> String in
                c.send(SIPText.options())
                return c.read(until: "\r\n\r\n").text
            }
            return (answered, server ?? "")
        }
        #expect(answered <= 50, "at most the allowed requests are answered, got \(answered)")
        #expect(serverReply.hasPrefix("SIP/2.0 200 OK"), "the server is still answered: \(serverReply)")
        try await Task.sleep(for: .milliseconds(300))
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.requests["request_rate"] == 1)
        #expect(snap.transport.connections["not_in_acl"] == 200)
        #expect(snap.core.callsStarted == 0, "INVITEs without an offer or target start no call")
        await sat.stop()
    }
}
