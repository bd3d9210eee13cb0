#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MediaRelay
import SRTP

/// rtpengine (the Debian `rtpengine-daemon` package) as the comparison relay, driven over its
/// ng control protocol exactly like bench/media/relays.py `RtpengineRelay` in "recrypt" mode:
/// A offers two SDES keys (tags 1 and 2), B answers accepting tag 2 with a key of its own, so
/// rtpengine holds different keys on its two sides and must decrypt and re-encrypt every packet.
public final class RtpengineRelay: BenchRelay, @unchecked Sendable {
    public let name = "rtpengine"
    public private(set) var pid: Int32 = 0
    public let ngPort: UInt16
    public let portRange: ClosedRange<UInt16>
    /// CPU rtpengine is pinned to with taskset; nil runs it unpinned.
    public let cpu: Int?
    public let threads: Int
    /// Where rtpengine writes its stdout and stderr (in the temporary directory).
    public private(set) var logPath: String?

    private static let ping: BencodeValue = .dictionary(["command": .init("ping")])
    private let tag: String
    private var process: Process?
    private var workDirectory: URL?
    private var ng: NgClient?
    /// Call-ID -> from-tag of the calls created and not yet deleted.
    private var fromTags: [String: String] = [:]

    /// - Parameters:
    ///   - ngPort: rtpengine's ng control port on 127.0.0.1 (its CLI port is `ngPort + 2`).
    ///   - portRange: the media ports rtpengine allocates from.
    public init(ngPort: UInt16 = 22222, portRange: ClosedRange<UInt16> = 30000...59999, cpu: Int? = 1, threads: Int = 1) {
        self.ngPort = ngPort
        self.portRange = portRange
        self.cpu = cpu
        self.threads = threads
        self.tag = String(UInt32.random(in: 0...0xFF_FFFF), radix: 16)
    }

    deinit { stop() }

    // MARK: - Process

    public func start() throws {
        guard process == nil else { throw BenchError("rtpengine already started (pid \(pid))") }
        guard ngPort >= 1024, ngPort <= 65533 else { throw BenchError("rtpengine ng port \(ngPort) must be in 1024...65533") }
        guard portRange.lowerBound >= 1024, portRange.count >= 4 else {
            throw BenchError("rtpengine port range \(portRange.lowerBound)-\(portRange.upperBound) is too small or below 1024")
        }
        guard let rtpengine = Self.findExecutable("rtpengine") else {
            throw BenchError("rtpengine not found: apt-get install rtpengine-daemon")
        }
        var executable = rtpengine
        var arguments: [String] = []
        if let cpu {
            guard let taskset = Self.findExecutable("taskset") else { throw BenchError("taskset not found: apt-get install util-linux") }
            executable = taskset
            arguments = ["-c", String(cpu), rtpengine]
        }

        let client = try NgClient(port: ngPort, timeout: 1.0, retries: 5)
        // With nothing listening, the connected socket gets ECONNREFUSED at once; an answer
        // means another rtpengine owns the port and would take our calls.
        if (try? client.request(Self.ping, retries: 1, timeout: 0.3)) != nil {
            throw BenchError("rtpengine: something already answers ng on 127.0.0.1:\(ngPort); stop it or use another ng port")
        }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trabant-rtpengine-\(tag)-\(getpid())")
        let configURL = directory.appendingPathComponent("rtpengine-bench.conf")
        let logURL = directory.appendingPathComponent("rtpengine.log")
        let log: FileHandle
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(configuration().utf8).write(to: configURL)
            guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
                throw BenchError("cannot create \(logURL.path)")
            }
            log = try FileHandle(forWritingTo: logURL)
        } catch {
            throw BenchError("rtpengine: cannot prepare \(directory.path): \(error)")
        }
        defer { try? log.close() }
        workDirectory = directory
        logPath = logURL.path

        arguments += [
            "--config-file=\(configURL.path)", "--num-threads=\(threads)", "--foreground", "--log-stderr",
        ]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = log
        p.standardError = log
        do {
            try p.run()
        } catch {
            throw BenchError("rtpengine: cannot run \(executable): \(error)")
        }
        process = p
        pid = p.processIdentifier  // taskset execs rtpengine: same PID
        ng = client

        // Wait for ping -> pong: 50 tries, 0.2 s apart.
        var lastError = "no answer"
        for _ in 0..<50 {
            guard p.isRunning else {
                lastError = "exited with status \(p.terminationStatus)"
                break
            }
            do {
                let reply = try client.request(Self.ping)
                if reply["result"]?.stringValue == "pong" {
                    return
                }
                lastError = "ping answered \(Self.describe(reply))"
            } catch {
                lastError = "\(error)"
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let tail = Self.tail(of: logURL.path)
        terminate()
        ng = nil
        throw BenchError("rtpengine did not answer ng ping on 127.0.0.1:\(ngPort) (\(lastError)); log \(logURL.path):\n\(tail)")
    }

    public func stop() {
        ng = nil
        fromTags = [:]
        guard process != nil else { return }
        terminate()
        if let dir = workDirectory { try? FileManager.default.removeItem(at: dir) }
        workDirectory = nil
        logPath = nil
    }

    /// SIGTERM, then SIGKILL after 5 s; only the process this object started.
    private func terminate() {
        guard let p = process else { return }
        process = nil
        guard p.isRunning else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// rtpengine-bench.conf from bench/media, with this relay's ng port and media ports.
    private func configuration() -> String {
        """
        # rtpengine 10.5 (Debian 12) benchmark config: userspace forwarding only, loopback only.
        [rtpengine]
        table = -1
        no-fallback = false
        interface = 127.0.0.1
        listen-ng = 127.0.0.1:\(ngPort)
        listen-cli = 127.0.0.1:\(ngPort + 2)
        port-min = \(portRange.lowerBound)
        port-max = \(portRange.upperBound)
        timeout = 600
        silent-timeout = 600
        offer-timeout = 600
        delete-delay = 0
        log-level = 4
        log-stderr = true
        foreground = true
        # worker threads: overridden on the command line (--num-threads)
        num-threads = 1
        media-num-threads = 0

        """
    }

    private static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"]
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func tail(of path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    // MARK: - Calls

    public func createCall(index: Int, a: BenchEndpoint, b: BenchEndpoint) throws -> BenchCall {
        guard let ng else { throw BenchError("rtpengine not started") }
        guard a.keys.count >= 2 else { throw BenchError("rtpengine recrypt needs two keys for endpoint A, got \(a.keys.count)") }
        let profile = a.keys[0].profile
        guard a.keys[1].profile == profile else {
            throw BenchError("rtpengine: A's two keys must use one profile (\(a.keys[0].profile), \(a.keys[1].profile))")
        }
        guard let bKey = b.keys.first(where: { $0.profile == profile }) else {
            throw BenchError("rtpengine: endpoint B has no \(profile) key")
        }
        let callID = "bench-\(tag)-\(index)"
        let fromTag = "a\(index)"
        let aKeys = [(1, a.keys[0]), (2, a.keys[1])]

        // A -> rtpengine: offer with A's two keys; rtpengine offers its own keys to B.
        let offerRequest: [String: BencodeValue] = [
            "command": "offer", "call-id": .init(callID), "from-tag": .init(fromTag),
            "sdp": .init(Self.makeSDP(a.address, keys: aKeys, session: index)),
            "ICE": "remove", "DTLS": "off", "replace": .stringList(["origin"]),
        ]
        let offer = try ng.request(.dictionary(offerRequest))
        guard offer["result"]?.stringValue == "ok", let offerSDP = offer["sdp"]?.stringValue else {
            throw BenchError("rtpengine offer failed: \(Self.describe(offer))")
        }
        fromTags[callID] = fromTag
        do {
            return try complete(
                callID: callID, fromTag: fromTag, index: index, offerSDP: offerSDP, aKeys: aKeys, b: b, bKey: bKey)
        } catch {
            // Don't leave the half-made call in rtpengine (the caller never sees its handle).
            fromTags[callID] = nil
            let deleteRequest: [String: BencodeValue] = [
                "command": "delete", "call-id": .init(callID), "from-tag": .init(fromTag),
            ]
            _ = try? ng.request(.dictionary(deleteRequest))
            throw error
        }
    }

    /// The answer half of `createCall`.
    private func complete(
        callID: String, fromTag: String, index: Int, offerSDP: String, aKeys: [(Int, SRTPParameters)],
        b: BenchEndpoint, bKey: SRTPParameters
    ) throws -> BenchCall {
        guard let ng else { throw BenchError("rtpengine not started") }
        let profile = bKey.profile
        let toB = try Self.parseSDP(offerSDP, what: "offer")
        let candidates = toB.crypto.filter { $0.suite == profile.rawValue }
        guard let accepted = candidates.first(where: { $0.tag == 2 }) ?? candidates.first else {
            throw BenchError("rtpengine offer has no \(profile) a=crypto line")
        }

        // B -> rtpengine: answer accepting that tag with B's own key.
        let answerRequest: [String: BencodeValue] = [
            "command": "answer", "call-id": .init(callID), "from-tag": .init(fromTag), "to-tag": .init("b\(index)"),
            "sdp": .init(Self.makeSDP(b.address, keys: [(accepted.tag, bKey)], session: index)),
            "ICE": "remove", "DTLS": "off", "replace": .stringList(["origin"]),
        ]
        let answer = try ng.request(.dictionary(answerRequest))
        guard answer["result"]?.stringValue == "ok", let answerSDP = answer["sdp"]?.stringValue else {
            throw BenchError("rtpengine answer failed: \(Self.describe(answer))")
        }
        let toA = try Self.parseSDP(answerSDP, what: "answer")
        guard let chosen = toA.crypto.first(where: { $0.suite == profile.rawValue }) else {
            throw BenchError("rtpengine answer has no \(profile) a=crypto line")
        }
        guard let aTx = aKeys.first(where: { $0.0 == chosen.tag })?.1 else {
            throw BenchError("rtpengine answer accepted crypto tag \(chosen.tag), which A did not offer")
        }
        return BenchCall(
            sendToA: toA.address, sendToB: toB.address,
            aTx: aTx, aRx: try Self.parameters(profile, chosen.key, what: "answer"),
            bTx: bKey, bRx: try Self.parameters(profile, accepted.key, what: "offer"),
            handle: callID)
    }

    public func deleteCall(_ call: BenchCall) throws {
        guard let ng else { throw BenchError("rtpengine not started") }
        let fromTag = fromTags.removeValue(forKey: call.handle)
        var request: [String: BencodeValue] = ["command": "delete", "call-id": .init(call.handle)]
        if let fromTag { request["from-tag"] = .init(fromTag) }
        let reply = try ng.request(.dictionary(request))
        guard reply["result"]?.stringValue == "ok" else {
            throw BenchError("rtpengine delete failed: \(Self.describe(reply))")
        }
    }

    // MARK: - SDP

    static func makeSDP(_ address: MediaAddress, keys: [(Int, SRTPParameters)], session: Int) -> String {
        let family = address.isIPv6 ? "IP6" : "IP4"
        var lines = [
            "v=0", "o=- \(session) 1 IN \(family) \(address.host)", "s=-", "c=IN \(family) \(address.host)", "t=0 0",
            "m=audio \(address.port) \(keys.isEmpty ? "RTP/AVP" : "RTP/SAVP") 0", "a=rtpmap:0 PCMU/8000", "a=ptime:20",
        ]
        for (tag, key) in keys {
            lines.append("a=crypto:\(tag) \(key.profile.rawValue) inline:\(Data(key.keyingMaterial).base64EncodedString())")
        }
        lines.append("a=sendrecv")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    struct SDPCrypto {
        var tag: Int
        var suite: String
        /// The inline key, base64 as in the SDP (without lifetime or MKI).
        var key: String
    }

    struct SDPMedia {
        var address: MediaAddress
        var proto: String
        var crypto: [SDPCrypto]
    }

    /// The first `m=audio` port and protocol, the first `c=IN IP4|IP6` address, and every
    /// `a=crypto:<tag> <suite> inline:<key>[|...]` line.
    static func parseSDP(_ sdp: String, what: String) throws -> SDPMedia {
        var port: UInt16?
        var proto = ""
        var host: String?
        var crypto: [SDPCrypto] = []
        for raw in sdp.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("m=audio "), port == nil, fields.count >= 3 {
                port = UInt16(fields[1])
                proto = String(fields[2])
            } else if line.hasPrefix("c=IN "), host == nil, fields.count >= 3 {
                host = String(fields[2])
            } else if line.hasPrefix("a=crypto:"), fields.count >= 3, fields[2].hasPrefix("inline:"),
                let tag = Int(fields[0].dropFirst("a=crypto:".count))
            {
                let key = fields[2].dropFirst("inline:".count).prefix { $0.isASCII && ($0.isLetter || $0.isNumber || "+/=".contains($0)) }
                crypto.append(SDPCrypto(tag: tag, suite: String(fields[1]), key: String(key)))
            }
        }
        guard let port, port != 0 else { throw BenchError("rtpengine \(what) SDP has no usable m=audio port:\n\(redacted(sdp))") }
        guard let host, let address = MediaAddress(host: host, port: port) else {
            throw BenchError("rtpengine \(what) SDP has no usable c= address:\n\(redacted(sdp))")
        }
        return SDPMedia(address: address, proto: proto, crypto: crypto)
    }

    static func parameters(_ profile: SRTPProfile, _ base64: String, what: String) throws -> SRTPParameters {
        var text = base64
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { throw BenchError("rtpengine \(what): a=crypto inline key is not base64") }
        do {
            return try SRTPParameters(profile: profile, keyingMaterial: [UInt8](data))
        } catch {
            throw BenchError("rtpengine \(what): a=crypto inline key: \(error)")
        }
    }

    /// The SDP with its keys replaced, for error messages.
    static func redacted(_ sdp: String) -> String {
        sdp.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("a=crypto:"), let r = line.range(of: "inline:") else { return String(line) }
            return String(line[..<r.upperBound]) + "<redacted>"
        }.joined(separator: "\n")
    }

    /// `result` and `error-reason` / `warning` of an ng reply.
    static func describe(_ reply: BencodeValue) -> String {
        var parts = [reply["result"]?.stringValue ?? "no result"]
        if let reason = reply["error-reason"]?.stringValue { parts.append(reason) }
        if let warning = reply["warning"]?.stringValue { parts.append("warning: \(warning)") }
        return parts.joined(separator: ": ")
    }
}

// MARK: - ng over UDP

/// An ng client on a UDP socket bound to 127.0.0.1:0 and connected to rtpengine's ng port
/// (connected, so that a port nobody listens on fails at once with ECONNREFUSED).
private final class NgClient {
    private let fd: Int32
    private let port: UInt16
    private let timeout: Double
    private let retries: Int
    private var sequence = 0

    init(port: UInt16, timeout: Double, retries: Int) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { throw BenchError("rtpengine ng: socket() failed: errno \(errno)") }
        var local = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw BenchError("rtpengine ng: bind(127.0.0.1:0) failed: errno \(e)")
        }
        var remote = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let e = errno
            close(fd)
            throw BenchError("rtpengine ng: connect(127.0.0.1:\(port)) failed: errno \(e)")
        }
        self.fd = fd
        self.port = port
        self.timeout = timeout
        self.retries = retries
    }

    deinit { close(fd) }

    /// Sends `message` with a fresh cookie and returns the reply carrying the same cookie:
    /// up to `retries` sends, each waiting `timeout` seconds.
    func request(_ message: BencodeValue, retries: Int? = nil, timeout: Double? = nil) throws -> BencodeValue {
        sequence += 1
        let cookie = "\(sequence)_\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let datagram = NgFrame.encode(cookie: cookie, message: message)
        let command = message["command"]?.stringValue ?? "?"
        let wait = timeout ?? self.timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<max(1, retries ?? self.retries) {
            let sent = datagram.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard sent == datagram.count else {
                let e = errno
                if e == ECONNREFUSED { throw BenchError("rtpengine ng \(command): nothing listens on 127.0.0.1:\(port)") }
                throw BenchError("rtpengine ng \(command): send failed: errno \(e)")
            }
            let deadline = Date().addingTimeInterval(wait)
            while true {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { break }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, Int32(max(1, (left * 1000).rounded(.up))))
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw BenchError("rtpengine ng \(command): poll failed: errno \(errno)")
                }
                if ready == 0 { break }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 {
                    let e = errno
                    if e == ECONNREFUSED { throw BenchError("rtpengine ng \(command): nothing listens on 127.0.0.1:\(port)") }
                    if e == EINTR || e == EAGAIN { continue }
                    throw BenchError("rtpengine ng \(command): recv failed: errno \(e)")
                }
                let frame: (cookie: String, message: BencodeValue)
                do {
                    frame = try NgFrame.decode(Array(buffer[0..<n]))
                } catch {
                    continue  // not a well-formed ng reply (or one to another request): ignore
                }
                guard frame.cookie == cookie else { continue }  // late reply to an earlier try
                guard frame.message.dictionaryValue != nil else {
                    throw BenchError("rtpengine ng \(command): reply is not a dictionary")
                }
                return frame.message
            }
        }
        throw BenchError("rtpengine ng \(command) timed out (\(max(1, retries ?? self.retries)) x \(wait) s)")
    }
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return addr
}
