import CallControl
import Foundation
import TestSupport
import MediaRelay
import PKI
import Testing

/// The controller as an operator sees it: draining on SIGTERM, TLS, the metrics endpoint.
@Suite("Call controller lifecycle", .serialized)
struct ControllerLifecycleTests {
    /// Metrics scrapes racing the stop all get an answer (the final counters), none hangs on a
    /// loop that is already gone.
    @Test(.timeLimit(.minutes(1))) func snapshotsDuringStopAllAnswer() async throws {
        let sat = try await SatelliteHarness(slot: 27)
        let answered = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<40 {
                group.addTask {
                    if i == 10 { await sat.controller.stop() }
                    _ = await sat.controller.snapshot()
                    return true
                }
            }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(answered == 40)
        await sat.relay.shutdown()
    }

    /// SIGTERM's drain: a running call goes on to its end, a new INVITE gets 503.
    @Test func drainRefusesNewCallsAndLetsRunningOnesFinish() async throws {
        guard let sipp = try requireTool("sipp") else { return }
        let sat = try await SatelliteHarness(slot: 20)
        let base = 16600
        let uas = try External.start(sipp, [
            "-sf", "\(sippDirectory)/uas_srtp.xml", "-t", "t1", "-i", "127.0.0.1", "-p", "\(base)", "-mi", "127.0.0.1",
            "-mp", "\(base + 4)", "-cp", "\(base + 8)", "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
        ])
        try await Task.sleep(for: .milliseconds(400))
        // One call that stays up for 4 s (slack on a loaded machine; the drain waits 5).
        let uac = try External.start(sipp, [
            "127.0.0.1:\(sat.port)", "-sf", "\(sippDirectory)/uac_srtp.xml", "-t", "t1", "-i", "127.0.0.1", "-p", "\(base + 1)",
            "-mi", "127.0.0.1", "-mp", "\(base + 12)", "-cp", "\(base + 9)", "-key", "target",
            "<sip:bob@127.0.0.1:\(base);transport=tcp>", "-m", "1", "-d", "4000", "-nostdin", "-timeout", "30s", "-timeout_error",
        ])
        // Wait until it is answered, then drain.
        let deadline = Date().addingTimeInterval(30)
        while await sat.controller.snapshot().core.callsAnswered < 1, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await sat.controller.activeCalls() == 1)
        // Draining is in effect on every shard once beginDrain returns; drain() then waits.
        await sat.controller.beginDrain(seconds: sat.controller.settings.drainTimeout)
        let drain = Task { await sat.controller.drain() }
        let port = sat.port
        let reply = await onThread { () -> String in
            guard let c = RawSIPClient(port: port) else { return "" }
            c.send(callerInvite(requestURI: "sip:bob@127.0.0.1:\(port)", target: "<sip:bob@127.0.0.1:\(base);transport=tcp>"))
            return c.read(until: "\r\n\r\n").text
        }
        #expect(reply.hasPrefix("SIP/2.0 503"), "a new call during the drain gets 503: \(reply.prefix(80))")
        #expect(reply.contains("Retry-After"))
        let uacResult = await External.wait(uac.0, log: uac.1, timeout: 20)
        let uasResult = await External.wait(uas.0, log: uas.1, timeout: 10)
        await drain.value
        #expect(uacResult.status == 0, "the running call ends normally: \(uacResult.output.suffix(800))")
        #expect(uasResult.status == 0)
        let snap = await sat.controller.snapshot()
        #expect(snap.core.callsEnded["hangup_caller"] == 1)
        #expect(snap.core.requestsRefused[503] == 1)
        await sat.relay.shutdown()
    }

    /// SIP over TLS with the configured certificate: a TLS client gets OPTIONS answered;
    /// the ACL applies before the handshake.
    @Test func tlsListenerAnswersOverTLS() async throws {
        guard let openssl = External.which("openssl"), let python = External.which("python3") else {
            Issue.record("openssl and python3 are needed")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("sip.crt").path
        let key = dir.appendingPathComponent("sip.key").path
        let gen = try await External.run(openssl, [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
            "-days", "1", "-subj", "/CN=satellite.test",
        ], timeout: 30)
        try #require(gen.status == 0, "openssl: \(gen.output)")

        let sat = try await SatelliteHarness(slot: 21, tls: (cert, key))
        let tlsPort = try #require(sat.controller.boundPorts["tls"])
        let r = try await TLSClient.options(python: python, port: tlsPort, trust: cert, in: dir)
        #expect(r.output.contains("TLSv1.3"), "TLS 1.3 is negotiated: \(r.output.prefix(200))")
        #expect(r.output.contains("SIP/2.0 200 OK"), "OPTIONS over TLS is answered: \(r.output.prefix(300))")
        await sat.stop()
    }

    /// Without certificate files TLS uses the satellite's own identity; once the server's key
    /// is pinned, only a client with that key gets through.
    @Test func tlsUsesTheOwnIdentityAndPinsTheServerOncePaired() async throws {
        guard let python = External.which("python3") else {
            Issue.record("python3 is needed")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-tlsid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let satellite = try Identity.generate(role: "satellite")
        let server = try Identity.generate(role: "server")
        let stranger = try Identity.generate(role: "server")
        func files(_ i: Identity, _ name: String) throws -> (String, String) {
            let c = dir.appendingPathComponent("\(name).crt").path
            let k = dir.appendingPathComponent("\(name).key").path
            try i.certificatePEM.write(toFile: c, atomically: true, encoding: .utf8)
            try i.privateKeyPEM.write(toFile: k, atomically: true, encoding: .utf8)
            return (c, k)
        }
        let (satCert, _) = try files(satellite, "satellite")
        let serverFiles = try files(server, "server")
        let strangerFiles = try files(stranger, "stranger")

        let pins = PinSet()
        let sat = try await SatelliteHarness(slot: 23, identity: satellite, serverPins: pins)
        let port = try #require(sat.controller.boundPorts["tls"])
        // Not paired: any client; the satellite proves the identity the client trusts.
        let open = try await TLSClient.options(python: python, port: port, trust: satCert, in: dir)
        #expect(open.output.contains("SIP/2.0 200 OK"), "before pairing: \(open.output.prefix(300))")

        // A connection made before pairing is closed when the satellite pairs.
        async let held = TLSClient.options(python: python, port: port, trust: satCert, client: strangerFiles, hold: true, in: dir)
        try await Task.sleep(for: .milliseconds(1500))

        // Paired: the server's key only.
        pins.replace(with: [server.fingerprint])
        let heldOutput = try await held.output
        #expect(heldOutput.contains("SIP/2.0 200 OK") && heldOutput.contains("closed by the satellite"), "\(heldOutput)")
        let paired = try await TLSClient.options(python: python, port: port, trust: satCert, client: serverFiles, in: dir)
        #expect(paired.output.contains("SIP/2.0 200 OK"), "the pinned server: \(paired.output.prefix(300))")
        let foreign = try await TLSClient.options(python: python, port: port, trust: satCert, client: strangerFiles, in: dir)
        #expect(!foreign.output.contains("SIP/2.0"), "another key: \(foreign.output.prefix(300))")
        let anonymous = try await TLSClient.options(python: python, port: port, trust: satCert, in: dir)
        #expect(!anonymous.output.contains("SIP/2.0"), "no client certificate: \(anonymous.output.prefix(300))")
        let snap = await sat.controller.snapshot()
        #expect(snap.transport.connections["tls_key_not_pinned"] == 1, "\(snap.transport.connections)")
        await sat.stop()
    }

    @Test func metricsEndpointServesPrometheusText() async throws {
        let sat = try await SatelliteHarness(slot: 22, acl: ["10.0.0.0/8"])
        let metrics = try await MetricsServer(host: "127.0.0.1", port: 0, controller: sat.controller, relay: sat.relay)
        let sipPort = sat.port
        let metricsPort = metrics.port
        let text = await onThread { () -> String in
            // One refused connection first, so a counter has a value.
            if let c = RawSIPClient(port: sipPort) {
                c.send(SIPText.options())
                _ = c.read()
            }
            guard let c = RawSIPClient(port: metricsPort) else { return "" }
            c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            return c.read().text
        }
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        #expect(text.contains("# TYPE trabant_sip_calls_started_total counter"))
        #expect(text.contains("trabant_sip_connections_total{verdict=\"not_in_acl\"} 1"))
        #expect(text.contains("trabant_media_ports_capacity 200"))
        let notFound = await onThread { () -> String in
            guard let c = RawSIPClient(port: metricsPort) else { return "" }
            c.send("GET /admin HTTP/1.1\r\nHost: x\r\n\r\n")
            return c.read().text
        }
        #expect(notFound.hasPrefix("HTTP/1.1 404"))
        await metrics.stop()
        await sat.stop()
    }
}

/// Python's ssl module as a TLS SIP client: sends OPTIONS, prints the TLS version and the answer.
enum TLSClient {
    static let script = """
        import socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[2])
        ctx.check_hostname = False
        if len(sys.argv) > 4:
            ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
            s.sendall(sys.stdin.buffer.read())
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            print(s.version())
            print(data.decode(errors="replace"))
            if len(sys.argv) > 5 and sys.argv[5] == "hold":
                sys.stdout.flush()
                s.settimeout(8)
                print("closed by the satellite" if s.recv(100) == b"" else "more data")
        except (ssl.SSLError, OSError) as e:
            print("tls error:", e)
        """

    static func options(
        python: String, port: Int, trust: String, client: (String, String)? = nil, hold: Bool = false, in dir: URL
    ) async throws -> External.Result {
        let scriptPath = dir.appendingPathComponent("client.py").path
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let input = dir.appendingPathComponent("options.txt")
        try SIPText.options().write(to: input, atomically: true, encoding: .utf8)
        let certArgs = client.map { " \($0.0) \($0.1)" } ?? ""
        return try await External.run(
            "/bin/sh", ["-c", "\(python) \(scriptPath) \(port) \(trust)\(certArgs)\(hold ? " hold" : "") < \(input.path)"], timeout: 20)
    }
}
