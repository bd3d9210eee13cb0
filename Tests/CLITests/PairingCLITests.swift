import Foundation
import Testing

/// Pairing as operators do it, with the built binary: the satellite shows a code, the server
/// pairs with it, lists it, and loses it when the satellite is unpaired locally.
@Suite("CLI: pairing a satellite")
struct PairingCLITests {
    static let environment = [
        "TRABANT_MEDIA__BIND": "127.0.0.1", "TRABANT_MEDIA__PORT_RANGE": "64100-64199",
        "TRABANT_SIP__BIND": "127.0.0.1", "TRABANT_SIP__TCP_PORT": "64710", "TRABANT_SIP__TLS_PORT": "64711",
        "TRABANT_MANAGEMENT__LISTEN": "127.0.0.1:64712", "TRABANT_METRICS__LISTEN": "off",
    ]

    @Test func codePairListUnpair() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-pair-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let satDir = root.appendingPathComponent("satellite").path
        let srvDir = root.appendingPathComponent("server").path
        let sat = try TrabantBinary.start(["satellite", "--data-dir", satDir, "--log-format", "json"], environment: Self.environment)
        defer {
            sat.process.terminate()
            sat.process.waitUntilExit()
        }
        // The log shows the code once the bridge listens.
        var stderr = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !String(decoding: stderr, as: UTF8.self).contains("pairing.code") {
            stderr += sat.err.fileHandleForReading.availableData
        }
        let line = String(decoding: stderr, as: UTF8.self).split(separator: "\n").first { $0.contains("pairing.code") }
        let logged = try #require(line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] })
        let codeInLog = try #require(logged["pairing.code"])

        // The local command shows the same code.
        let shown = try TrabantBinary.run(["satellite", "pairing-code", "--data-dir", satDir])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("pairing code:  \(codeInLog)"), "\(shown.stdout)")

        // A wrong code first: refused, nothing stored on the server.
        let wrong = try TrabantBinary.run(["pair", "--satellite", "127.0.0.1:64712", "--code", "00000-00000-00000-00000", "--data-dir", srvDir])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("wrong pairing proof"), "\(wrong.stderr)")

        let paired = try TrabantBinary.run(["pair", "--satellite", "127.0.0.1:64712", "--code", codeInLog.lowercased(), "--name", "dmz-1", "--data-dir", srvDir])
        #expect(paired.status == 0, "\(paired.stderr)")
        #expect(paired.stdout.contains("paired with dmz-1"), "\(paired.stdout)")
        let notAgain = try TrabantBinary.run(["satellite", "pairing-code", "--data-dir", satDir])
        #expect(notAgain.status == 1)
        #expect(notAgain.stdout.contains("paired with"))

        let listed = try TrabantBinary.run(["satellites", "--data-dir", srvDir, "--json"])
        #expect(listed.status == 0)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any], "\(listed.stdout)")
        #expect(entry["name"] as? String == "dmz-1")
        #expect(entry["state"] as? String == "online", "\(entry)")
        #expect(entry["calls"] as? Int == 0)

        // SIP over TLS on the satellite now takes the paired server's key only.
        let tls = try sipOverTLS(port: 64711, certificate: srvDir + "/identity.crt", key: srvDir + "/identity.key")
        #expect(tls.contains("SIP/2.0 200 OK"), "the server's key: \(tls)")
        let strangerDir = root.appendingPathComponent("stranger").path
        _ = try TrabantBinary.run(["satellites", "--data-dir", strangerDir])  // makes a server identity there
        let refused = try sipOverTLS(port: 64711, certificate: strangerDir + "/identity.crt", key: strangerDir + "/identity.key")
        #expect(!refused.contains("SIP/2.0"), "another key: \(refused)")

        // Both keys rotate over the pinned channel; the pairing holds.
        let rotated = try TrabantBinary.run(["satellites", "rotate-key", "dmz-1", "--data-dir", srvDir])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("new satellite key"))
        let serverRotated = try TrabantBinary.run(["satellites", "rotate-server-key", "--data-dir", srvDir])
        #expect(serverRotated.status == 0, "\(serverRotated.stdout) \(serverRotated.stderr)")
        #expect(serverRotated.stdout.contains("confirmed by: dmz-1"), "\(serverRotated.stdout)")
        let stillOnline = try TrabantBinary.run(["satellites", "--data-dir", srvDir, "--json"])
        #expect(stillOnline.stdout.contains("\"state\":\"online\""), "\(stillOnline.stdout)")
        let tlsAfter = try sipOverTLS(port: 64711, certificate: srvDir + "/identity.crt", key: srvDir + "/identity.key")
        #expect(tlsAfter.contains("SIP/2.0 200 OK"), "SIP over TLS follows the server's new key: \(tlsAfter)")

        // Unpairing needs --yes, and locks the server out.
        let ask = try TrabantBinary.run(["satellite", "unpair", "--data-dir", satDir])
        #expect(ask.status == 1)
        #expect(ask.stdout.contains("--yes"))
        let unpair = try TrabantBinary.run(["satellite", "unpair", "--data-dir", satDir, "--yes"])
        #expect(unpair.status == 0, "\(unpair.stderr)")
        Thread.sleep(forTimeInterval: 1.5)  // the running satellite looks at its files every second
        let after = try TrabantBinary.run(["satellites", "--data-dir", srvDir, "--json"])
        let offline = try #require(try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [String: Any], "\(after.stdout)")
        #expect(offline["state"] as? String == "offline", "\(offline)")
    }

    @Test func badArgumentsSayWhatIsAllowed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-pairargs-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noCode = try TrabantBinary.run(["pair", "--satellite", "10.0.0.5", "--data-dir", dir])
        #expect(noCode.status != 0)
        #expect(noCode.stderr.contains("--code"))
        let badHost = try TrabantBinary.run(["pair", "--satellite", "sat.example.com", "--code", "00000-00000-00000-00000", "--data-dir", dir])
        #expect(badHost.status == 1)
        #expect(badHost.stderr.contains("IP address"), "\(badHost.stderr)")
        let badCode = try TrabantBinary.run(["pair", "--satellite", "10.0.0.5", "--code", "123", "--data-dir", dir])
        #expect(badCode.status == 1)
        #expect(badCode.stderr.contains("20 symbols"), "\(badCode.stderr)")
    }

    /// OPTIONS over TLS with a client certificate (python's ssl), the satellite not verified
    /// (this checks what the satellite accepts). Returns the answer or the TLS error.
    func sipOverTLS(port: Int, certificate: String, key: String) throws -> String {
        let script = """
            import socket, ssl, sys
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.load_cert_chain(sys.argv[2], sys.argv[3])
            try:
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
                s.sendall(b"OPTIONS sip:127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKcli1\\r\\n"
                          b"Max-Forwards: 70\\r\\nFrom: <sip:cli@127.0.0.1>;tag=1\\r\\nTo: <sip:127.0.0.1>\\r\\n"
                          b"Call-ID: cli-options-1\\r\\nCSeq: 1 OPTIONS\\r\\nContent-Length: 0\\r\\n\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk: break
                    data += chunk
                print(data.decode(errors="replace"))
            except (ssl.SSLError, OSError) as e:
                print("tls error:", e)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, "\(port)", certificate, key]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
