import CallControl
import Foundation
import Logging
import MediaRelay
import PKI
import SDP
import Testing

/// A satellite in the test process: the media relay and the call controller on loopback,
/// with the controller on a free port and media ports from the test's own range.
final class SatelliteHarness: Sendable {
    let relay: MediaRelay
    let controller: CallController
    let port: Int

    /// `slot` picks a private range of media ports (61000+ is the relay tests' own).
    init(slot: Int, acl: [String] = ["127.0.0.1/32"], targetACL: [String]? = nil, limits: AccessGate.Limits = .init(),
         ringTimeout: Double = 30, tls: (certificate: String, key: String)? = nil, plainRTPNetworks: [String] = [],
         identity: Identity? = nil, serverPins: PinSet = PinSet()
    ) async throws {
        var media = RelayConfiguration()
        media.bindHost = "127.0.0.1"
        let low = UInt16(50000 + slot * 200)
        media.portRange = low...(low + 199)
        media.portQuarantine = 0
        relay = try MediaRelay(configuration: media, logger: Logger(label: "test.media"))
        let networks = try acl.map { try CIDR(parsing: $0) }
        let targets = try (targetACL ?? acl).map { try CIDR(parsing: $0) }
        var logger = Logger(label: "test.sip")
        logger.logLevel = .warning
        var core = CoreSettings(advertisedHost: "127.0.0.1", advertisedPort: 0, targetNetworks: targets, ringTimeout: ringTimeout)
        core.plainRTPNetworks = try plainRTPNetworks.map { try CIDR(parsing: $0) }
        core.advertisedTLSPort = 0  // the bound one
        var settings = CallControllerSettings(
            bindHost: "127.0.0.1", tcpPort: 0, tlsPort: 0, tlsCertificatePath: tls?.certificate, tlsKeyPath: tls?.key,
            acl: networks, limits: limits, core: core, drainTimeout: 5)
        settings.tlsIdentity = identity
        settings.serverPins = serverPins
        controller = CallController(settings: settings, relay: relay, logger: logger)
        port = try await controller.start()["tcp"]!
    }

    func stop() async {
        await controller.stop()
        await relay.shutdown()
    }
}

/// Runs an external program to completion without blocking the cooperative pool.
enum External {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    static func which(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Starts `path args` and returns its process; output goes to a temporary file.
    static func start(_ path: String, _ args: [String]) throws -> (Process, URL) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return (p, log)
    }

    /// Waits for a process (bounded); kills it after `timeout` seconds.
    static func wait(_ p: Process, log: URL, timeout: Double) async -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning {
            p.terminate()
            try? await Task.sleep(for: .milliseconds(300))
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        while p.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        let out = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return Result(status: p.terminationStatus, output: out)
    }

    static func run(_ path: String, _ args: [String], timeout: Double) async throws -> Result {
        let (p, log) = try start(path, args)
        return await wait(p, log: log, timeout: timeout)
    }
}

/// Real SIP peers need their tools; in CI a missing tool fails the test instead of skipping.
func requireTool(_ name: String) throws -> String? {
    if let path = External.which(name) { return path }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("\(name) is not installed; .ci/run installs it (apt)")
    }
    return nil
}

var sippDirectory: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/sipp").path
}
