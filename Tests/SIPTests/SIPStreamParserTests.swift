import Testing

@testable import SIP

@Suite("SIP stream parser")
struct SIPStreamParserTests {
    static let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
    static let invite =
        "INVITE sip:bob@example.com SIP/2.0\r\n"
        + "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
        + "Max-Forwards: 70\r\n"
        + "To: Bob <sip:bob@example.com>\r\n"
        + "f: Alice <sip:alice@example.com>;tag=1928301774\r\n"
        + "i: a84b4c76e66710@pc33.example.com\r\n"
        + "CSeq: 314159 INVITE\r\n"
        + "Subject: a folded\r\n  subject line\r\n"
        + "c: application/sdp\r\n"
        + "Content-Length: \(sdp.utf8.count)\r\n\r\n" + sdp

    @Test func parsesARequestWithCompactAndFoldedHeaders() throws {
        var p = SIPStreamParser()
        p.feed(Array(Self.invite.utf8))
        let m = try #require(try p.next())
        #expect(m.startLine == .request(method: "INVITE", uri: "sip:bob@example.com"))
        #expect(m.value("Call-ID") == "a84b4c76e66710@pc33.example.com")
        #expect(m.value("FROM") == "Alice <sip:alice@example.com>;tag=1928301774")
        #expect(m.value("content-type") == "application/sdp")
        #expect(m.value("Subject") == "a folded subject line")
        #expect(String(decoding: m.body, as: UTF8.self) == Self.sdp)
        #expect(try p.next() == nil)
        #expect(p.bufferedBytes == 0)
    }

    @Test func byteByByteArrivalAndPipelinedMessagesWithKeepAlives() throws {
        var p = SIPStreamParser()
        let stream = Array(("\r\n\r\n" + Self.invite + Self.invite + "\r\n\r\n").utf8)
        var messages: [SIPMessage] = []
        for b in stream {
            p.feed([b])
            while let m = try p.next() { messages.append(m) }
        }
        #expect(messages.count == 2)
        #expect(messages[0] == messages[1])
        #expect(p.keepAlives == 4)
    }

    @Test func serializeThenParseGivesTheSameMessage() throws {
        var p = SIPStreamParser()
        p.feed(Array(Self.invite.utf8))
        let m = try #require(try p.next())
        var q = SIPStreamParser()
        q.feed(m.serialized)
        #expect(try q.next() == m)
        let response = SIPMessage(startLine: .response(status: 488, reason: "Not Acceptable Here"), headers: [.init("Via", "x")])
        q.feed(response.serialized)
        #expect(try q.next()?.startLine == .response(status: 488, reason: "Not Acceptable Here"))
    }

    static let refused: [(String, SIPParseError.Code, Int)] = [
        ("INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\n", .missingContentLength, 400),
        ("INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", .badContentLength, 400),
        ("INVITE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx", .badContentLength, 400),
        ("INVITE sip:a SIP/7.0\r\nContent-Length: 0\r\n\r\n", .unsupportedVersion, 505),
        ("INV@TE sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n", .malformedStartLine, 400),
        ("SIP/2.0 99 Odd\r\nContent-Length: 0\r\n\r\n", .malformedStartLine, 400),
        ("INVITE sip:a SIP/2.0\r\nNo colon here\r\nContent-Length: 0\r\n\r\n", .malformedHeader, 400),
        ("INVITE sip:a SIP/2.0\r\nContent-Length: 70000\r\n\r\n", .messageTooLarge, 413),
        ("INVITE sip:a SIP/2.0\r\nX: " + String(repeating: "a", count: 9000) + "\r\nContent-Length: 0\r\n\r\n", .lineTooLong, 413),
        ("INVITE sip:a SIP/2.0\r\n" + String(repeating: "X: 1\r\n", count: 200) + "Content-Length: 0\r\n\r\n", .tooManyHeaders, 413),
    ]

    @Test(arguments: refused)
    func malformedMessagesGetATypedErrorAndAResponseStatus(text: String, code: SIPParseError.Code, status: Int) {
        var p = SIPStreamParser()
        p.feed(Array(text.utf8))
        do {
            _ = try p.next()
            Issue.record("accepted: \(text.prefix(60))")
        } catch {
            #expect(error.code == code)
            #expect(error.responseStatus == status)
        }
    }

    @Test func endlessHeadersWithoutTerminatorAreRefused() {
        var p = SIPStreamParser()
        p.feed(Array("INVITE sip:a SIP/2.0\r\n".utf8))
        var refused = false
        for _ in 0..<20_000 {
            p.feed(Array("X-Flood: 0123456789\r\n".utf8))
            do { _ = try p.next() } catch {
                refused = error.code == .messageTooLarge
                break
            }
        }
        #expect(refused)
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var p = SIPStreamParser()
            let n = Int.random(in: 0..<300, using: &rng)
            let alphabet = Array("INVITE SIP/2.0\r\n:;Content-Length 0123456789 \t".utf8) + [0, 255]
            p.feed((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
            // Either a message, a typed error, or a wait for more bytes; never more consumed than fed.
            if let m = try? p.next() {
                #expect(m.serialized.count <= n + 64)
            }
            #expect(p.bufferedBytes <= n)
        }
    }
}
