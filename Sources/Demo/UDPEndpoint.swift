#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MediaRelay

/// A plain blocking UDP socket on a loopback or namespace address: the demo's built-in
/// phones and the tests' peers. Not for the relay's own path.
public final class UDPEndpoint: @unchecked Sendable {
    public let fd: Int32
    public let local: MediaAddress

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Binds to `host` (IPv4) on an ephemeral port, or `port` if given.
    public init(host: String = "127.0.0.1", port: UInt16 = 0) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_DGRAM, 0)
        #endif
        self.fd = fd
        guard fd >= 0 else { throw Failure(description: "socket(): errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "bind(\(host):\(port)): errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        local = MediaAddress(host: host, port: UInt16(bigEndian: addr.sin_port))!
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8], to destination: MediaAddress) {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = destination.port.bigEndian
        inet_pton(AF_INET, destination.host, &addr.sin_addr)
        _ = bytes.withUnsafeBytes { buf in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Waits up to `timeout` seconds for a datagram; nil on timeout.
    public func receive(timeout: Double) -> (bytes: [UInt8], from: MediaAddress)? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 2048)
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = buf.withUnsafeMutableBytes { b in
            withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) }
            }
        }
        guard n >= 0 else { return nil }
        let raw = UInt32(bigEndian: addr.sin_addr.s_addr)
        let from = MediaAddress(
            ipv4: (UInt8(raw >> 24), UInt8((raw >> 16) & 0xFF), UInt8((raw >> 8) & 0xFF), UInt8(raw & 0xFF)),
            port: UInt16(bigEndian: addr.sin_port))
        return (Array(buf[0..<n]), from)
    }

    /// Receives every datagram that arrives within `timeout` seconds of the previous one.
    public func drain(timeout: Double) -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let (b, _) = receive(timeout: timeout) { out.append(b) }
        return out
    }

    /// `drain` on a thread of its own, so that async callers never block Swift's cooperative
    /// pool (on Linux, Dispatch's global queues share threads with it).
    public func drain(timeout: Double) async -> [[UInt8]] {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.drain(timeout: timeout)) }.start()
        }
    }
}

/// Which local UDP ports have a socket open, read from /proc/net/udp and /proc/net/udp6
/// (Linux). The proof that a call leaves no socket behind.
public enum OpenUDPPorts {
    public static func current() -> Set<UInt16> {
        var ports: Set<UInt16> = []
        for path in ["/proc/net/udp", "/proc/net/udp6"] {
            guard let text = try? readFile(path) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 1, let colon = fields[1].lastIndex(of: ":"),
                    let port = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16)
                else { continue }
                ports.insert(port)
            }
        }
        return ports
    }

    static func readFile(_ path: String) throws -> String {
        guard let f = fopen(path, "r") else { throw UDPEndpoint.Failure(description: "cannot open \(path)") }
        defer { fclose(f) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }
}
