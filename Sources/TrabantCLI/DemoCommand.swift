import ArgumentParser
import Demo
import Foundation
import TrabantConfig

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Make a short SRTP call through a media relay on loopback and explain what happened.")

    @Flag(help: "Print the report as JSON instead of plain words.")
    var json = false

    @Option(help: "Media port range LOW-HIGH for the demo's relay.")
    var portRange = "40000-49999"

    func run() async throws {
        let parts = portRange.split(separator: "-").compactMap { UInt16($0) }
        guard parts.count == 2, parts[0] >= 1024, parts[0] < parts[1] else {
            throw ValidationError("--port-range '\(portRange)' is not LOW-HIGH with 1024 <= LOW < HIGH <= 65535")
        }
        StderrLogHandler.bootstrap(format: .text, level: .warning)
        let report = try await MediaDemo.run(portRange: parts[0]...parts[1]) { line in
            if !json { print(line) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
        if !report.ok { throw ExitCode.failure }
    }
}
