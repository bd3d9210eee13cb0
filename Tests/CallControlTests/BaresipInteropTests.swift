import CallControl
import Foundation
import TestSupport
import MediaRelay
import Testing

/// baresip (Debian) on both sides of a real call through the satellite: SDES-SRTP on both
/// legs, a tone each way, checked in what the far side decoded. The caller reaches the
/// satellite as its outbound proxy; the Request-URI names the callee (docs/call-control.md).
@Suite("baresip through the call controller", .serialized)
struct BaresipInteropTests {
    /// Runs Tests/Interop/baresip/baresip_call.py through `sat` and returns its JSON result,
    /// the relay's metrics and the controller's counters once the call is over.
    func baresipCall(_ sat: SatelliteHarness, ports: Int, extra: [String] = []) async throws
        -> (result: [String: Any], metrics: RelayMetrics, snapshot: ControllerSnapshot)?
    {
        guard try requireTool("baresip") != nil, let python = External.which("python3") else { return nil }
        let script = URL(fileURLWithPath: sippDirectory).deletingLastPathComponent().appendingPathComponent("baresip/baresip_call.py").path
        let r = try await External.run(python, [
            script, "--outbound", "sip:127.0.0.1:\(sat.port);transport=tcp", "--callee-port", "\(ports + 10)",
            "--caller-port", "\(ports + 20)", "--rtp-ports", "\(ports + 100)-\(ports + 199)", "--seconds", "3",
        ] + extra, timeout: 60)
        try await Task.sleep(for: .milliseconds(300))
        let metrics = sat.relay.metrics
        let snap = await sat.controller.snapshot()
        await sat.stop()
        let json = r.output.firstIndex(of: "{").map { String(r.output[$0...]) } ?? ""
        let result = try #require(
            try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "baresip_call.py printed no JSON: \(r.output.suffix(2000))")
        #expect(r.status == 0, "baresip call failed: \(r.output.suffix(3000))")
        return (result, metrics, snap)
    }

    @Test func realSRTPCallCarriesAudioBothWays() async throws {
        let sat = try await SatelliteHarness(slot: 15)
        guard let (result, metrics, snap) = try await baresipCall(sat, ports: 17100) else { return await sat.stop() }
        #expect(result["ok"] as? Bool == true)
        #expect(result["srtp_offered"] as? Bool == true)
        // Both baresips negotiated SRTP — each with the satellite, not with each other.
        #expect((result["caller_srtp_enabled"] as? String)?.isEmpty == false)
        #expect((result["callee_srtp_enabled"] as? String)?.isEmpty == false)
        #expect(result["freq"] as? Double == 1000, "the callee heard the caller's 1 kHz tone")
        #expect(snap.core.callsAnswered == 1)
        #expect(snap.core.callsEnded["hangup_caller"] == 1)
        // 3 s of 50 packet/s each way went through the relay, re-protected.
        #expect(metrics.packetsRelayed > 200, "relayed \(metrics.packetsRelayed) packets")
        #expect(metrics.callsActive == 0)
    }

    /// A LAN phone without SRTP (plain RTP/AVP, from a network the operator listed) calls an
    /// SRTP phone: the satellite decrypts for one leg and encrypts for the other.
    @Test func plainLANPhoneCallsAnSRTPPhone() async throws {
        let sat = try await SatelliteHarness(slot: 16, plainRTPNetworks: ["127.0.0.0/8"])
        guard let (result, metrics, snap) = try await baresipCall(sat, ports: 17300, extra: ["--caller-mediaenc", "none"])
        else { return await sat.stop() }
        #expect(result["ok"] as? Bool == true)
        #expect(result["caller_offer_proto"] as? String == "RTP/AVP", "the LAN phone offered plain RTP")
        #expect(result["caller_srtp_enabled"] is NSNull || result["caller_srtp_enabled"] == nil)
        #expect((result["callee_srtp_enabled"] as? String)?.isEmpty == false, "the other phone got SRTP")
        #expect(result["freq"] as? Double == 1000, "the SRTP phone heard the plain phone's 1 kHz tone")
        let back = result["caller_received"] as? [String: Any]
        #expect(back?["freq"] as? Double == 440, "the plain phone heard the SRTP phone's 440 Hz tone")
        #expect(snap.core.callsAnswered == 1)
        #expect(metrics.packetsRelayed > 200, "relayed \(metrics.packetsRelayed) packets")
    }
}
