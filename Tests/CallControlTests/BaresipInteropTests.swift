import CallControl
import Foundation
import Testing

/// baresip (Debian) on both sides of a real call through the satellite: SDES-SRTP on both
/// legs, a tone each way, checked in what the far side decoded. The caller reaches the
/// satellite as its outbound proxy; the Request-URI names the callee (docs/call-control.md).
@Suite("baresip through the call controller", .serialized)
struct BaresipInteropTests {
    @Test func realSRTPCallCarriesAudioBothWays() async throws {
        guard try requireTool("baresip") != nil, let python = External.which("python3") else { return }
        let sat = try await SatelliteHarness(slot: 15)
        let script = URL(fileURLWithPath: sippDirectory).deletingLastPathComponent().appendingPathComponent("baresip/baresip_call.py").path
        let r = try await External.run(python, [
            script, "--outbound", "sip:127.0.0.1:\(sat.port);transport=tcp", "--callee-port", "17110", "--caller-port", "17120",
            "--rtp-ports", "17200-17299", "--seconds", "3",
        ], timeout: 60)
        try await Task.sleep(for: .milliseconds(300))
        let metrics = sat.relay.metrics
        let snap = await sat.controller.snapshot()
        await sat.stop()

        let json = r.output.firstIndex(of: "{").map { String(r.output[$0...]) } ?? ""
        let result = try #require(
            try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "baresip_call.py printed no JSON: \(r.output.suffix(2000))")
        #expect(r.status == 0, "baresip call failed: \(r.output.suffix(3000))")
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
}
