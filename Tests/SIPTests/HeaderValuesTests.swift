import Testing

@testable import SIP

@Suite("SIP header values")
struct HeaderValuesTests {
    @Test func commaSplittingRespectsQuotesAndAngles() {
        let v = #""Doe, John" <sip:john@a.com;x=1,2>;tag=9, <sip:b@b.com>,sip:c@c.com"#
        #expect(HeaderValues.split(v) == [#""Doe, John" <sip:john@a.com;x=1,2>;tag=9"#, "<sip:b@b.com>", "sip:c@c.com"])
        #expect(HeaderValues.split(#""a \"quoted, comma\"" <sip:a@a>"#).count == 1)
        #expect(HeaderValues.split("INVITE, ACK,BYE") == ["INVITE", "ACK", "BYE"])
    }

    @Test func via() throws {
        let v = try Via(parsing: "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=192.0.2.9")
        #expect(v.transport == "TCP" && v.host == "192.0.2.1" && v.port == 5060)
        #expect(v.branch == "z9hG4bK776asdhds")
        #expect(v.parameters.count == 3 && v.parameters[1].1 == nil)
        let v6 = try Via(parsing: "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx")
        #expect(v6.host == "[2001:db8::9]" && v6.port == 5061)
        for bad in ["SIP/2.0 host", "SIP/3.0/TCP host", "SIP/2.0/TCP", "SIP/2.0/TCP host;;x", "SIP/2.0/TCP ho$t"] {
            #expect(throws: SIPParseError.self, "\(bad)") { _ = try Via(parsing: bad) }
        }
    }

    @Test func cseq() throws {
        #expect(try CSeq(parsing: "314159 INVITE") == CSeq(number: 314159, method: "INVITE"))
        for bad in ["INVITE", "1 2 3", "-1 BYE", "2147483648 BYE", "1 B@D"] {
            #expect(throws: SIPParseError.self, "\(bad)") { _ = try CSeq(parsing: bad) }
        }
    }

    @Test func nameAddresses() throws {
        let from = try NameAddress(parsing: #""Alice \"A\" Smith" <sip:alice@atlanta.com;transport=tcp>;tag=1928301774"#)
        #expect(from.displayName == #"Alice "A" Smith"#)
        #expect(from.uri.user == "alice" && from.uri.parameter("transport") == .some("tcp"))
        #expect(from.tag == "1928301774")
        let bare = try NameAddress(parsing: "sip:bob@biloxi.com;tag=a6c85cf")
        #expect(bare.displayName == nil && bare.tag == "a6c85cf" && bare.uri.parameters.isEmpty)
        let token = try NameAddress(parsing: "Bob <sips:bob@biloxi.com>")
        #expect(token.displayName == "Bob" && token.uri.scheme == .sips && token.tag == nil)
        for bad in ["<sip:a@b", "Bob <http://x>", "<sip:a@b>;;tag=1", "\"unterminated <sip:a@b"] {
            #expect(throws: SIPParseError.self, "\(bad)") { _ = try NameAddress(parsing: bad) }
        }
    }
}
