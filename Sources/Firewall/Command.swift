import Foundation

/// Runs a firewall tool (nft, iptables-restore, ipset …) to completion, input on stdin.
public enum Command {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var ok: Bool { status == 0 }
    }

    /// `/usr/sbin/NAME` or `/sbin/NAME` or on PATH.
    public static func path(_ name: String) -> String? {
        let dirs = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public static func run(_ name: String, _ args: [String], input: String? = nil) throws(FirewallError) -> Result {
        guard let exe = path(name) else {
            throw FirewallError("\(name) is not installed (apt-get install \(name == "nft" ? "nftables" : name == "ipset" ? "ipset" : "iptables"))")
        }
        // Files, not pipes: no deadlock on large output, no SIGPIPE when the tool exits early.
        let dir = FileManager.default.temporaryDirectory
        let id = "trabant-cmd-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let inURL = dir.appendingPathComponent(id + ".in")
        let outURL = dir.appendingPathComponent(id + ".out")
        let errURL = dir.appendingPathComponent(id + ".err")
        defer {
            for u in [inURL, outURL, errURL] { try? FileManager.default.removeItem(at: u) }
        }
        do {
            try Data((input ?? "").utf8).write(to: inURL)
            for u in [outURL, errURL] { _ = FileManager.default.createFile(atPath: u.path, contents: nil) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            p.standardInput = try FileHandle(forReadingFrom: inURL)
            p.standardOutput = try FileHandle(forWritingTo: outURL)
            p.standardError = try FileHandle(forWritingTo: errURL)
            try p.run()
            p.waitUntilExit()
            return Result(
                status: p.terminationStatus, stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
        } catch {
            throw FirewallError("cannot run \(exe): \(error.localizedDescription)")
        }
    }
}
