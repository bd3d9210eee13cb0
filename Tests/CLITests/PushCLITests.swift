import Crypto
import CryptoExtras
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PushEmulator
import PushPayload
import Testing

/// `trabant push send` and `trabant push-relay` as operators run them, with the built binary,
/// against the provider emulator (HTTP/2 + TLS on loopback, its CA given as push.ca_file).
@Suite("CLI: push send and the push relay", .serialized)
struct PushCLITests {
    struct World {
        let emulator: ProviderEmulator
        let dir: URL
        let device = Curve25519.KeyAgreement.PrivateKey()

        static func make() async throws -> World {
            let apnsKey = P256.Signing.PrivateKey()
            let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let emulator = try await ProviderEmulator(
                apnsKey: apnsKey.publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
                fcmKey: rsa.publicKey, fcmProject: "acme", fcmEmail: "push@acme.iam.gserviceaccount.com",
                tokenURI: { "https://127.0.0.1:\($0)/token" })
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-push-\(UUID())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let w = World(emulator: emulator, dir: dir)
            try w.write("ca.pem", try emulator.ca.certificate.serializeAsPEM().pemString)
            try w.write("AuthKey.p8", apnsKey.pemRepresentation)
            try w.write("service-account.json", String(decoding: try JSONSerialization.data(withJSONObject: [
                "type": "service_account", "project_id": "acme", "private_key_id": "k1", "private_key": rsa.pemRepresentation,
                "client_email": "push@acme.iam.gserviceaccount.com", "token_uri": emulator.tokenURI,
            ]), as: UTF8.self))
            // The emulator answers on 127.0.0.1; its certificate names that address too.
            return w
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        var providers: String {
            """
              ca_file: ca.pem
              apns:
                bundle_id: com.example.phone
                key_file: AuthKey.p8
                key_id: KEY1234567
                team_id: TEAM123456
                url: https://127.0.0.1:\(emulator.port)
              fcm:
                service_account_file: service-account.json
                url: https://127.0.0.1:\(emulator.port)
            """
        }

        func sendArgs(config: String, dataDir: String, provider: String, token: String) -> [String] {
            ["push", "send", "--config", path(config), "--data-dir", dataDir, "--provider", provider, "--token", token,
             "--device-key-id", "phone-1", "--device-key=\(device.publicKey.rawRepresentation.base64URL)", "--caller", "Alice", "--json"]
        }

        func stop() {
            emulator.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func pushSendDirectlyToAPNsAndFCM() async throws {
        let w = try await World.make()
        defer { w.stop() }
        try w.write("server.yaml", "push:\n" + w.providers + "\n")
        let apns = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "apns", token: String(repeating: "ab", count: 32)))
        #expect(apns.status == 0, "\(apns.stdout) \(apns.stderr)")
        let out = try JSONSerialization.jsonObject(with: Data(apns.stdout.utf8)) as? [String: Any]
        #expect((out?["outcome"] as? [String: Any])?["outcome"] as? String == "delivered")
        #expect(out?["via"] as? String == "direct")
        // A second test push a second later reuses the provider token kept in the data directory
        // (a new one within 20 minutes would be refused by APNs).
        try await Task.sleep(for: .milliseconds(1100))
        let again = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "apns", token: String(repeating: "ab", count: 32)))
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        #expect(w.emulator.state.withLock { $0.apnsTokensSeen.count } == 1)
        let fcm = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "fcm", token: "fcm:pixel"))
        #expect(fcm.status == 0, "\(fcm.stdout) \(fcm.stderr)")
        let pushes = w.emulator.pushes
        #expect(pushes.map(\.provider) == ["apns", "apns", "fcm"])
        // The phone opens what arrived; the test push says who "called".
        let sealed = try JSONDecoder().decode(SealedNotice.self, from: JSONSerialization.data(withJSONObject: pushes[0].body["trabant"]!))
        #expect(try NoticeSeal.open(sealed, with: w.device).caller == "Alice")
        // A dead token: exit 1 and the outcome says so.
        w.emulator.state.withLock { $0.deadTokens = ["fcm:gone"] }
        let dead = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "fcm", token: "fcm:gone"))
        #expect(dead.status == 1)
        #expect(dead.stdout.contains("dead_token"), "\(dead.stdout)")
    }

    @Test func aServerPushesThroughTheRelayOnceRegistered() async throws {
        let w = try await World.make()
        defer { w.stop() }
        let relayCert = try w.emulator.ca.issue(names: ["push-relay.test"])
        try w.write("relay.pem", relayCert.certificatePEM)
        try w.write("relay.key", relayCert.keyPEM)
        try w.write("relay.yaml", """
            relay:
              listen: 127.0.0.1:0
              certificate_file: relay.pem
              key_file: relay.key
              metrics: 127.0.0.1:0
            push:
            \(w.providers)

            """)
        let relay = try TrabantBinary.start(
            ["push-relay", "run", "--config", w.path("relay.yaml"), "--data-dir", w.path("relay-data"), "--log-format", "json"])
        defer {
            relay.process.terminate()
            relay.process.waitUntilExit()
        }
        // The log names the ports it got.
        var log = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, relay.process.isRunning, !String(decoding: log, as: UTF8.self).contains("/metrics") {
            log += relay.err.fileHandleForReading.availableData
        }
        let lines = String(decoding: log, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
        let listen = try #require(lines.compactMap { $0["relay.listen"] }.first, "\(String(decoding: log, as: UTF8.self))")
        let relayPort = try #require(listen.split(separator: ":").last.flatMap { Int($0) })
        let metricsLine = try #require(lines.compactMap { $0["message"] }.first { $0.hasPrefix("metrics at ") })
        let metricsURL = try #require(URL(string: String(metricsLine.dropFirst("metrics at ".count))))
        try w.write("server.yaml", "push:\n  ca_file: ca.pem\n  retry:\n    attempts: 1\n  relay:\n    url: https://127.0.0.1:\(relayPort)\n")

        // Not registered yet: refused, and told which key to register.
        let refused = try TrabantBinary.run(
            w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "fcm", token: "fcm:pixel").filter { $0 != "--json" })
        #expect(refused.status == 1)
        let key = try TrabantBinary.run(["push", "key", "--data-dir", w.path("srv")])
        let fingerprint = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fingerprint.hasPrefix("sha256:") && fingerprint.count == 71, "\(key.stdout)")
        #expect(refused.stdout.contains(fingerprint), "the refusal names the key to register: \(refused.stdout)")

        let add = try TrabantBinary.run(["push-relay", "add-server", "--data-dir", w.path("relay-data"), "--name", "acme", "--fingerprint", fingerprint])
        #expect(add.status == 0, "\(add.stderr)")
        let list = try TrabantBinary.run(["push-relay", "servers", "--data-dir", w.path("relay-data")])
        #expect(list.stdout.contains("acme") && list.stdout.contains(fingerprint))

        let sent = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "fcm", token: "fcm:pixel"))
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stdout.contains("\"via\":\"relay\""))
        #expect(w.emulator.pushes.count == 1)
        #expect(!String(decoding: w.emulator.pushes[0].bytes, as: UTF8.self).contains("Alice"))

        // The relay's metrics count the push by provider and outcome, and the request by server.
        let (body, _) = try await URLSession.shared.data(from: metricsURL)
        let metrics = String(decoding: body, as: UTF8.self)
        #expect(metrics.contains("trabant_push_total{provider=\"fcm\",outcome=\"delivered\"} 1"), "\(metrics)")
        #expect(metrics.contains("trabant_push_relay_requests_total{server=\"acme\",result=\"accepted\"} 1"))

        let remove = try TrabantBinary.run(["push-relay", "remove-server", "--data-dir", w.path("relay-data"), "--name", "acme"])
        #expect(remove.status == 0)
        let after = try TrabantBinary.run(w.sendArgs(config: "server.yaml", dataDir: w.path("srv"), provider: "fcm", token: "fcm:pixel"))
        #expect(after.status == 1)
        #expect(w.emulator.pushes.count == 1)
    }

    @Test func badConfigurationsSayWhatIsWrong() async throws {
        let w = try await World.make()
        defer { w.stop() }
        // Relay and own credentials together.
        try w.write("both.yaml", "push:\n" + w.providers + "\n  relay:\n    url: https://127.0.0.1:1\n")
        let both = try TrabantBinary.run(w.sendArgs(config: "both.yaml", dataDir: w.path("srv"), provider: "fcm", token: "t"))
        #expect(both.status == 78)
        #expect(both.stderr.contains("push.relay.url") && both.stderr.contains("not both"), "\(both.stderr)")
        // The relay's configuration has no place for SIP.
        try w.write("relay-sip.yaml", "relay:\n  certificate_file: x.pem\nsip:\n  acl: [10.0.0.0/8]\n")
        let sip = try TrabantBinary.run(["push-relay", "run", "--config", w.path("relay-sip.yaml"), "--check-config"])
        #expect(sip.status == 78)
        #expect(sip.stderr.contains("sip.acl") && sip.stderr.contains("unknown key"), "\(sip.stderr)")
        // The relay's key must be its certificate's; a missing file is named as missing.
        let a = try w.emulator.ca.issue(names: ["relay.test"])
        let b = try w.emulator.ca.issue(names: ["relay.test"])
        try w.write("a.pem", a.certificatePEM)
        try w.write("b.key", b.keyPEM)
        try w.write("relay-mismatch.yaml", "relay:\n  certificate_file: a.pem\n  key_file: b.key\npush:\n" + w.providers + "\n")
        let mismatch = try TrabantBinary.run(["push-relay", "run", "--config", w.path("relay-mismatch.yaml"), "--check-config"])
        #expect(mismatch.status == 78)
        #expect(mismatch.stderr.contains("relay.key_file") && mismatch.stderr.contains("not the key of"), "\(mismatch.stderr)")
        try w.write("relay-missing.yaml", "relay:\n  certificate_file: nowhere.pem\n  key_file: b.key\npush:\n" + w.providers + "\n")
        let missing = try TrabantBinary.run(["push-relay", "run", "--config", w.path("relay-missing.yaml"), "--check-config"])
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("cannot read") && missing.stderr.contains("nowhere.pem"), "\(missing.stderr)")
        // A wrong key id names the key and what is allowed.
        try w.write("badkid.yaml", "push:\n" + w.providers.replacingOccurrences(of: "KEY1234567", with: "short") + "\n")
        let kid = try TrabantBinary.run(w.sendArgs(config: "badkid.yaml", dataDir: w.path("srv"), provider: "apns", token: "t"))
        #expect(kid.status == 78)
        #expect(kid.stderr.contains("push.apns.key_id") && kid.stderr.contains("10-character"), "\(kid.stderr)")
        // A proxy URL with credentials in it.
        try w.write("proxy.yaml", "push:\n  proxy:\n    url: http://user:pw@proxy:3128\n")
        let proxy = try TrabantBinary.run(w.sendArgs(config: "proxy.yaml", dataDir: w.path("srv"), provider: "fcm", token: "t"))
        #expect(proxy.status == 78)
        #expect(proxy.stderr.contains("push.proxy.username"), "\(proxy.stderr)")
        // A bad device key.
        try w.write("ok.yaml", "push:\n" + w.providers + "\n")
        let badKey = try TrabantBinary.run(["push", "send", "--config", w.path("ok.yaml"), "--provider", "fcm", "--token", "t",
            "--device-key-id", "p", "--device-key", "abc"])
        #expect(badKey.status != 0)
        #expect(badKey.stderr.contains("32 bytes"), "\(badKey.stderr)")
        #expect(w.emulator.pushes.isEmpty)
    }

    /// `trabant bench push --json` prints one object {"direct": P, "proxy": P} (a debug build:
    /// the figures are not benchmarks, only the shape and that nothing failed are checked).
    @Test func benchPushPrintsDirectAndProxyFigures() throws {
        let squid = ["/usr/sbin/squid", "/usr/bin/squid"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if squid == nil, ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("squid is not installed; .ci/run installs it") }
        let r = try TrabantBinary.run(["bench", "push", "--count", "300", "--concurrency", "16", "--json"] + (squid == nil ? ["--no-proxy"] : []),
            timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [String: Any]])
        #expect(Set(object.keys) == (squid == nil ? ["direct"] : ["direct", "proxy"]))
        for (name, p) in object {
            #expect((p["pushes_per_second"] as? Double ?? 0) > 0, "\(name)")
            #expect(p["failed"] as? Int == 0, "\(name)")
            #expect(p["sent"] as? Int == 300, "\(name)")
            #expect((p["rss_bytes_start"] as? Int ?? 0) > 0 && (p["rss_bytes_end"] as? Int ?? 0) > 0, "\(name)")
            #expect((p["sender_cpu_us_per_push"] as? Double ?? 0) > 0 && (p["emulator_cpu_us_per_push"] as? Double ?? 0) > 0, "\(name)")
        }
    }

    /// `--breakdown` adds a notice sealed once (the transport alone) and nghttp2's h2load
    /// sending the same request to the same emulator.
    @Test func benchPushBreakdownAddsPresealedAndH2load() throws {
        let h2load = FileManager.default.isExecutableFile(atPath: "/usr/bin/h2load")
        if !h2load, ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("h2load is not installed; .ci/run installs nghttp2-client") }
        guard h2load else { return }
        let r = try TrabantBinary.run(["bench", "push", "--count", "300", "--concurrency", "16", "--no-proxy", "--breakdown", "--json"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [String: Any]])
        #expect(Set(object.keys) == ["direct", "direct_presealed", "h2load"])
        for (name, p) in object {
            #expect((p["pushes_per_second"] as? Double ?? 0) > 0, "\(name)")
            #expect(p["failed"] as? Int == 0 && p["sent"] as? Int == 300, "\(name)")
        }
        #expect((object["h2load"]?["client_cpu_us_per_push"] as? Double ?? 0) > 0)
    }
}
