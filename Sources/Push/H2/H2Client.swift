import Foundation
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP/2 client of the push sender: one TLS connection per provider and event loop,
/// directly or through a CONNECT proxy, certificates always verified (chain and name).
/// Requests from any thread are collected and written by the loop in batches with one
/// flush; answers come back by stream id, without a channel per stream.
final class H2Client: Sendable {
    struct Origin: Hashable, Sendable {
        var host: String
        var port: Int
        /// "host:port" as HTTP writes it (an IPv6 address in brackets).
        var hostPort: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }
        var authority: String { port == 443 && !host.utf8.contains(UInt8(ascii: ":")) ? host : hostPort }
        var isIPAddress: Bool { host.utf8.contains(UInt8(ascii: ":")) || IPv4Address(host) != nil }
    }

    let tls: NIOSSLContext
    let proxy: PushSettings.Proxy?
    let dnsOverride: [String: String]
    let connectTimeout: TimeAmount
    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let loops: [any EventLoop]
    let links: Mutex<[Int: [Origin: H2Link]]> = Mutex([:])
    let isShutDown = Atomic<Bool>(false)
    let next = Atomic<Int>(0)

    init(
        tls: NIOSSLContext, proxy: PushSettings.Proxy?, dnsOverride: [String: String], group: any EventLoopGroup,
        connectTimeout: TimeAmount = .seconds(5), requestTimeout: TimeAmount = .seconds(20), idleTimeout: TimeAmount = .seconds(120)
    ) {
        self.tls = tls
        self.proxy = proxy
        self.dnsOverride = dnsOverride
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.loops = Array(group.makeIterator())
    }

    /// POSTs `body` to `url` ("https://host[:port]/path"); the answer's status, body and
    /// Retry-After.
    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> H2Response {
        let (origin, path) = try Self.split(url)
        return try await post(origin: origin, path: path, headers: headers, body: body)
    }

    /// A base URL ("https://host[:port][/prefix]") split once: its origin and the prefix of
    /// every path under it.
    struct Endpoint: Sendable {
        var origin: Origin
        var prefix: String

        init(_ base: String) throws {
            let (origin, path) = try H2Client.split(base)
            self.origin = origin
            prefix = path.hasSuffix("/") ? String(path.dropLast()) : path
        }
    }

    func post(_ endpoint: Endpoint, path: String, headers: [(String, String)], body: [UInt8]) async throws -> H2Response {
        try await post(origin: endpoint.origin, path: endpoint.prefix + path, headers: headers, body: body)
    }

    func post(origin: Origin, path: String, headers: [(String, String)], body: [UInt8]) async throws -> H2Response {
        guard !isShutDown.load(ordering: .relaxed) else { throw H2Error.connectionClosed }
        guard Self.isSafe(path), !path.utf8.contains(32) else { throw H2Error.badRequest("the path \(path) has a space, CR, LF or NUL") }
        for (name, value) in headers where !Self.isHeaderName(name) || !Self.isSafe(value) {
            throw H2Error.badRequest("the header \(name): HTTP/2 allows lower-case names and values without CR, LF or NUL")
        }
        // Through a proxy the socket's address is the proxy's: an IP address in the URL could
        // not be checked against the certificate. Names only.
        if proxy != nil, origin.isIPAddress {
            throw H2Error.badRequest("\(origin.host) is an IP address: through a proxy the provider's certificate can only be checked against a name")
        }
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count
        let loop = loops[index]
        let promise = loop.makePromise(of: H2Response.self)
        link(origin, index).submit(H2Request(authority: origin.authority, path: path, headers: headers, body: body, promise: promise))
        return try await promise.futureResult.get()
    }

    func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        let all = links.withLock { l -> [H2Link] in
            defer { l.removeAll() }
            return l.values.flatMap(\.values)
        }
        for l in all { await l.close() }
    }

    private func link(_ origin: Origin, _ index: Int) -> H2Link {
        links.withLock { l in
            if let link = l[index]?[origin] { return link }
            let link = H2Link(client: self, origin: origin, loop: loops[index])
            l[index, default: [:]][origin] = link
            return link
        }
    }

    /// Digits only (no sign), 1 to 65535.
    static func port(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 5, s.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let p = Int(s), (1...65535).contains(p) else { return nil }
        return p
    }

    /// A DNS name (letters, digits, '-', '.') or an address: nothing that could end a header line.
    static func isHost(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy {
            (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x3A
        }
    }

    static func isSafe(_ s: String) -> Bool { !s.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 } }
    static func isHeaderName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
    }

    /// "https://host[:port]/path" → origin and path (only https: certificates are always verified).
    static func split(_ url: String) throws -> (Origin, String) {
        guard url.hasPrefix("https://") else { throw H2Error.badRequest("\(url): only https:// URLs") }
        let rest = url.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = String(hostPort)
        var port = 443
        if hostPort.hasPrefix("[") {  // [IPv6]:port
            guard let close = hostPort.firstIndex(of: "]") else { throw H2Error.badRequest("\(url): a bad IPv6 address") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Self.port(after.dropFirst()) else { throw H2Error.badRequest("\(url): a bad port") }
                port = p
            } else if !after.isEmpty {
                throw H2Error.badRequest("\(url): something after the IPv6 address")
            }
            guard host.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || (Character(Unicode.Scalar($0)).isHexDigit) }) else {
                throw H2Error.badRequest("\(url): not an IPv6 address in brackets")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            guard let p = Self.port(hostPort[hostPort.index(after: colon)...]) else { throw H2Error.badRequest("\(url): a bad port") }
            host = String(hostPort[..<colon])
            port = p
            guard !host.utf8.contains(UInt8(ascii: ":")) else { throw H2Error.badRequest("\(url): an IPv6 address goes in brackets") }
        }
        guard isHost(host), (1...65535).contains(port), isSafe(path), !path.utf8.contains(32), !path.contains("#") else {
            throw H2Error.badRequest("\(url): not https://host[:port][/path] (a name, an IPv4 address or [IPv6], no user@, no #)")
        }
        return (Origin(host: host, port: port), path)
    }
}

/// Parses dotted IPv4 text (to decide whether a host is sent as SNI).
struct IPv4Address {
    init?(_ s: String) {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
    }
}
