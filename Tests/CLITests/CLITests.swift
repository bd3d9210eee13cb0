import Foundation
import Testing

@Suite("The trabant command, run as an operator runs it", .serialized)
struct CLITests {
    @Test func demoMakesACallAndReportsEverything() throws {
        let r = try TrabantBinary.run(["demo", "--json", "--port-range", "64000-64999"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(report?["ok"] as? Bool == true)
        #expect(report?["portsClosed"] as? Bool == true)
        #expect(report?["injectionDelivered"] as? Int == 0)
        let legs = report?["legs"] as? [[String: Any]] ?? []
        #expect(legs.count == 2)
        #expect(legs.allSatisfy { ($0["receivedByPeer"] as? Int) == 50 })
        #expect(Set(legs.compactMap { $0["suite"] as? String }) == ["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"])
    }

    @Test func demoInPlainWords() throws {
        let r = try TrabantBinary.run(["demo", "--port-range", "64000-64999"])
        #expect(r.status == 0)
        for phrase in ["AEAD_AES_128_GCM", "heard 440 Hz", "heard 880 Hz", "4 of 4 dropped", "open after hang-up 0", "result   OK"] {
            #expect(r.stdout.contains(phrase), "missing '\(phrase)' in:\n\(r.stdout)")
        }
    }

    @Test func exampleConfigurationIsValid() throws {
        let path = TrabantBinary.repositoryRoot.appendingPathComponent("examples/satellite.yaml").path
        let r = try TrabantBinary.run(["satellite", "--config", path, "--check-config"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("configuration OK"))
    }

    @Test func badConfigurationExitsNonZeroWithAClearMessage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try "media:\n  port_range: 40000-3\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try TrabantBinary.run(["satellite", "--config", file.path, "--data-dir", dir.path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("bad.yaml:2: media.port_range"))
        let env = try TrabantBinary.run(["satellite", "--check-config"], environment: ["TRABANT_LOG__LEVEL": "loud"])
        #expect(env.status == 78)
        #expect(env.stderr.contains("TRABANT_LOG__LEVEL"))
        #expect(env.stderr.contains("trace, debug, info"))
    }

    @Test func satelliteRunsAndStopsOnSIGTERM() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-cli-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try TrabantBinary.start(
            ["satellite", "--data-dir", dir.path, "--log-format", "json"],
            environment: ["TRABANT_MEDIA__BIND": "127.0.0.1", "TRABANT_MEDIA__PORT_RANGE": "64000-64999"])
        // Wait (bounded) for the ready line, then stop it like systemd would.
        var stderr = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !String(decoding: stderr, as: UTF8.self).contains("media relay ready") {
            stderr += p.err.fileHandleForReading.availableData
        }
        let text = String(decoding: stderr, as: UTF8.self)
        let ready = text.split(separator: "\n").first { $0.contains("media relay ready") }
        #expect(ready != nil, "no ready line in: \(text)")
        if let ready {
            let json = try JSONSerialization.jsonObject(with: Data(ready.utf8)) as? [String: String]
            #expect(json?["media.port_range"] == "64000-64999")
            #expect(json?["level"] == "info")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        // The satellite made its own identity on first start: private files, logged fingerprint.
        #expect(text.contains("made the satellite's identity"), "\(text.prefix(2000))")
        for file in ["identity.key", "identity.crt"] {
            let a = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(file).path)
            #expect((a[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
        p.process.terminate()  // SIGTERM
        let stopBy = Date().addingTimeInterval(15)
        while p.process.isRunning && Date() < stopBy { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!p.process.isRunning, "satellite did not stop on SIGTERM")
        if p.process.isRunning { kill(p.process.processIdentifier, SIGKILL) }
        p.process.waitUntilExit()
        #expect(p.process.terminationStatus == 0)
    }
}
