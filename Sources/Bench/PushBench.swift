import Crypto
import CryptoExtras
import Foundation
import Push
import PushEmulator
import PushPayload
import NIOSSL
import Synchronization

/// `trabant bench push`: sealed VoIP pushes per second to the APNs emulator (HTTP/2 + TLS on
/// loopback, verification on), directly and through squid, with the process's memory before
/// and after.
public enum PushBench {
    public struct Result: Codable, Sendable {
        public var pushes_per_second: Double
        public var sent: Int
        public var failed: Int
        public var seconds: Double
        public var rss_bytes_start: Int
        public var rss_bytes_end: Int
        public var concurrency: Int
        /// CPU time per push of the sending process, and of the emulator (its own process).
        public var sender_cpu_us_per_push: Double
        public var emulator_cpu_us_per_push: Double
    }

    /// The emulator in its own process (`trabant bench push-emulator`), so that the figures
    /// separate what the sender spends from what the stand-in for Apple spends.
    struct ChildEmulator {
        let process: Process
        let port: Int
        let root: NIOSSLCertificate
        let input: Pipe

        static func start(apnsKey: P256.Signing.PublicKey) throws -> ChildEmulator {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            p.arguments = ["bench", "push-emulator", "--apns-key=" + apnsKey.pemRepresentation]
            let out = Pipe()
            let input = Pipe()
            p.standardOutput = out
            p.standardInput = input
            try p.run()
            // The hello line, waited for with poll(2): a child stuck before it cannot hang the bench.
            var line = Data()
            let fd = out.fileHandleForReading.fileDescriptor
            let deadline = Date().addingTimeInterval(30)
            while !line.contains(UInt8(ascii: "\n")), Date() < deadline {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 200) > 0 else { continue }
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }  // the child closed its stdout (it ended)
                line += chunk
            }
            struct Hello: Decodable {
                let port: Int
                let ca: String
            }
            func fail(_ why: String) -> BenchError {
                p.terminate()
                p.waitUntilExit()
                return BenchError(why)
            }
            guard let hello = try? JSONDecoder().decode(Hello.self, from: line.prefix { $0 != UInt8(ascii: "\n") }) else {
                throw fail("the push emulator did not start within 30 s: \(String(decoding: line, as: UTF8.self))")
            }
            guard let root = try? NIOSSLCertificate(bytes: Array(hello.ca.utf8), format: .pem) else {
                throw fail("the push emulator's CA is not a PEM certificate")
            }
            return ChildEmulator(process: p, port: hello.port, root: root, input: input)
        }

        var cpuSeconds: Double { ProcessStats.cpuSeconds(pid: process.processIdentifier) ?? 0 }

        func stop() {
            try? input.fileHandleForWriting.close()
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// `trabant bench push-emulator`: the APNs emulator alone; prints {"port":…,"ca":…} and
    /// runs until its standard input closes.
    public static func serveEmulator(apnsKeyPEM: String) async throws {
        let key = try P256.Signing.PublicKey(pemRepresentation: apnsKeyPEM)
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let emulator = try await ProviderEmulator(
            apnsKey: key, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
            fcmKey: rsa.publicKey, fcmProject: "bench", fcmEmail: "bench@example.iam.gserviceaccount.com",
            tokenURI: { "https://oauth2.googleapis.com:\($0)/token" }, keepPushes: false)
        let hello = try JSONSerialization.data(withJSONObject: ["port": emulator.port, "ca": try emulator.ca.certificate.serializeAsPEM().pemString])
        FileHandle.standardOutput.write(hello + Data("\n".utf8))
        // Until the bench closes our standard input.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                _ = FileHandle.standardInput.readDataToEndOfFile()
                done.resume()
            }
        }
        emulator.stop()
    }

    /// nghttp2's h2load (C) sending the same request to the same emulator: what the emulator
    /// and loopback allow a lean HTTP/2 client, beside what our sender reaches.
    public struct PeerResult: Codable, Sendable {
        public var pushes_per_second: Double
        public var sent: Int
        public var failed: Int
        public var seconds: Double
        public var concurrency: Int
        public var client_cpu_us_per_push: Double
        public var emulator_cpu_us_per_push: Double
        public var client_max_rss_bytes: Int
    }

    /// `{"direct": P, "proxy": P}`; with `--breakdown` also `direct_presealed` (one notice
    /// sealed once and delivered `count` times: the HTTP/2 transport and the APNs request
    /// without HPKE) and `h2load`.
    public struct Output: Codable, Sendable {
        public var direct: Result
        public var proxy: Result?
        public var direct_presealed: Result?
        public var h2load: PeerResult?
    }

    public static func run(count: Int, concurrency: Int, proxy squid: String?, h2load: String? = nil) async throws -> Output {
        let apnsKey = P256.Signing.PrivateKey()
        let emulator = try ChildEmulator.start(apnsKey: apnsKey.publicKey)
        // Both runs share one provider token, as one server process would (APNs refuses a
        // renewal within 20 minutes).
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-bench-push-\(getpid())").path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        defer {
            emulator.stop()
            try? FileManager.default.removeItem(atPath: state)
        }
        func settings(proxy: PushSettings.Proxy?) throws -> PushSettings {
            var s = PushSettings(
                apns: .init(
                    credentials: try APNsCredentials(p8: apnsKey.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                    environment: .production, bundleID: "com.example.phone",
                    baseURL: "https://api.push.apple.com:\(emulator.port)"),
                proxy: proxy, trustRoots: [emulator.root],
                dnsOverride: proxy == nil ? Dictionary(uniqueKeysWithValues: ProviderEmulator.names.map { ($0, "127.0.0.1") }) : [:],
                retry: RetryPolicy(attempts: 1))
            s.stateDirectory = state
            return s
        }
        var out = Output(
            direct: try await measure(settings: try settings(proxy: nil), count: count, concurrency: concurrency, emulator: emulator))
        if let h2load {
            out.direct_presealed = try await measure(
                settings: try settings(proxy: nil), count: count, concurrency: concurrency, emulator: emulator, presealed: true)
            out.h2load = try runH2load(h2load, state: state, count: count, concurrency: concurrency, emulator: emulator)
        }
        if let squid {
            let proxy = try await SquidProxy(squid: squid, allowedPort: emulator.port, user: "bench", password: "bench")
            do {
                out.proxy = try await measure(
                    settings: try settings(proxy: .init(host: "127.0.0.1", port: proxy.port, username: "bench", password: "bench")),
                    count: count, concurrency: concurrency, emulator: emulator)
            } catch {
                _ = await proxy.stop()
                throw error
            }
            _ = await proxy.stop()
        }
        return out
    }

    static let deviceToken = String(repeating: "ab", count: 32)
    static let notice = CallNotice(kind: .call, callID: "bench", caller: "Bench", gateway: "wss://gw.example.com", sentAt: 0)

    static func measure(
        settings: PushSettings, count: Int, concurrency: Int, emulator: ChildEmulator, presealed: Bool = false
    ) async throws -> Result {
        let sender = try PushSender(settings: settings)
        let device = Curve25519.KeyAgreement.PrivateKey()
        let key = DevicePushKey(id: "bench", publicKey: device.publicKey)
        let sealed = try NoticeSeal.seal(notice, to: key)
        let push: @Sendable () async -> Bool = { [notice, deviceToken] in
            let target = PushTarget.apns(token: deviceToken, type: .voip)
            let r = presealed
                ? await sender.deliver(sealed, kind: .call, collapseID: "bench", to: target)
                : await sender.send(notice, to: target, key: key)
            return r.outcome == .delivered
        }
        // Warm up: connections, the provider token, allocator pools.
        _ = try await blast(push, count: min(2000, count), concurrency: concurrency)
        let pid = getpid()
        let rssStart = ProcessStats.residentBytes(pid: pid) ?? 0
        let cpuStart = (ProcessStats.cpuSeconds(pid: pid) ?? 0, emulator.cpuSeconds)
        let start = Date()
        let failed = try await blast(push, count: count, concurrency: concurrency)
        let seconds = Date().timeIntervalSince(start)
        let cpuEnd = (ProcessStats.cpuSeconds(pid: pid) ?? 0, emulator.cpuSeconds)
        let rssEnd = ProcessStats.residentBytes(pid: pid) ?? 0
        try await sender.shutdown()
        return Result(
            pushes_per_second: Double(count) / seconds, sent: count, failed: failed, seconds: seconds,
            rss_bytes_start: rssStart, rss_bytes_end: rssEnd, concurrency: concurrency,
            sender_cpu_us_per_push: (cpuEnd.0 - cpuStart.0) / Double(count) * 1e6,
            emulator_cpu_us_per_push: (cpuEnd.1 - cpuStart.1) / Double(count) * 1e6)
    }

    /// `count` pushes, at most `concurrency` in flight; returns how many failed.
    static func blast(_ push: @escaping @Sendable () async -> Bool, count: Int, concurrency: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var failed = 0
            func add() {
                next += 1
                group.addTask { await push() ? 0 : 1 }
            }
            while next < min(concurrency, count) { add() }
            while let f = try await group.next() {
                failed += f
                if next < count { add() }
            }
            return failed
        }
    }
}
