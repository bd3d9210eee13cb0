import Foundation
import NIOCore
import NIOPosix

/// squid (Debian) as an HTTP CONNECT proxy with one basic-auth user, resolving the providers'
/// names to the emulator on 127.0.0.1, tunnelling only to the allowed ports. For the tests and
/// `trabant bench push`.
public final class SquidProxy: Sendable {
    public let port: Int
    let dir: URL
    let process: Process

    public convenience init(squid: String, allowedPort: Int, user: String, password: String) async throws {
        try await self.init(squid: squid, allowedPorts: allowedPort...allowedPort, user: user, password: password)
    }

    /// `allowedPorts`: where CONNECT may go (tests whose emulators bind ephemeral ports allow
    /// the unprivileged range instead of binding one port twice).
    public init(squid: String, allowedPorts: ClosedRange<Int>, user: String, password: String) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-squid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)  // squid drops to its own user
        port = Int.random(in: 20000...29999)
        try "\(user):\(try Self.apr1(password))\n".write(to: dir.appendingPathComponent("passwd"), atomically: true, encoding: .utf8)
        // The providers' names (and localhost, the relay in tests) point to the emulators.
        try (ProviderEmulator.names + ["localhost"]).map { "127.0.0.1 \($0)\n" }.joined()
            .write(to: dir.appendingPathComponent("hosts"), atomically: true, encoding: .utf8)
        let d = dir.path
        try """
            http_port 127.0.0.1:\(port)
            pid_filename \(d)/squid.pid
            cache_log \(d)/cache.log
            access_log stdio:\(d)/access.log squid
            coredump_dir \(d)
            cache deny all
            cache_mem 8 MB
            hosts_file \(d)/hosts
            dns_nameservers 127.0.0.1
            shutdown_lifetime 0 seconds
            forward_max_tries 1
            connect_timeout 5 seconds
            auth_param basic program /usr/lib/squid/basic_ncsa_auth \(d)/passwd
            auth_param basic realm trabant
            acl authed proxy_auth REQUIRED
            acl tunnel_ports port \(allowedPorts.lowerBound)-\(allowedPorts.upperBound)
            acl CONNECT method CONNECT
            http_access deny CONNECT !tunnel_ports
            http_access allow authed
            http_access deny all
            """.write(to: dir.appendingPathComponent("squid.conf"), atomically: true, encoding: .utf8)
        for f in ["passwd", "hosts", "squid.conf"] { chmod(dir.appendingPathComponent(f).path, 0o644) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: squid)
        p.arguments = ["-N", "-f", "\(d)/squid.conf"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Ready when it accepts connections.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let ch = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                ch.close(promise: nil)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        p.terminate()
        throw ProxyError(message: "squid did not start: \((try? String(contentsOf: dir.appendingPathComponent("cache.log"), encoding: .utf8))?.suffix(800) ?? "")")
    }

    /// The htpasswd line's hash, by openssl (Apache MD5, which basic_ncsa_auth reads).
    static func apr1(_ password: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["passwd", "-apr1", password]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops squid (it writes a tunnel's line when the tunnel ends) and returns its access log.
    public func stop() async -> String {
        process.terminate()
        let deadline = Date().addingTimeInterval(3)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let text = (try? String(contentsOf: dir.appendingPathComponent("access.log"), encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: dir)
        return text
    }

    public struct ProxyError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
