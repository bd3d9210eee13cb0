import Crypto
import CryptoExtras
import Foundation
import Push
import PushEmulator
import PushPayload
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
    }

    public static func run(count: Int, concurrency: Int, proxy squid: String?) async throws -> [String: Result] {
        let apnsKey = P256.Signing.PrivateKey()
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let emulator = try await ProviderEmulator(
            apnsKey: apnsKey.publicKey, keyID: "KEY1234567", teamID: "TEAM123456", bundleID: "com.example.phone",
            fcmKey: rsa.publicKey, fcmProject: "bench", fcmEmail: "bench@example.iam.gserviceaccount.com",
            tokenURI: { "https://oauth2.googleapis.com:\($0)/token" }, keepPushes: false)
        defer { emulator.stop() }
        func settings(proxy: PushSettings.Proxy?) throws -> PushSettings {
            PushSettings(
                apns: .init(
                    credentials: try APNsCredentials(p8: apnsKey.pemRepresentation, keyID: "KEY1234567", teamID: "TEAM123456"),
                    environment: .production, bundleID: "com.example.phone",
                    baseURL: "https://api.push.apple.com:\(emulator.port)"),
                proxy: proxy, trustRoots: [try emulator.ca.nioRoot],
                dnsOverride: proxy == nil ? Dictionary(uniqueKeysWithValues: ProviderEmulator.names.map { ($0, "127.0.0.1") }) : [:],
                retry: RetryPolicy(attempts: 1))
        }
        var results: [String: Result] = [:]
        results["direct"] = try await measure(settings: try settings(proxy: nil), count: count, concurrency: concurrency)
        if let squid {
            let proxy = try await SquidProxy(squid: squid, allowedPort: emulator.port, user: "bench", password: "bench")
            do {
                results["proxy"] = try await measure(
                    settings: try settings(proxy: .init(host: "127.0.0.1", port: proxy.port, username: "bench", password: "bench")),
                    count: count, concurrency: concurrency)
            } catch {
                _ = await proxy.stop()
                throw error
            }
            _ = await proxy.stop()
        }
        return results
    }

    static func measure(settings: PushSettings, count: Int, concurrency: Int) async throws -> Result {
        let sender = try PushSender(settings: settings)
        let device = Curve25519.KeyAgreement.PrivateKey()
        let key = DevicePushKey(id: "bench", publicKey: device.publicKey)
        let token = String(repeating: "ab", count: 32)
        let notice = CallNotice(kind: .call, callID: "bench", caller: "Bench", gateway: "wss://gw.example.com", sentAt: 0)
        // Warm up: connections, the provider token, allocator pools.
        _ = try await blast(sender, notice, token, key, count: min(2000, count), concurrency: concurrency)
        let pid = getpid()
        let rssStart = ProcessStats.residentBytes(pid: pid) ?? 0
        let start = Date()
        let failed = try await blast(sender, notice, token, key, count: count, concurrency: concurrency)
        let seconds = Date().timeIntervalSince(start)
        let rssEnd = ProcessStats.residentBytes(pid: pid) ?? 0
        try await sender.shutdown()
        return Result(
            pushes_per_second: Double(count) / seconds, sent: count, failed: failed, seconds: seconds,
            rss_bytes_start: rssStart, rss_bytes_end: rssEnd, concurrency: concurrency)
    }

    /// `count` pushes, at most `concurrency` in flight; returns how many failed.
    static func blast(
        _ sender: PushSender, _ notice: CallNotice, _ token: String, _ key: DevicePushKey, count: Int, concurrency: Int
    ) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var failed = 0
            func add() {
                next += 1
                group.addTask {
                    let r = await sender.send(notice, to: .apns(token: token, type: .voip), key: key)
                    return r.outcome == .delivered ? 0 : 1
                }
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
