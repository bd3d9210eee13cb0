import CallControl
import Foundation
import TestSupport
import MediaRelay
import Testing

/// sipp as the server's two sides over TCP: it calls through the controller (UAC) and
/// answers the leg the controller originates (UAS), with SDES-SRTP in every offer.
@Suite("sipp through the call controller", .serialized)
struct SippInteropTests {
    struct Run {
        var uac: External.Result
        var uas: External.Result?
        var snapshot: ControllerSnapshot
        var relay: RelayMetrics
        var activeMedia: [String]
    }

    /// Starts the satellite and (unless nil) a sipp UAS, then runs a sipp UAC against it.
    func run(
        slot: Int, uas: String?, uac: String, calls: Int, rate: Int = 10, extra: [String] = []
    ) async throws -> Run? {
        guard let sipp = try requireTool("sipp") else { return nil }
        let sat = try await SatelliteHarness(slot: slot)
        let base = 16000 + slot * 20
        var uasProcess: (Process, URL)?
        if let uas {
            uasProcess = try External.start(sipp, [
                "-sf", "\(sippDirectory)/\(uas)", "-t", "t1", "-i", "127.0.0.1", "-p", "\(base)", "-mi", "127.0.0.1",
                "-mp", "\(base + 4)", "-cp", "\(base + 8)", "-m", "\(calls)", "-nostdin", "-timeout", "40s", "-timeout_error",
            ])
            try await Task.sleep(for: .milliseconds(400))
        }
        let uacResult = try await External.run(sipp, [
            "127.0.0.1:\(sat.port)", "-sf", "\(sippDirectory)/\(uac)", "-t", "t1", "-i", "127.0.0.1", "-p", "\(base + 1)",
            "-mi", "127.0.0.1", "-mp", "\(base + 12)", "-cp", "\(base + 9)",
            "-key", "target", "<sip:bob@127.0.0.1:\(base);transport=tcp>", "-m", "\(calls)", "-r", "\(rate)", "-nostdin",
            "-timeout", "40s", "-timeout_error",
        ] + extra, timeout: 60)
        var uasResult: External.Result?
        if let (p, log) = uasProcess { uasResult = await External.wait(p, log: log, timeout: 10) }
        try await Task.sleep(for: .milliseconds(300))
        let snapshot = await sat.controller.snapshot()
        let run = Run(uac: uacResult, uas: uasResult, snapshot: snapshot, relay: sat.relay.metrics, activeMedia: sat.relay.activeCallIDs)
        await sat.stop()
        return run
    }

    @Test func srtpCallsConnectAndHangUp() async throws {
        guard let r = try await run(slot: 0, uas: "uas_srtp.xml", uac: "uac_srtp.xml", calls: 20, extra: ["-d", "100"]) else { return }
        #expect(r.uac.status == 0, "sipp UAC: \(r.uac.output.suffix(1500))")
        #expect(r.uas?.status == 0, "sipp UAS: \(r.uas?.output.suffix(1500) ?? "")")
        #expect(r.snapshot.core.callsStarted == 20)
        #expect(r.snapshot.core.callsAnswered == 20)
        #expect(r.snapshot.core.callsEnded["hangup_caller"] == 20)
        #expect(r.relay.callsCreated == 20)
        #expect(r.activeMedia.isEmpty, "media of ended calls must be released")
    }

    @Test func cancelWhileRingingEndsBothLegs() async throws {
        guard let r = try await run(slot: 1, uas: "uas_ring_forever.xml", uac: "uac_cancel.xml", calls: 10, extra: ["-d", "200"])
        else { return }
        #expect(r.uac.status == 0, "sipp UAC: \(r.uac.output.suffix(1500))")
        #expect(r.uas?.status == 0, "sipp UAS (it must see CANCEL and send 487): \(r.uas?.output.suffix(1500) ?? "")")
        #expect(r.snapshot.core.callsEnded["cancelled"] == 10)
        #expect(r.snapshot.core.callsAnswered == 0)
        #expect(r.activeMedia.isEmpty)
    }

    @Test func plainRTPOfferGets488AndNoMedia() async throws {
        guard let r = try await run(slot: 2, uas: nil, uac: "uac_plain_rtp.xml", calls: 10) else { return }
        #expect(r.uac.status == 0, "sipp UAC expects 488: \(r.uac.output.suffix(1500))")
        #expect(r.snapshot.core.requestsRefused[488] == 10)
        #expect(r.relay.callsCreated == 0, "a refused offer must not allocate media")
    }

    @Test func busyTargetIsRelayedToTheCaller() async throws {
        guard let r = try await run(slot: 3, uas: "uas_busy_486.xml", uac: "uac_srtp_busy.xml", calls: 10) else { return }
        #expect(r.uac.status == 0, "sipp UAC expects 486: \(r.uac.output.suffix(1500))")
        #expect(r.uas?.status == 0)
        #expect(r.snapshot.core.callsEnded["rejected_486"] == 10)
        #expect(r.activeMedia.isEmpty)
    }

    /// Hold and resume: the caller's re-INVITEs (sendonly, then sendrecv) reach the target
    /// with the satellite's key for that leg; the target's answers (recvonly, sendrecv) come back.
    @Test func holdAndResumeAreRelayedBothWays() async throws {
        guard let r = try await run(slot: 4, uas: "uas_hold.xml", uac: "uac_hold.xml", calls: 5) else { return }
        #expect(r.uac.status == 0, "sipp UAC (it checks the answers' directions): \(r.uac.output.suffix(1500))")
        #expect(r.uas?.status == 0, "sipp UAS (it checks the offers' directions): \(r.uas?.output.suffix(1500) ?? "")")
        #expect(r.snapshot.core.callsAnswered == 5)
        #expect(r.snapshot.core.callsEnded["hangup_caller"] == 5)
        #expect(r.snapshot.core.requestsRefused.isEmpty, "no re-INVITE was refused: \(r.snapshot.core.requestsRefused)")
        #expect(r.activeMedia.isEmpty)
    }
}
