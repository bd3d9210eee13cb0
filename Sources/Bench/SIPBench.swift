import Foundation

/// Call setups per second over SIP/TCP with sipp, through the satellite's call controller
/// (media allocated and released for every call) and through kamailio as a stateful TCP
/// proxy, in one run on this machine. Each step runs sipp's UAC at a fixed rate for a
/// fixed number of calls against a fresh sipp UAS; a step passes when every call completed
/// and sipp reached 97 % of the rate (the criterion of the shared harness, ../shared/bench/sip).
public enum SIPBench {
    public struct Options: Sendable {
        public var rates: [Int]
        public var seconds: Double
        public var maxCalls: Int
        public var scenarios: URL
        public var trabant: URL
        public var peers: [String]
        public var basePort: Int
        public var log: @Sendable (String) -> Void

        public init(rates: [Int], seconds: Double, maxCalls: Int, scenarios: URL, trabant: URL, peers: [String], basePort: Int,
                    log: @escaping @Sendable (String) -> Void) {
            self.rates = rates
            self.seconds = seconds
            self.maxCalls = maxCalls
            self.scenarios = scenarios
            self.trabant = trabant
            self.peers = peers
            self.basePort = basePort
            self.log = log
        }
    }

    public struct Latency: Codable, Sendable {
        public var p50: Double
        public var p99: Double
    }

    public struct Step: Codable, Sendable {
        public var target_cps: Int
        public var calls: Int
        public var successful: Int
        public var failed: Int
        public var achieved_cps: Double
        public var setup_latency_ms: Latency?
        public var server_cpu_percent: Double
        /// The 1-minute load average when the step began (steps wait for it to fall to 1.0).
        public var loadavg_before: Double
        public var pass: Bool
    }

    public struct Summary: Codable, Sendable {
        /// Highest rate with 0 failed calls (and 97 % of it achieved); 0 if none passed.
        public var calls_per_second: Int
        public var failed_calls: Int
        public var setup_latency_ms: Latency?
        public var server_cpu_percent: Double?
        /// The step at half of `calls_per_second`: the latency a deployment sees with headroom.
        public var half_rate: Step?
        public var steps: [Step]
    }

    public struct Report: Codable, Sendable {
        public var trabant: Summary
        public var kamailio: Summary?
        public var ratio: Double?
    }

    public static func run(_ o: Options) async throws -> Report {
        let trabant = try await sweep(o, server: .trabant)
        var report = Report(trabant: trabant, kamailio: nil, ratio: nil)
        if o.peers.contains("kamailio") {
            let k = try await sweep(o, server: .kamailio)
            report.kamailio = k
            if k.calls_per_second > 0 { report.ratio = Double(trabant.calls_per_second) / Double(k.calls_per_second) }
        }
        return report
    }

    enum Server: String { case trabant, kamailio }

    static func sweep(_ o: Options, server: Server) async throws -> Summary {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-sipbench-\(getpid())-\(server)")
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var keep = false
        defer {
            if keep { o.log("[\(server)] logs kept in \(work.path)") } else { try? FileManager.default.removeItem(at: work) }
        }
        let proxyPort = o.basePort
        let uasPort = o.basePort + 10

        var steps: [Step] = []
        var best: Step?
        for rate in o.rates {
            let step = try await runStep(o, server: server, rate: rate, work: work, proxyPort: proxyPort, uasPort: uasPort)
            steps.append(step)
            o.log("[\(server)] \(rate) calls/s: \(step.successful)/\(step.calls) ok, \(step.failed) failed, achieved \(String(format: "%.0f", step.achieved_cps)), p99 setup \(step.setup_latency_ms.map { String(format: "%.1f ms", $0.p99) } ?? "-"), server CPU \(String(format: "%.0f", step.server_cpu_percent)) % \(step.pass ? "PASS" : "FAIL")")
            if step.pass { best = step } else {
                keep = step.failed > 0
                break
            }
            try await Task.sleep(for: .seconds(1))
        }
        var half: Step?
        if let best, best.target_cps >= 2 {
            half = try await runStep(o, server: server, rate: best.target_cps / 2, work: work, proxyPort: proxyPort, uasPort: uasPort)
            if let h = half {
                o.log("[\(server)] half rate \(h.target_cps) calls/s: p50 \(h.setup_latency_ms.map { String(format: "%.2f", $0.p50) } ?? "-") ms, p99 \(h.setup_latency_ms.map { String(format: "%.2f", $0.p99) } ?? "-") ms")
            }
        }
        return Summary(
            calls_per_second: best?.target_cps ?? 0, failed_calls: best?.failed ?? (steps.last?.failed ?? 0),
            setup_latency_ms: best?.setup_latency_ms, server_cpu_percent: best?.server_cpu_percent, half_rate: half, steps: steps)
    }

    /// One rate against a freshly started server (state left by an earlier step, such as
    /// kamailio's transaction memory, must not decide the next one).
    static func runStep(_ o: Options, server: Server, rate: Int, work: URL, proxyPort: Int, uasPort: Int) async throws -> Step {
        // Like the shared harness: start each step on a quiet machine (bounded wait).
        var waited = 0
        while ProcessStats.loadAverage() > 1.0 && waited < 120 {
            try await Task.sleep(for: .seconds(5))
            waited += 5
        }
        let load = ProcessStats.loadAverage()
        let process = try startServer(server, work: work, port: proxyPort, uasPort: uasPort, o: o)
        defer { stopProcess(process) }
        try await Task.sleep(for: .seconds(server == .kamailio ? 2 : 1))
        guard process.isRunning else { throw BenchError("\(server) did not start; see \(work.path)/server.log") }
        let pid = process.processIdentifier
        let calls = Int(min(Double(o.maxCalls), max(500, Double(rate) * o.seconds)))
        let timeout = Int(Double(calls) / Double(rate) + 30)
        let stepDir = work.appendingPathComponent("step-\(rate)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: stepDir, withIntermediateDirectories: true)
        let uas = try spawn("sipp", [
            "-sf", o.scenarios.appendingPathComponent("uas_srtp.xml").path, "-t", "t1", "-i", "127.0.0.1", "-p", "\(uasPort)",
            "-mi", "127.0.0.1", "-mp", "\(uasPort + 2)", "-cp", "\(uasPort + 8)", "-nostdin", "-timeout", "\(timeout + 15)s",
            "-max_socket", "60000",
        ], cwd: stepDir, log: "uas.log")
        defer { stopProcess(uas) }
        try await Task.sleep(for: .milliseconds(500))
        let stat = stepDir.appendingPathComponent("stat.csv").path
        let cpu0 = ProcessStats.treeCPUSeconds(pid: pid)
        let t0 = Date()
        let uac = try spawn("sipp", [
            "127.0.0.1:\(proxyPort)", "-sf", o.scenarios.appendingPathComponent("uac_srtp.xml").path, "-t", "t1",
            "-i", "127.0.0.1", "-p", "\(uasPort + 1)", "-mi", "127.0.0.1", "-mp", "\(uasPort + 12)", "-cp", "\(uasPort + 9)",
            "-key", "target", "<sip:bob@127.0.0.1:\(uasPort);transport=tcp>", "-r", "\(rate)", "-m", "\(calls)",
            "-l", "\(max(5000, rate * 5))", "-nostdin", "-timeout", "\(timeout)s", "-recv_timeout", "5000",
            "-max_socket", "60000", "-trace_stat", "-stf", stat, "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
        ], cwd: stepDir, log: "uac.log")
        let deadline = Date().addingTimeInterval(Double(timeout + 20))
        while uac.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if uac.isRunning { stopProcess(uac) }
        let wall = Date().timeIntervalSince(t0)
        let cpu1 = ProcessStats.treeCPUSeconds(pid: pid)
        let stats = parseStat(stat)
        let ok = Int(stats["SuccessfulCall(C)"] ?? "") ?? 0
        let failed = Int(stats["FailedCall(C)"] ?? "") ?? (calls - ok)
        let sippRate = Double(stats["CallRate(C)"] ?? "") ?? 0
        let latency = rttLatency(in: stepDir)
        if failed == 0 && ok == calls { try? FileManager.default.removeItem(at: stepDir) }
        return Step(
            target_cps: rate, calls: calls, successful: ok, failed: failed, achieved_cps: sippRate, setup_latency_ms: latency,
            server_cpu_percent: wall > 0 ? 100 * (cpu1 - cpu0) / wall : 0, loadavg_before: load,
            pass: failed == 0 && ok == calls && sippRate >= 0.97 * Double(rate))
    }

    static func startServer(_ server: Server, work: URL, port: Int, uasPort: Int, o: Options) throws -> Process {
        switch server {
        case .trabant:
            let config = work.appendingPathComponent("satellite.yaml")
            try """
                media:
                  bind: 127.0.0.1
                  port_range: 20000-59999
                  port_quarantine: 0.5s
                sip:
                  bind: 127.0.0.1
                  tcp_port: \(port)
                  acl: [127.0.0.1/32]
                  max_requests_per_source: 10000000
                  max_connections_per_source: 1000
                log:
                  level: warning
                """.write(to: config, atomically: true, encoding: .utf8)
            return try spawn(o.trabant.path, ["satellite", "--config", config.path, "--data-dir", work.appendingPathComponent("data").path],
                             cwd: work, log: "server.log")
        case .kamailio:
            let cfg = work.appendingPathComponent("kamailio.cfg")
            try kamailioConfig(port: port, uasPort: uasPort).write(to: cfg, atomically: true, encoding: .utf8)
            return try spawn("kamailio", ["-f", cfg.path, "-DD", "-E", "-m", "2048", "-M", "16", "-P", work.appendingPathComponent("k.pid").path],
                             cwd: work, log: "server.log")
        }
    }

    /// The shared harness's kamailio-bench.cfg: a stateful TCP proxy that record-routes
    /// INVITEs and relays everything to the sipp UAS.
    static func kamailioConfig(port: Int, uasPort: Int) -> String {
        let modules = ["/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/aarch64-linux-gnu/kamailio/modules/"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "/usr/lib/kamailio/modules/"
        return """
            #!KAMAILIO
            debug=1
            log_stderror=yes
            fork=yes
            children=2
            tcp_children=2
            listen=tcp:127.0.0.1:\(port)
            disable_tcp=no
            disable_sctp=yes
            auto_aliases=no
            dns=no
            rev_dns=no
            tcp_connection_lifetime=3605
            tcp_max_connections=16384
            tcp_connect_timeout=5
            tcp_send_timeout=10
            mpath="\(modules)"
            loadmodule "tm.so"
            loadmodule "sl.so"
            loadmodule "rr.so"
            loadmodule "pv.so"
            loadmodule "maxfwd.so"
            loadmodule "siputils.so"
            loadmodule "textops.so"
            modparam("tm", "fr_timer", 5000)
            modparam("tm", "fr_inv_timer", 10000)
            modparam("rr", "enable_full_lr", 0)
            request_route {
                if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
                if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
                if (has_totag()) {
                    if (loose_route()) { t_relay(); exit; }
                    if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
                    $du = "sip:127.0.0.1:\(uasPort);transport=tcp";
                    t_relay();
                    exit;
                }
                if (is_method("INVITE")) record_route();
                $du = "sip:127.0.0.1:\(uasPort);transport=tcp";
                if (!t_relay()) sl_reply_error();
                exit;
            }

            """
    }

    // MARK: processes and sipp's files

    static func spawn(_ tool: String, _ args: [String], cwd: URL, log: String) throws -> Process {
        let p = Process()
        if tool.hasPrefix("/") {
            p.executableURL = URL(fileURLWithPath: tool)
        } else {
            guard let path = ["/usr/bin", "/usr/sbin", "/usr/local/bin"].map({ "\($0)/\(tool)" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
            else { throw BenchError("\(tool) is not installed (apt-get install \(tool == "sipp" ? "sip-tester" : tool))") }
            p.executableURL = URL(fileURLWithPath: path)
        }
        p.arguments = args
        p.currentDirectoryURL = cwd
        let logURL = cwd.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let h = try FileHandle(forWritingTo: logURL)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return p
    }

    /// SIGTERM, then SIGKILL after 3 s (a sipp UAS with no call limit ignores SIGTERM).
    static func stopProcess(_ p: Process) {
        guard p.isRunning else { return }
        let children = ProcessStats.children(of: p.processIdentifier)
        defer { for c in children { kill(c, SIGKILL) } }
        p.terminate()
        var deadline = Date().addingTimeInterval(3)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { usleep(20_000) }
    }

    /// sipp's -trace_stat file: a header line and value lines, ';'-separated; the last line counts.
    static func parseStat(_ path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.isEmpty }
        guard lines.count >= 2 else { return [:] }
        let header = lines[0].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        let values = lines[lines.count - 1].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        return Dictionary(zip(header, values), uniquingKeysWith: { $1 })
    }

    /// sipp's -trace_rtt file: "date_ms;response_time_ms;rtd_no" per call (INVITE to 200).
    static func rttLatency(in dir: URL) -> Latency? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path),
            let name = files.first(where: { $0.hasSuffix("_rtt.csv") }),
            let text = try? String(contentsOfFile: dir.appendingPathComponent(name).path, encoding: .utf8)
        else { return nil }
        var values: [Double] = []
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let f = line.split(separator: ";")
            if f.count >= 2, let v = Double(f[1]) { values.append(v) }
        }
        guard !values.isEmpty else { return nil }
        values.sort()
        func q(_ p: Double) -> Double { values[min(values.count - 1, Int(p * Double(values.count)))] }
        return Latency(p50: q(0.5), p99: q(0.99))
    }
}
