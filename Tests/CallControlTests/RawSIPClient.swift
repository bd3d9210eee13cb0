import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client for attack tests: it can bind a chosen loopback source
/// (127.0.0.2 is "another host" for an ACL of 127.0.0.1/32) and reads with a timeout.
/// Its work runs on a thread of its own, never on the cooperative pool.
final class RawSIPClient: @unchecked Sendable {
    let fd: Int32

    /// Connects from `source` to 127.0.0.1:`port`; nil if the connect itself failed.
    init?(source: String = "127.0.0.1", port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connected == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads until the peer closes, `until` appears, or the timeout passes. Returns the text
    /// and whether the peer closed the connection.
    func read(until marker: String? = nil) -> (text: String, closed: Bool) {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (String(decoding: data, as: UTF8.self), true) }
            if n < 0 { return (String(decoding: data, as: UTF8.self), errno == ECONNRESET) }
            data += buf[0..<n]
            if let marker, String(decoding: data, as: UTF8.self).contains(marker) {
                return (String(decoding: data, as: UTF8.self), false)
            }
        }
    }
}

/// Runs blocking work on a thread of its own and awaits it.
func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        let t = Thread { c.resume(returning: work()) }
        t.start()
    }
}

enum SIPText {
    static func options(branch: String = "z9hG4bK\(UInt32.random(in: 0...UInt32.max))", userAgent: String = "trabant-test") -> String {
        "OPTIONS sip:satellite@127.0.0.1 SIP/2.0\r\n"
            + "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=\(branch)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:server@127.0.0.1>;tag=a1\r\nTo: <sip:satellite@127.0.0.1>\r\n"
            + "Call-ID: \(branch)@test\r\nCSeq: 1 OPTIONS\r\nUser-Agent: \(userAgent)\r\nContent-Length: 0\r\n\r\n"
    }
}
