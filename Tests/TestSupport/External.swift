import Foundation
import Testing

/// Runs an external program to completion without blocking the cooperative pool.
public enum External {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
    }

    /// The first `name` on PATH: the python3 that `python3 -m pip` installed packages for.
    public static func onPath(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in dirs where !dir.isEmpty {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return which(name)
    }

    public static func which(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Starts `path args` and returns its process; output goes to a temporary file.
    public static func start(_ path: String, _ args: [String]) throws -> (Process, URL) {
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
    public static func wait(_ p: Process, log: URL, timeout: Double) async -> Result {
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

    public static func run(_ path: String, _ args: [String], timeout: Double) async throws -> Result {
        let (p, log) = try start(path, args)
        return await wait(p, log: log, timeout: timeout)
    }
}

/// Real SIP peers need their tools; in CI a missing tool fails the test instead of skipping.
public func requireTool(_ name: String) throws -> String? {
    if let path = External.which(name) { return path }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("\(name) is not installed; .ci/run installs it (apt)")
    }
    return nil
}

/// Tests/Interop/sipp: the sipp scenarios.
public var sippDirectory: String { interopDirectory + "/sipp" }

/// Tests/Interop: scripts and scenarios of the real peers.
public var interopDirectory: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop").path
}
