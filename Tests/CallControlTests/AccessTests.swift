import Testing

@testable import CallControl

@Suite("Access: CIDR and the access gate")
struct AccessTests {
    /// The 16-byte form of a textual address (IPv4 as ::ffff:a.b.c.d).
    static func ip(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
        guard let parsed = IPAddressBytes.parse(text) else {
            Issue.record("'\(text)' is not an address", sourceLocation: sourceLocation)
            return []
        }
        return parsed.bytes
    }

    static func cidr(_ text: String) throws -> CIDR { try CIDR(parsing: text) }

    /// The error a text gives, nil when it parses.
    static func cidrError(_ text: String) -> CIDRError? {
        do {
            _ = try CIDR(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    // MARK: CIDR

    @Test func parsesIPv4Networks() throws {
        let n = try Self.cidr("10.0.0.0/8")
        #expect(n.isIPv4)
        #expect(n.prefix == 104)  // over the IPv4-mapped 128-bit form
        #expect(n.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 0])
        #expect(n.description == "10.0.0.0/8")
        // Host bits are masked off.
        #expect(try Self.cidr("10.1.2.3/8") == n)
        #expect(try Self.cidr("172.16.5.4/12").description == "172.16.0.0/12")
    }

    @Test func parsesIPv6Networks() throws {
        let n = try Self.cidr("2001:db8::/32")
        #expect(!n.isIPv4)
        #expect(n.prefix == 32)
        #expect(n.bytes == [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 12))
        #expect(try Self.cidr("2001:db8:ffff::1/32") == n)
        #expect(try Self.cidr("[2001:db8::1]/64").prefix == 64)
    }

    @Test func bareAddressesAreHostRoutes() throws {
        let v4 = try Self.cidr("192.0.2.7")
        #expect(v4.isIPv4 && v4.prefix == 128)
        #expect(v4.description == "192.0.2.7/32")
        #expect(v4.contains(Self.ip("192.0.2.7")))
        #expect(!v4.contains(Self.ip("192.0.2.8")))
        let v6 = try Self.cidr("2001:db8::1")
        #expect(!v6.isIPv4 && v6.prefix == 128)
        #expect(v6.contains(Self.ip("2001:db8::1")))
        #expect(!v6.contains(Self.ip("2001:db8::2")))
    }

    @Test func invalidPrefixes() {
        for (text, range) in [("10.0.0.0/33", "0...32"), ("10.0.0.0/-1", "0...32"), ("10.0.0.0/x", "0...32"),
                              ("10.0.0.0/", "0...32"), ("2001:db8::/129", "0...128")] {
            let error = Self.cidrError(text)
            #expect(error != nil, "\(text)")
            #expect(error?.message.contains("prefix length must be \(range)") == true, "\(text)")
            #expect(error?.message.contains(text) == true, "\(text)")
        }
    }

    @Test func invalidAddresses() {
        for text in ["10.0.0.256/8", "10.0.0/8", "example.com/24", "", "/8", "2001:db8:::1/32", "1.2.3.4.5", "2001:db8::g/32"] {
            let error = Self.cidrError(text)
            #expect(error != nil, "\(text)")
            #expect(error?.message.contains("is not an IPv4 or IPv6 address") == true, "\(text)")
            #expect(error?.description == error?.message)
        }
    }

    @Test func containsAtTheBoundaries() throws {
        let ten = try Self.cidr("10.0.0.0/8")
        #expect(ten.contains(Self.ip("10.0.0.0")))
        #expect(ten.contains(Self.ip("10.255.255.255")))
        #expect(!ten.contains(Self.ip("11.0.0.0")))
        #expect(!ten.contains(Self.ip("9.255.255.255")))

        let private12 = try Self.cidr("172.16.0.0/12")
        #expect(private12.contains(Self.ip("172.31.255.255")))
        #expect(!private12.contains(Self.ip("172.32.0.0")))
        #expect(!private12.contains(Self.ip("172.15.255.255")))

        let v6 = try Self.cidr("2001:db8:8000::/33")
        #expect(v6.contains(Self.ip("2001:db8:ffff:ffff::1")))
        #expect(v6.contains(Self.ip("2001:db8:8000::")))
        #expect(!v6.contains(Self.ip("2001:db8:7fff:ffff::1")))
        #expect(!v6.contains(Self.ip("2001:db9::")))

        // Only the 16-byte form is understood.
        let fourBytes: [UInt8] = [10, 0, 0, 1]
        let empty: [UInt8] = []
        #expect(!ten.contains(fourBytes))
        #expect(!ten.contains(empty))
    }

    @Test func ipv4MappedIPv6SourcesMatchIPv4Networks() throws {
        let ten = try Self.cidr("10.0.0.0/8")
        #expect(ten.contains(Self.ip("::ffff:10.1.2.3")))
        #expect(ten.contains(Self.ip("::FFFF:a01:203")))  // the same address in hex groups
        #expect(!ten.contains(Self.ip("::ffff:11.1.2.3")))
        #expect(!ten.contains(Self.ip("::10.1.2.3")))  // IPv4-compatible, not mapped
        #expect(!ten.contains(Self.ip("2001:db8::a01:203")))
        let v6 = try Self.cidr("2001:db8::/32")
        #expect(!v6.contains(Self.ip("10.1.2.3")))
    }

    @Test func zeroPrefixes() throws {
        let allV4 = try Self.cidr("0.0.0.0/0")
        #expect(allV4.contains(Self.ip("203.0.113.9")))
        #expect(allV4.contains(Self.ip("255.255.255.255")))
        #expect(!allV4.contains(Self.ip("2001:db8::1")))  // IPv4 /0 is every IPv4 address only
        #expect(allV4.description == "0.0.0.0/0")
        let all = try Self.cidr("::/0")
        #expect(all.contains(Self.ip("2001:db8::1")))
        #expect(all.contains(Self.ip("203.0.113.9")))
        #expect(all.prefix == 0)
    }

    @Test(arguments: ["10.0.0.0/8", "192.0.2.7", "0.0.0.0/0", "172.16.0.0/12", "2001:db8::/32", "2001:db8::1", "::/0",
                      "fe80::/10", "2001:db8:8000::/33"])
    func descriptionRoundTrips(text: String) throws {
        let n = try CIDR(parsing: text)
        #expect(try CIDR(parsing: n.description) == n)
    }

    @Test func addressFormatting() throws {
        #expect(IPAddressBytes.format(Self.ip("192.0.2.1")) == "192.0.2.1")
        // RFC 5952: the longest zero run (the first of equal ones) compressed, lower case.
        #expect(IPAddressBytes.format(Self.ip("2001:db8::1")) == "2001:db8::1")
        #expect(IPAddressBytes.format(Self.ip("2001:0:0:1:0:0:0:1")) == "2001:0:0:1::1")
        #expect(IPAddressBytes.format(Self.ip("2001:db8:0:1:0:0:1:1")) == "2001:db8:0:1::1:1")
        #expect(IPAddressBytes.format(Self.ip("2001:db8:0:1:1:1:1:1")) == "2001:db8:0:1:1:1:1:1", "one zero group stays")
        #expect(IPAddressBytes.format(Self.ip("::")) == "::")
        #expect(IPAddressBytes.format(Self.ip("::1")) == "::1")
        #expect(IPAddressBytes.format(Self.ip("fe80::")) == "fe80::")
        #expect(IPAddressBytes.format(Self.ip("2001:DB8::A")) == "2001:db8::a")
        #expect(IPAddressBytes.parse("[2001:db8::1]")?.isIPv4 == false)
        #expect(IPAddressBytes.parse("fe80::1%eth0")?.bytes == Self.ip("fe80::1"))
        #expect(IPAddressBytes.parse("01.2.3.4") == nil, "leading zeros are refused: resolvers read them as octal")
        #expect(IPAddressBytes.parse("0.2.3.4") != nil)
        #expect(IPAddressBytes.parse("1.2.3.0004") == nil)
        #expect(IPAddressBytes.parse("1:2:3:4:5:6:7:8:9") == nil)
    }

    // MARK: AccessGate

    static func limits(connections: Int = 100, requests: Int = 20_000, window: Double = 2, block: Double = 60) -> AccessGate.Limits {
        var l = AccessGate.Limits()
        l.connectionsPerWindow = connections
        l.requestsPerWindow = requests
        l.window = window
        l.blockTime = block
        return l
    }

    static func gate(_ limits: AccessGate.Limits = AccessGate.Limits()) throws -> AccessGate {
        let networks = try [CIDR(parsing: "10.0.0.0/8"), CIDR(parsing: "2001:db8::/32")]
        return AccessGate(networks: networks, limits: limits)
    }

    @Test func defaults() {
        let l = AccessGate.Limits()
        #expect(l.connectionsPerWindow == 100 && l.requestsPerWindow == 20_000 && l.window == 2 && l.blockTime == 60)
        #expect(AccessGate.Verdict.scanner.label == "scanner_user_agent")
        #expect(AccessGate.Verdict.notInACL.label == "not_in_acl")
    }

    @Test func sourcesOutsideTheACLAreRefusedAndNotTracked() throws {
        var g = try Self.gate()
        let verdict1 = g.admitConnection(from: Self.ip("192.0.2.1"), now: 0)
        #expect(verdict1 == .notInACL)
        let verdict2 = g.admitConnection(from: Self.ip("2001:db9::1"), now: 0)
        #expect(verdict2 == .notInACL)
        #expect(g.trackedSources == 0)
        let verdict3 = g.admitConnection(from: Self.ip("10.1.1.1"), now: 0)
        #expect(verdict3 == .allow)
        let verdict4 = g.admitConnection(from: Self.ip("::ffff:10.1.1.2"), now: 0)
        #expect(verdict4 == .allow)
        let verdict5 = g.admitConnection(from: Self.ip("2001:db8::7"), now: 0)
        #expect(verdict5 == .allow)
        #expect(g.inACL(Self.ip("10.200.0.1")))
        #expect(!g.inACL(Self.ip("11.0.0.1")))
        #expect(g.trackedSources == 3)
    }

    @Test func connectionRateLimitBlocksForTheBlockTime() throws {
        var g = try Self.gate(Self.limits(connections: 3, window: 2, block: 60))
        let source = Self.ip("10.0.0.1")
        let other = Self.ip("10.0.0.2")
        for _ in 0..<3 {
            let verdict6 = g.admitConnection(from: source, now: 0)
            #expect(verdict6 == .allow)
        }
        #expect(!g.isBlocked(source, now: 0))
        let verdict7 = g.admitConnection(from: source, now: 0.5)
        #expect(verdict7 == .connectionRateExceeded)
        #expect(g.isBlocked(source, now: 0.5))
        // Blocked for connections and requests alike, other sources unaffected.
        let verdict8 = g.admitConnection(from: source, now: 1)
        #expect(verdict8 == .blocked)
        let verdict9 = g.admitRequest(from: source, userAgent: "Linphone/5.2", now: 1)
        #expect(verdict9 == .blocked)
        let verdict10 = g.admitConnection(from: other, now: 1)
        #expect(verdict10 == .allow)
        // Still blocked after the window; free again when the block time (60 s from 0.5) is over.
        let verdict11 = g.admitConnection(from: source, now: 30)
        #expect(verdict11 == .blocked)
        #expect(g.isBlocked(source, now: 60.4))
        #expect(!g.isBlocked(source, now: 60.5))
        let verdict12 = g.admitConnection(from: source, now: 60.5)
        #expect(verdict12 == .allow)
    }

    @Test func theWindowResetsTheCount() throws {
        var g = try Self.gate(Self.limits(connections: 2, window: 2))
        let source = Self.ip("10.0.0.1")
        let verdict13 = g.admitConnection(from: source, now: 0)
        #expect(verdict13 == .allow)
        let verdict14 = g.admitConnection(from: source, now: 1.9)
        #expect(verdict14 == .allow)
        let verdict15 = g.admitConnection(from: source, now: 2)
        #expect(verdict15 == .allow)  // a new window began
        let verdict16 = g.admitConnection(from: source, now: 3)
        #expect(verdict16 == .allow)
        let verdict17 = g.admitConnection(from: source, now: 3.5)
        #expect(verdict17 == .connectionRateExceeded)
    }

    @Test func requestRateLimit() throws {
        var g = try Self.gate(Self.limits(connections: 2, requests: 5, block: 10))
        let source = Self.ip("10.0.0.9")
        let verdict18 = g.admitConnection(from: source, now: 0)
        #expect(verdict18 == .allow)
        for i in 0..<5 {
            let verdict19 = g.admitRequest(from: source, userAgent: nil, now: Double(i) * 0.1)
            #expect(verdict19 == .allow)
        }
        // Requests and connections are counted apart.
        let verdict20 = g.admitConnection(from: source, now: 0.5)
        #expect(verdict20 == .allow)
        let verdict21 = g.admitRequest(from: source, userAgent: nil, now: 0.6)
        #expect(verdict21 == .requestRateExceeded)
        let verdict22 = g.admitRequest(from: source, userAgent: nil, now: 0.7)
        #expect(verdict22 == .blocked)
        let verdict23 = g.admitConnection(from: source, now: 0.7)
        #expect(verdict23 == .blocked)
        let verdict24 = g.admitRequest(from: source, userAgent: nil, now: 10.6)
        #expect(verdict24 == .allow)
    }

    @Test func scannerUserAgentsAreRefusedAndBlocked() throws {
        var g = try Self.gate()
        let scanner = Self.ip("10.0.0.66")
        let verdict25 = g.admitRequest(from: scanner, userAgent: "Friendly-Scanner", now: 0)
        #expect(verdict25 == .scanner)
        #expect(g.isBlocked(scanner, now: 59.9))
        #expect(!g.isBlocked(scanner, now: 60))
        let verdict26 = g.admitRequest(from: scanner, userAgent: "Linphone/5.2", now: 1)
        #expect(verdict26 == .blocked)
        let verdict27 = g.admitConnection(from: scanner, now: 1)
        #expect(verdict27 == .blocked)
        let verdict28 = g.admitRequest(from: scanner, userAgent: "Linphone/5.2", now: 61)
        #expect(verdict28 == .allow)

        // Case-insensitive substrings of the default list.
        for (i, ua) in ["friendly-scanner", "SIPVicious 0.3", "pplsip", "something sipcli/v1.8", "eyeBeam-Scan x"].enumerated() {
            let verdict29 = g.admitRequest(from: Self.ip("10.1.0.\(i)"), userAgent: ua, now: 0)
            #expect(verdict29 == .scanner, "\(ua)")
        }
        for (i, ua) in ["Linphone/5.2", "baresip v3", "Grandstream GXP2170", ""].enumerated() {
            let verdict30 = g.admitRequest(from: Self.ip("10.2.0.\(i)"), userAgent: ua, now: 0)
            #expect(verdict30 == .allow, "\(ua)")
        }
        let verdict31 = g.admitRequest(from: Self.ip("10.3.0.1"), userAgent: nil, now: 0)
        #expect(verdict31 == .allow)
    }

    @Test func customDeniedUserAgentsReplaceTheDefaults() throws {
        let networks = try [CIDR(parsing: "10.0.0.0/8")]
        var g = AccessGate(networks: networks, deniedUserAgents: ["BadBot"])
        #expect(g.deniedUserAgents == ["badbot"])
        let verdict32 = g.admitRequest(from: Self.ip("10.0.0.1"), userAgent: "x-BADBOT-y", now: 0)
        #expect(verdict32 == .scanner)
        let verdict33 = g.admitRequest(from: Self.ip("10.0.0.2"), userAgent: "friendly-scanner", now: 0)
        #expect(verdict33 == .allow)
    }

    @Test func pruneBoundsTheTrackedSources() throws {
        var g = try Self.gate(Self.limits(window: 2, block: 60))
        for i in 0..<200 {
            let verdict34 = g.admitConnection(from: Self.ip("10.0.\(i / 100).\(i % 100)"), now: 0)
            #expect(verdict34 == .allow)
        }
        let verdict35 = g.admitRequest(from: Self.ip("10.9.9.9"), userAgent: "sipvicious", now: 0)
        #expect(verdict35 == .scanner)
        #expect(g.trackedSources == 201)
        g.prune(now: 1)  // windows still open
        #expect(g.trackedSources == 201)
        g.prune(now: 5)  // windows over; the blocked source stays
        #expect(g.trackedSources == 1)
        #expect(g.isBlocked(Self.ip("10.9.9.9"), now: 5))
        g.prune(now: 61)
        #expect(g.trackedSources == 0)
    }
}
