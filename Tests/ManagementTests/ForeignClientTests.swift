import Foundation
import TestSupport
import Testing

@testable import Management
@testable import PKI

/// The bridge is plain gRPC over TLS 1.3: a foreign client (Python grpcio) reaches it with
/// the paired key and is refused with any other; sslyze finds TLS 1.3 and nothing older.
@Suite("Management: foreign clients (grpcio, sslyze)", .serialized)
struct ForeignClientTests {
    /// The python3 on PATH (where .ci/run installs grpcio, grpcio-tools and sslyze).
    static func python() throws -> String? {
        guard let python = External.onPath("python3") else {
            _ = try requireTool("python3")
            return nil
        }
        return python
    }

    /// Writes an identity's PEM files into `dir`.
    static func files(_ identity: Identity, _ name: String, in dir: URL) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("\(name).crt").path
        let key = dir.appendingPathComponent("\(name).key").path
        try identity.certificatePEM.write(toFile: cert, atomically: true, encoding: .utf8)
        try identity.privateKeyPEM.write(toFile: key, atomically: true, encoding: .utf8)
        return (cert, key)
    }

    static func json(_ r: External.Result) throws -> [String: Any] {
        let text = r.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init) ?? ""
        return try #require(
            try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "no JSON in: \(r.output.suffix(2000))")
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-foreign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func grpcioReachesTheAPIWithThePairedKeyOnly() async throws {
        guard let python = try Self.python() else { return }
        let sat = try await SatelliteUnderTest(slot: 10)
        let server = try ServerSide()
        let client = try server.client(sat)
        _ = try await client.pair(code: try sat.code(), serverName: "s")
        await client.close()

        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let satCert = try Self.files(sat.bridge.identity, "satellite", in: dir).cert
        let paired = try Self.files(server.identity, "server", in: dir)
        let stranger = try Self.files(try Identity.generate(role: "server"), "stranger", in: dir)
        let script = interopDirectory + "/grpc/bridge_client.py"
        let protos = URL(fileURLWithPath: interopDirectory).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Protos").path

        func call(_ who: (cert: String, key: String)) async throws -> [String: Any] {
            let r = try await External.run(python, [
                script, "--port", "\(sat.port)", "--satellite-cert", satCert, "--cert", who.cert, "--key", who.key,
                "--release", TrabantRelease.current, "--proto-root", protos,
            ], timeout: 60)
            return try Self.json(r)
        }
        let ok = try await call(paired)
        #expect(ok["ok"] as? Bool == true, "\(ok)")
        let status = ok["status"] as? [String: Any]
        #expect(status?["release"] as? String == TrabantRelease.current)
        #expect(status?["satellite_fingerprint"] as? String == sat.bridge.identity.fingerprint.hex)
        #expect(ok["calls"] as? Int == 0)

        let refused = try await call(stranger)
        #expect(refused["ok"] as? Bool == false, "\(refused)")
        #expect(refused["code"] as? String == "UNAVAILABLE")
        #expect((sat.bridge.refusalCounts["bridge_key_not_pinned"] ?? 0) >= 1)
        await sat.stop()
    }

    @Test func sslyzeFindsTLS13Only() async throws {
        guard let python = try Self.python() else { return }
        let sat = try await SatelliteUnderTest(slot: 11)
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Unpaired, any client key may connect (to pair): the scan's own key is enough.
        let scanner = try Self.files(try Identity.generate(role: "server"), "scanner", in: dir)
        let r = try await External.run(python, [
            interopDirectory + "/grpc/tls_scan.py", "--port", "\(sat.port)", "--cert", scanner.cert, "--key", scanner.key,
        ], timeout: 120)
        let result = try Self.json(r)
        let accepted = try #require(result["accepted"] as? [String: Int], "\(result)")
        #expect((accepted["tls_1_3"] ?? 0) > 0, "TLS 1.3 accepted: \(result)")
        for old in ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1", "tls_1_2"] {
            #expect(accepted[old] == 0, "\(old) refused: \(result)")
        }
        await sat.stop()
    }
}
