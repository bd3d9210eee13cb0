import Foundation
import Testing

/// Runs the built `trabant` executable, as an operator would.
enum TrabantBinary {
    static var url: URL {
        // The test runner lives in the same build directory as the products.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("trabant").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("trabant")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `trabant args…` to completion (bounded by `timeout` seconds; killed after that).
    static func run(_ args: [String], environment: [String: String] = [:], timeout: Double = 60) throws -> Result {
        let p = try start(args, environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        while p.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.process.isRunning {
            p.process.terminate()
            Issue.record("trabant \(args) did not finish within \(timeout) s")
        }
        p.process.waitUntilExit()
        return Result(
            status: p.process.terminationStatus,
            stdout: String(decoding: p.out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: p.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    static func start(_ args: [String], environment: [String: String] = [:]) throws -> (
        process: Process, out: Pipe, err: Pipe
    ) {
        let process = Process()
        process.executableURL = url
        process.arguments = args
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TRABANT_") }
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}
