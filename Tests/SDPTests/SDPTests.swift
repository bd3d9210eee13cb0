import Testing

@testable import SDP
@testable import SRTP

@Suite("SDP and SDES a=crypto")
struct SDPTests {
    static let phoneOffer = """
        v=0\r
        o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r
        s=-\r
        c=IN IP4 192.0.2.10\r
        t=0 0\r
        m=audio 49170 RTP/SAVP 0 8 101\r
        a=rtpmap:0 PCMU/8000\r
        a=rtpmap:8 PCMA/8000\r
        a=rtpmap:101 telephone-event/8000\r
        a=fmtp:101 0-16\r
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r
        a=crypto:2 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw\r
        a=rtcp-mux\r
        a=sendrecv\r

        """

    @Test func parsesATypicalPhoneOffer() throws {
        let sdp = try SessionDescription(parsing: Self.phoneOffer)
        #expect(sdp.origin.address == "192.0.2.10")
        #expect(sdp.connection?.address == "192.0.2.10")
        let m = try #require(sdp.media.first)
        #expect(m.port == 49170 && m.proto == "RTP/SAVP" && m.formats == ["0", "8", "101"])
        #expect(m.rtcpMux)
        #expect(m.direction == "sendrecv")
        let crypto = try m.cryptoAttributes()
        #expect(crypto.count == 2)
        #expect(crypto[0].profile == .aesCM128HmacSHA1_80 && crypto[0].keyingMaterial.count == 30)
        #expect(crypto[0].lifetime == "2^20" && crypto[0].mki == "1:32")
        #expect(crypto[1].profile == .aeadAES128GCM && crypto[1].keyingMaterial == Array(0..<28))
    }

    @Test func roundTripIsStable() throws {
        let sdp = try SessionDescription(parsing: Self.phoneOffer)
        let again = try SessionDescription(parsing: sdp.serialized)
        #expect(again == sdp)
        #expect(sdp.serialized.hasPrefix("v=0\r\no=alice"))
        #expect(!sdp.serialized.contains("\n\n"))
    }

    @Test func cryptoAttributeRoundTripWorksWithEveryProfile() throws {
        for p in SRTPProfile.allCases {
            let key = (0..<p.keyingMaterialLength).map { UInt8($0 * 3 & 0xFF) }
            let a = CryptoAttribute(tag: 7, profile: p, keyingMaterial: key)
            #expect(try CryptoAttribute(parsing: a.value) == a)
        }
    }

    static let badCrypto: [(String, String)] = [
        ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "needs 30"),
        ("1 AES_CM_128_HMAC_SHA1_80 key:AAAA", "inline:"),
        ("x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "<tag>"),
        ("1 AES_CM_128_HMAC_SHA1_80", "<tag>"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA;inline:BBBB", "more than one key"),
    ]

    @Test(arguments: badCrypto)
    func badCryptoLinesAreRefusedWithAReason(value: String, mention: String) {
        do {
            _ = try CryptoAttribute(parsing: value)
            Issue.record("accepted '\(value)'")
        } catch {
            #expect(error.description.contains(mention), "\(error)")
        }
    }

    @Test func unknownSuitesParseButHaveNoProfile() throws {
        let a = try CryptoAttribute(parsing: "3 F8_128_HMAC_SHA1_80 inline:AAAAAAAA")
        #expect(a.profile == nil && a.suite == "F8_128_HMAC_SHA1_80")
    }

    static let badSDP: [(String, String)] = [
        ("", "v=0"),
        ("o=- 1 1 IN IP4 1.2.3.4\r\n", "starts with v=0"),
        ("v=1\r\n", "be 0"),
        ("v=0\r\no=- 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", "6 fields"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 99999 RTP/SAVP 0\r\nc=IN IP4 1.2.3.4\r\n", "0...65535"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n", "no c="),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP9 x\r\nt=0 0\r\n", "IN IP4"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", "t= (timing)"),
        ("v=0\r\nGARBAGE\r\n", "line 2"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n\r\ns=-\r\nt=0 0\r\n", "empty line"),
    ]

    @Test(arguments: badSDP)
    func badDescriptionsNameTheLineAndTheRule(text: String, mention: String) {
        do {
            _ = try SessionDescription(parsing: text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(mention), "\(error)")
        }
    }

    @Test func sizeAndLineLimits() {
        let huge = "v=0\r\n" + String(repeating: "a=x\r\n", count: 20_000)
        #expect(throws: SDPError.self) { _ = try SessionDescription(parsing: huge) }
        let many = "v=0\r\n" + String(repeating: "a=x\r\n", count: 2_000)
        #expect(throws: SDPError.self) { _ = try SessionDescription(parsing: many) }
    }
}
