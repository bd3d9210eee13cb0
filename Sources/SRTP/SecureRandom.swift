#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Cryptographically secure random bytes from the kernel (/dev/urandom, arc4random), read
/// 4 KiB at a time: a call setup needs a few hundred random bytes (keys, tags, branches),
/// and one system call per 8 bytes showed up in the SIP benchmark's profile.
public struct SecureRandom: RandomNumberGenerator, Sendable {
    public init() {}

    public mutating func next() -> UInt64 {
        var v: UInt64 = 0
        withUnsafeMutableBytes(of: &v) { Self.fill($0) }
        return v
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            fill(UnsafeMutableRawBufferPointer(buf))
            initialized = count
        }
    }

    public static func fill(_ out: UnsafeMutableRawBufferPointer) {
        pool.withLock { p in
            var offset = 0
            while offset < out.count {
                if p.used == p.bytes.count { p.refill() }
                let n = min(out.count - offset, p.bytes.count - p.used)
                for i in 0..<n { out[offset + i] = p.bytes[p.used + i] }
                // Bytes handed out are wiped from the pool.
                for i in 0..<n { p.bytes[p.used + i] = 0 }
                p.used += n
                offset += n
            }
        }
    }

    struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096

        mutating func refill() {
            bytes.withUnsafeMutableBytes { b in
                #if canImport(Glibc)
                let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
                precondition(fd >= 0, "cannot open /dev/urandom: errno \(errno)")
                defer { close(fd) }
                var done = 0
                while done < b.count {
                    let n = read(fd, b.baseAddress! + done, b.count - done)
                    if n > 0 { done += n } else if errno != EINTR { fatalError("reading /dev/urandom failed: \(errno)") }
                }
                #else
                arc4random_buf(b.baseAddress!, b.count)
                #endif
            }
            used = 0
        }
    }

    static let pool = Mutex(Pool())
}
