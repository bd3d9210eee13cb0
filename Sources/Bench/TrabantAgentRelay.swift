import Foundation
import MediaRelay
import SRTP

/// Trabant's relay as a separate process (`trabant-bench-agent`), pinned to one CPU and,
/// where the malloc interposer is available, counting its heap allocations.
public final class TrabantAgentRelay: BenchRelay, @unchecked Sendable {
    public let name = "trabant"
    public private(set) var pid: Int32 = 0
    private let executable: URL
    private let cpu: Int
    private let threads: Int
    private let portRange: String
    private let engine: String
    private var process: Process?
    private var input: FileHandle?
    private var output: FileHandle?
    private var buffered = Data()
    private let preload: String?

    public init(executable: URL, cpu: Int = 1, threads: Int = 1, portRange: String = "30000-59999", engine: String, preload: String?) {
        self.executable = executable
        self.cpu = cpu
        self.threads = threads
        self.portRange = portRange
        self.engine = engine
        self.preload = preload
    }

    public func start() throws {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw BenchError("trabant-bench-agent not found at \(executable.path); build it with: swift build -c release")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        p.arguments = ["-c", String(cpu), executable.path, "--threads", String(threads), "--port-range", portRange, "--engine", engine]
        var env = ProcessInfo.processInfo.environment
        if let preload { env["LD_PRELOAD"] = preload }
        p.environment = env
        let stdin = Pipe()
        let stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = FileHandle.standardError
        try p.run()
        process = p
        pid = p.processIdentifier  // taskset execs the agent: same PID
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading
        let hello = try readReply()
        guard hello.ok else { throw BenchError("agent did not start: \(hello.error ?? "?")") }
    }

    private func readReply() throws -> AgentProtocol.Reply {
        while true {
            if let nl = buffered.firstIndex(of: 0x0A) {
                let line = buffered[buffered.startIndex..<nl]
                buffered = Data(buffered[(nl + 1)...])
                return try JSONDecoder().decode(AgentProtocol.Reply.self, from: Data(line))
            }
            guard let chunk = output?.availableData, !chunk.isEmpty else {
                throw BenchError("trabant-bench-agent exited")
            }
            buffered += chunk
        }
    }

    private func call(_ request: AgentProtocol.Request) throws -> AgentProtocol.Reply {
        var data = try JSONEncoder().encode(request)
        data.append(0x0A)
        try input?.write(contentsOf: data)
        let reply = try readReply()
        guard reply.ok else { throw BenchError("agent \(request.op) failed: \(reply.error ?? "?")") }
        return reply
    }

    public func createCall(index: Int, a: BenchEndpoint, b: BenchEndpoint) throws -> BenchCall {
        let id = "bench-\(index)"
        let reply = try call(
            .init(op: "create", id: id, a: .init(address: a.address, keys: a.keys[0]), b: .init(address: b.address, keys: b.keys[0])))
        guard let ra = reply.a, let rb = reply.b else { throw BenchError("agent create: incomplete reply") }
        return BenchCall(
            sendToA: try ra.address(), sendToB: try rb.address(), aTx: a.keys[0], aRx: try ra.parameters(),
            bTx: b.keys[0], bRx: try rb.parameters(), handle: id)
    }

    public func deleteCall(_ call: BenchCall) throws {
        _ = try self.call(.init(op: "delete", id: call.handle))
    }

    public func allocationCount() throws -> Int? {
        try call(.init(op: "allocations")).allocations
    }

    public func stop() {
        guard let p = process else { return }
        _ = try? call(.init(op: "quit"))
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        process = nil
    }
}
