import CallControl
import Foundation
import SIP
import Testing

/// RFC 4475, the SIP torture test messages, through the same parser and checks a message
/// from the network meets: each is parsed right, or refused with the response the RFC names
/// — never a crash. The bytes and the RFC's expectations are in Fixtures/rfc4475 of SIPTests.
@Suite("RFC 4475 torture messages")
struct TortureTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case parseError(Int)
        /// The stream parser waits for more bytes (a TCP peer that has not sent them all).
        case incomplete
        /// Statuses the controller answered with (100 Trying left out).
        case responded([Int])
        /// Parsed and nothing sent back (responses, ACK).
        case silent

        var description: String {
            switch self {
            case .parseError(let s): return "refused by the parser with \(s)"
            case .incomplete: return "waiting for more bytes"
            case .responded(let s): return "answered \(s)"
            case .silent: return "parsed, nothing answered"
            }
        }

        func refused(with statuses: Set<Int>) -> Bool {
            switch self {
            case .parseError(let s): return statuses.contains(s)
            case .responded(let r): return r.contains(where: statuses.contains)
            default: return false
            }
        }
    }

    /// What RFC 4475 allows for each message an element may refuse or must not accept blindly.
    enum Rule {
        case refuse(Set<Int>)
        case refuseOrIncomplete(Set<Int>)
        /// Must be understood and answered without a 400 (or, for responses, dropped).
        case accept
        /// Any handling but a crash (the RFC leaves it to the element).
        case anything
    }

    static let rules: [String: Rule] = [
        "badinv01.dat": .refuse([400]), "clerr.dat": .refuseOrIncomplete([400]), "ncl.dat": .refuse([400]),
        "scalar02.dat": .refuse([400]), "scalarlg.dat": .anything, "quotbal.dat": .refuse([400]),
        "ltgtruri.dat": .refuse([400]), "lwsruri.dat": .refuse([400]), "lwsstart.dat": .refuse([400]),
        "trws.dat": .anything, "escruri.dat": .refuse([400]), "baddate.dat": .anything,
        "regbadct.dat": .refuse([400, 405]), "badaspec.dat": .refuse([400]), "baddn.dat": .refuseOrIncomplete([400]),
        "badvers.dat": .refuse([505]), "mismatch01.dat": .refuse([400]), "mismatch02.dat": .refuse([501, 400]),
        "bigcode.dat": .anything, "badbranch.dat": .accept, "insuf.dat": .refuse([400]), "unkscm.dat": .refuse([416]),
        "novelsc.dat": .refuse([416, 404]), "unksm2.dat": .refuse([400, 405]), "bext01.dat": .refuse([420]),
        "invut.dat": .refuse([415]), "regaut01.dat": .anything, "multi01.dat": .refuse([400]), "mcl01.dat": .refuse([400]),
        "bcast.dat": .accept, "zeromf.dat": .accept, "cparam01.dat": .accept, "cparam02.dat": .accept,
        "regescrt.dat": .accept, "sdp01.dat": .refuse([406, 400]), "inv2543.dat": .anything, "test.dat": .refuse([400]),
    ]

    struct Entry: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let section: String
        let title: String
        let valid: Bool
        let expect: Expect
        var testDescription: String { "\(file) (§\(section) \(title))" }
    }

    struct Expect: Decodable, Sendable {
        struct CSeqValue: Decodable, Sendable {
            let number: UInt64
            let method: String
        }
        let kind: String?
        let method: String?
        let requestURI: String?
        let callID: String?
        let cseq: CSeqValue?
        let viaCount: Int?
        let statusCode: Int?
        let bodyLength: Int?
    }

    static let fixtures: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SIPTests/Fixtures/rfc4475")

    static let entries: [Entry] = {
        guard let data = try? Data(contentsOf: fixtures.appendingPathComponent("manifest.json")),
            let list = try? JSONDecoder().decode([Entry].self, from: data)
        else { return [] }
        return list
    }()

    static func outcome(_ bytes: [UInt8]) -> (Outcome, SIPMessage?) {
        var parser = SIPStreamParser()
        parser.feed(bytes)
        let message: SIPMessage
        do {
            guard let m = try parser.next() else { return (.incomplete, nil) }
            message = m
        } catch {
            return (.parseError(error.responseStatus), nil)
        }
        let core = B2BUACore(settings: CoreSettings(advertisedHost: "192.0.2.10", targetNetworks: [try! CIDR(parsing: "192.0.2.0/24")]))
        let statuses = core.handle(.message(message, connection: ConnectionID(1)), now: 0).compactMap { a -> Int? in
            if case .send(let r, _) = a, let s = r.status, s != 100 { return s }
            return nil
        }
        return (statuses.isEmpty ? .silent : .responded(statuses), message)
    }

    @Test func theCorpusIsComplete() {
        #expect(Self.entries.count == 50, "manifest.json lists the 49 messages of RFC 4475 and test.dat")
        let covered = Set(Self.entries.filter { !$0.valid }.map(\.file)).union(Self.entries.filter(\.valid).map(\.file))
        #expect(covered.count == 50)
        for e in Self.entries where !e.valid {
            #expect(Self.rules[e.file] != nil, "\(e.file) has a rule")
        }
    }

    /// §3.1.1: valid messages parse, with the values the RFC says they carry.
    @Test(arguments: entries.filter(\.valid))
    func validMessagesParseRight(_ entry: Entry) throws {
        let bytes = Array(try Data(contentsOf: Self.fixtures.appendingPathComponent(entry.file)))
        let (outcome, parsed) = Self.outcome(bytes)
        if entry.file == "inv2543.dat" {
            // Valid in a UDP datagram, but it has no Content-Length: over TCP, where Trabant
            // takes SIP, that is a framing error (RFC 3261 §18.3) and gets 400.
            #expect(outcome == .parseError(400), "\(outcome)")
            return
        }
        let m = try #require(parsed, "\(entry.file): \(outcome)")
        let e = entry.expect
        if let method = e.method { #expect(m.method == method) }
        if let uri = e.requestURI { #expect(m.requestURI == uri) }
        if let status = e.statusCode { #expect(m.status == status) }
        if let callID = e.callID { #expect(m.callID == callID) }
        if let cseq = e.cseq {
            #expect(m.cseq?.number == UInt32(cseq.number))
            #expect(m.cseq?.method == cseq.method)
        }
        if let vias = e.viaCount { #expect(m.vias.count == vias) }
        if let body = e.bodyLength { #expect(m.body.count == body) }
        if case .responded(let statuses) = outcome {
            #expect(!statuses.contains(400), "\(entry.file) is valid and must not get 400: \(statuses)")
        }
    }

    /// §3.1.2–§3.4: invalid or unusual messages are refused as the RFC says, or understood.
    @Test(arguments: entries.filter { !$0.valid })
    func otherMessagesAreHandledAsTheRFCSays(_ entry: Entry) throws {
        let bytes = Array(try Data(contentsOf: Self.fixtures.appendingPathComponent(entry.file)))
        let (outcome, _) = Self.outcome(bytes)
        switch Self.rules[entry.file] ?? .anything {
        case .refuse(let statuses):
            #expect(outcome.refused(with: statuses), "\(entry.file): expected a refusal with \(statuses.sorted()), got \(outcome)")
        case .refuseOrIncomplete(let statuses):
            #expect(outcome == .incomplete || outcome.refused(with: statuses), "\(entry.file): \(outcome)")
        case .accept:
            switch outcome {
            case .silent: break
            case .responded(let statuses): #expect(!statuses.contains(400), "\(entry.file) must be accepted: \(outcome)")
            default: Issue.record("\(entry.file) must be accepted, but was \(outcome)")
            }
        case .anything:
            break  // reaching here without a crash is the requirement
        }
    }

    /// Every message cut at every length, and fed byte by byte: never a crash, never more
    /// than what was fed consumed.
    @Test func prefixesAndSplitsNeverCrash() throws {
        for entry in Self.entries {
            let bytes = Array(try Data(contentsOf: Self.fixtures.appendingPathComponent(entry.file)))
            var whole = SIPStreamParser()
            var split = SIPStreamParser()
            var a: [SIPMessage] = []
            var b: [SIPMessage] = []
            whole.feed(bytes)
            while let m = try? whole.next() { a.append(m) }
            for byte in bytes {
                split.feed([byte])
                while let m = try? split.next() { b.append(m) }
            }
            #expect(a.count == b.count, "\(entry.file): fed whole gives \(a.count) messages, byte by byte \(b.count)")
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 64)) {
                _ = Self.outcome(Array(bytes[..<cut]))
            }
        }
    }

    /// A bounded mutation fuzzer (property: no input crashes the parser or the core, and a
    /// refusal is always a 4xx/5xx): the corpus messages with bytes flipped, inserted, cut
    /// and lines repeated, from a fixed seed so a failure can be replayed.
    @Test func mutatedMessagesNeverCrash() throws {
        var rng = SplitMix64(seed: 4475)
        let corpus = try Self.entries.map { Array(try Data(contentsOf: Self.fixtures.appendingPathComponent($0.file))) }
        let interesting: [UInt8] = Array(":;,<>\"\\ \t\r\n=@%[]/0z".utf8)
        var refused = 0
        for _ in 0..<4000 {
            var bytes = corpus[Int(rng.next() % UInt64(corpus.count))]
            for _ in 0..<(1 + Int(rng.next() % 8)) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 5 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: at)
                case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(rng.next() % 16)))
                case 3:
                    let end = bytes[at...].firstIndex(of: 10) ?? bytes.count
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                default: bytes = Array(bytes[..<at])
                }
            }
            let (outcome, _) = Self.outcome(bytes)
            var statuses: [Int] = []
            switch outcome {
            case .parseError(let s): statuses = [s]
            case .responded(let r): statuses = r
            default: break
            }
            for s in statuses {
                #expect((100...699).contains(s))
                if s >= 400 { refused += 1 }
            }
        }
        #expect(refused > 0, "the mutations reached the refusal paths")
    }
}

/// A small seeded generator (SplitMix64) so fuzz inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
