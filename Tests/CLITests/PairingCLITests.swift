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
}
