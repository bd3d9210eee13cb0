import Testing

@testable import SIP

@Suite("SIP, SIPS and tel URIs")
struct SIPURITests {
    static let good: [String] = [
        "sip:alice@atlanta.com",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        "sip:[2001:db8::10]:5061;transport=tls;lr",
        "sip:satellite.dmz.example:5060;lr",
        "tel:+1-201-555-0123",
        "tel:7042;phone-context=example.com",
    ]

    @Test(arguments: good)
    func parsesAndSerializesBack(text: String) throws {
        let uri = try SIPURI(parsing: text)
        #expect(uri.description == text)
        #expect(try SIPURI(parsing: uri.description) == uri)
    }

    @Test func fields() throws {
        let u = try SIPURI(parsing: "sip:alice:pw@[2001:db8::10]:5061;transport=tls;lr?subject=x")
        #expect(u.scheme == .sip && u.user == "alice" && u.password == "pw")
        #expect(u.host == "[2001:db8::10]" && u.port == 5061)
        #expect(u.parameter("transport") == .some("tls"))
        #expect(u.parameter("lr") == .some(nil))
        #expect(u.parameter("maddr") == nil)
        #expect(u.headers.first?.0 == "subject")
        let t = try SIPURI(parsing: "tel:+49-30-1234;phone-context=+49")
        #expect(t.scheme == .tel && t.user == "+49-30-1234" && t.host.isEmpty)
    }

    static let bad: [String] = [
        "http://example.com", "sip:", "sip:alice@", "sip:@host", "sip:host:99999", "sip:host:5060:1",
        "sip:[2001:db8::1", "sip:al ice@host", "tel:+49 30", "tel:+4930?x=y", "sip:host;;lr", "sip:ho$t",
        "sip:host?novalue",
    ]

    @Test(arguments: bad)
    func malformedURIsAreRefused(text: String) {
        #expect(throws: SIPParseError.self) { _ = try SIPURI(parsing: text) }
    }
}
