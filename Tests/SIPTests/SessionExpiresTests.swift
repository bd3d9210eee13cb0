import Testing

@testable import SIP

@Suite("Session-Expires (RFC 4028)")
struct SessionExpiresTests {
    @Test func parsesIntervalAndRefresher() throws {
        #expect(SessionExpires(parsing: "1800") == SessionExpires(interval: 1800, refresher: nil))
        #expect(SessionExpires(parsing: "90;refresher=uac") == SessionExpires(interval: 90, refresher: .uac))
        #expect(SessionExpires(parsing: " 4000 ; refresher = UAS ") == SessionExpires(interval: 4000, refresher: .uas))
        #expect(SessionExpires(parsing: "90;refresher=proxy")?.refresher == nil, "an unknown refresher is ignored")
        #expect(SessionExpires(parsing: "ninety") == nil)
        #expect(SessionExpires(parsing: "-5") == nil)
        #expect(SessionExpires(parsing: "1234567890") == nil, "more than nine digits is refused")
        #expect(SessionExpires(interval: 90, refresher: .uas).value == "90;refresher=uas")
    }

    @Test func compactFormIsRead() throws {
        let m = SIPMessage(startLine: .response(status: 200, reason: "OK"), headers: [.init("x", "1800;refresher=uas")])
        #expect(m.sessionExpires == SessionExpires(interval: 1800, refresher: .uas))
    }
}
