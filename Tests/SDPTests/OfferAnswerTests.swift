import Testing

@testable import SDP
@testable import SRTP

/// RFC 3264 offer/answer for the audio stream, with RFC 4568 SDES keys.
@Suite("SDP offer/answer and SRTP policy")
struct OfferAnswerTests {
    // Inline keys of the right length for each suite (SRTPProfile.keyingMaterialLength:
    // 16+14 = 30 for AES_CM_128_*, 16+12 = 28 for AEAD_AES_128_GCM, 32+12 = 44 for
    // AEAD_AES_256_GCM, 32+14 = 46 for AES_256_CM_HMAC_SHA1_80). Each is bytes start, start+1, ….
    static let cm128 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"  // 30 bytes 0…29
    static let cm128b = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CB"  // 30 bytes 100…129
    static let cm128c = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl"  // 30 bytes 200…229
    static let gcm128 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="  // 28 bytes 0…27
    static let gcm256 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis="  // 44 bytes
    static let cm256 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="  // 46 bytes

    static func bytes(from start: Int, count: Int) -> [UInt8] { (0..<count).map { UInt8((start + $0) % 256) } }

    @Test func keyLengthsMatchTheProfiles() {
        #expect(SRTPProfile.aesCM128HmacSHA1_80.keyingMaterialLength == 30)
        #expect(SRTPProfile.aesCM128HmacSHA1_32.keyingMaterialLength == 30)
        #expect(SRTPProfile.aeadAES128GCM.keyingMaterialLength == 28)
        #expect(SRTPProfile.aeadAES256GCM.keyingMaterialLength == 44)
        #expect(SRTPProfile.aes256CMHmacSHA1_80.keyingMaterialLength == 46)
    }

    /// An SDP text; `media` are whole m= sections (their lines without line ends).
    static func sdp(connection: String? = "IN IP4 192.0.2.10", _ media: [[String]]) -> String {
        var lines = ["v=0", "o=phone 2890844526 2890844526 IN IP4 192.0.2.10", "s=-"]
        if let connection { lines.append("c=\(connection)") }
        lines.append("t=0 0")
        for m in media { lines += m }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func audio(
        port: Int = 49170, proto: String = "RTP/SAVP", formats: String = "0 8 101", crypto: [String],
        extra: [String] = ["a=rtcp-mux", "a=sendrecv"]
    ) -> [String] {
        ["m=audio \(port) \(proto) \(formats)", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
         "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20"]
            + crypto.map { "a=crypto:" + $0 } + extra
    }

    static func parse(_ text: String) throws -> SessionDescription { try SessionDescription(parsing: text) }

    /// The values of `a=name` lines of a media section ("" for a flag).
    static func values(_ m: SessionDescription.Media, _ name: String) -> [String] {
        m.attributes(named: name).map { $0 ?? "" }
    }

    static func stream(_ text: String) throws -> AudioStream { try AudioStream.first(in: parse(text)).stream }

    // MARK: AudioStream

    @Test func firstActiveAudioStream() throws {
        let text = Self.sdp([
            ["m=video 51372 RTP/AVP 31"],
            ["m=audio 0 RTP/SAVP 0"],
            ["m=audio 49170 RTP/SAVP 96 0", "c=IN IP4 198.51.100.7", "a=rtpmap:96 opus/48000/2", "a=rtpmap:0 PCMU/8000",
             "a=fmtp:96 useinbandfec=1", "a=ptime:20", "a=rtcp:49171", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128)",
             "a=sendonly"],
            ["m=audio 50000 RTP/SAVP 8", "a=recvonly"],
        ])
        let (index, s) = try AudioStream.first(in: Self.parse(text))
        #expect(index == 2)
        #expect(s.address == "198.51.100.7")  // the media-level c= wins
        #expect(s.port == 49170)
        #expect(s.rtcpPort == 49171)
        #expect(!s.rtcpMux)
        #expect(s.proto == "RTP/SAVP")
        #expect(s.isSecure)
        #expect(s.formats == ["96", "0"])
        #expect(s.direction == "sendonly")
        #expect(s.clockRate == 48000)
        #expect(s.formatAttributes.map(\.name) == ["rtpmap", "rtpmap", "fmtp", "ptime"])
        #expect(s.crypto.count == 1)
        #expect(s.crypto.first?.tag == 1)
        #expect(s.crypto.first?.profile == .aesCM128HmacSHA1_80)
        #expect(s.crypto.first?.keyingMaterial == Self.bytes(from: 0, count: 30))
    }

    @Test func sessionLevelConnectionAndDefaults() throws {
        let s = try Self.stream(Self.sdp([Self.audio(crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128)"], extra: [])]))
        #expect(s.address == "192.0.2.10")
        #expect(s.rtcpPort == nil)
        #expect(!s.rtcpMux)
        #expect(s.direction == "sendrecv")
        #expect(s.clockRate == 8000)
        // attributes(for:) keeps only the chosen formats' rtpmap/fmtp, and ptime.
        let kept = s.attributes(for: ["8"])
        #expect(kept == [SessionDescription.Attribute("rtpmap", "8 PCMA/8000"), SessionDescription.Attribute("ptime", "20")])
    }

    @Test func noActiveAudioIsRefusedWith488() throws {
        let cases = [
            Self.sdp([["m=video 51372 RTP/AVP 31"]]),
            Self.sdp([["m=audio 0 RTP/SAVP 0"], ["m=video 51372 RTP/AVP 31"]]),
            Self.sdp([]),
        ]
        for text in cases {
            let sdp = try Self.parse(text)
            let error = #expect(throws: OfferAnswerError.self) { try AudioStream.first(in: sdp) }
            #expect(error?.code == .noAudio)
            #expect(error?.status == 488)
        }
    }

    @Test func audioWithoutConnectionIsMalformed() {
        // The parser refuses this already; a description built in code can still lack c=.
        let sdp = SessionDescription(
            origin: .init(sessionID: "1", sessionVersion: "1", addressType: "IP4", address: "192.0.2.1"),
            media: [.init(port: 4000, proto: "RTP/SAVP", formats: ["0"])])
        let error = #expect(throws: OfferAnswerError.self) { try AudioStream.first(in: sdp) }
        #expect(error?.code == .malformed)
        #expect(error?.status == 400)
    }

    @Test func badCryptoLineIsMalformed() throws {
        // A 28-byte key for a suite that needs 30.
        let text = Self.sdp([Self.audio(crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Self.gcm128)"])])
        let sdp = try Self.parse(text)
        let error = #expect(throws: OfferAnswerError.self) { try AudioStream.first(in: sdp) }
        #expect(error?.code == .malformed)
        #expect(error?.status == 400)
    }

    // MARK: SRTPPolicy

    @Test func defaultSuites() {
        #expect(SRTPPolicy().suites == SRTPPolicy.defaultSuites)
        #expect(SRTPPolicy.defaultSuites.first == .aeadAES128GCM)
        #expect(Set(SRTPPolicy.defaultSuites) == Set(SRTPProfile.allCases))
    }

    @Test func policyPicksTheOfferersFirstSupportedSuite() throws {
        let offer = try Self.stream(Self.sdp([Self.audio(crypto: [
            "1 F8_128_HMAC_SHA1_80 inline:\(Self.cm128)",  // unknown to Trabant: skipped
            "2 AES_CM_128_HMAC_SHA1_32 inline:\(Self.cm128b)",
            "3 AEAD_AES_128_GCM inline:\(Self.gcm128)",
        ])]))
        // The offerer's order wins over the policy's (GCM first) (RFC 4568 §7.1).
        let chosen = try SRTPPolicy().choose(from: offer)
        #expect(chosen.tag == 2)
        #expect(chosen.profile == .aesCM128HmacSHA1_32)
        #expect(chosen.keyingMaterial == Self.bytes(from: 100, count: 30))

        // A policy without that suite takes the next offered one.
        let strict = SRTPPolicy(suites: [.aeadAES128GCM, .aesCM128HmacSHA1_80])
        #expect(try strict.choose(from: offer).tag == 3)
    }

    @Test func policyRefusesPlainRTP() throws {
        let plain = try Self.stream(Self.sdp([Self.audio(proto: "RTP/AVP", crypto: [])]))
        let error = #expect(throws: OfferAnswerError.self) { try SRTPPolicy().choose(from: plain) }
        #expect(error?.code == .notSecure)
        #expect(error?.status == 488)
        #expect(error?.message.contains("RTP/AVP") == true)
    }

    @Test func policyRefusesOnlyUnsupportedSuites() throws {
        let offer = try Self.stream(Self.sdp([Self.audio(crypto: [
            "1 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128)",
            "2 AES_256_CM_HMAC_SHA1_80 inline:\(Self.cm256)",
        ])]))
        let policy = SRTPPolicy(suites: [.aeadAES256GCM, .aeadAES128GCM])
        let error = #expect(throws: OfferAnswerError.self) { try policy.choose(from: offer) }
        #expect(error?.code == .noSupportedSuite)
        #expect(error?.status == 488)
        let message = error?.message ?? ""
        #expect(message.contains("offered: AES_CM_128_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_80"))
        #expect(message.contains("accepted: AEAD_AES_256_GCM, AEAD_AES_128_GCM"))

        // SAVP without any a=crypto.
        let keyless = try Self.stream(Self.sdp([Self.audio(crypto: [])]))
        let keylessError = #expect(throws: OfferAnswerError.self) { try SRTPPolicy().choose(from: keyless) }
        #expect(keylessError?.code == .noSupportedSuite)
        #expect(keylessError?.message.contains("offered: none") == true)
    }

    @Test func savpfIsSecure() throws {
        let s = try Self.stream(Self.sdp([Self.audio(proto: "RTP/SAVPF", crypto: ["1 AEAD_AES_256_GCM inline:\(Self.gcm256)"])]))
        #expect(s.isSecure)
        #expect(try SRTPPolicy().choose(from: s).profile == .aeadAES256GCM)
    }

    // MARK: offer

    static let keys: [CryptoAttribute] = [
        CryptoAttribute(tag: 1, profile: .aeadAES128GCM, keyingMaterial: bytes(from: 0, count: 28)),
        CryptoAttribute(tag: 2, profile: .aesCM128HmacSHA1_80, keyingMaterial: bytes(from: 100, count: 30)),
        CryptoAttribute(tag: 3, profile: .aes256CMHmacSHA1_80, keyingMaterial: bytes(from: 7, count: 46)),
    ]

    static let formatAttributes: [SessionDescription.Attribute] = [
        .init("rtpmap", "0 PCMU/8000"), .init("rtpmap", "101 telephone-event/8000"), .init("fmtp", "101 0-16"),
    ]

    @Test func offerHasOneCryptoLinePerKeyAndRoundTrips() throws {
        let local = OfferAnswer.Local(address: "203.0.113.5", port: 30000, rtcpPort: 30001, sessionID: "42", sessionVersion: 3)
        let offer = OfferAnswer.offer(
            local: local, formats: ["0", "101"], formatAttributes: Self.formatAttributes, direction: "sendonly", keys: Self.keys)
        #expect(offer.origin.sessionID == "42")
        #expect(offer.origin.sessionVersion == "3")
        #expect(offer.origin.addressType == "IP4")
        #expect(offer.connection?.address == "203.0.113.5")
        #expect(offer.media.count == 1)
        let m = try #require(offer.media.first)
        #expect(m.media == "audio")
        #expect(m.port == 30000)
        #expect(m.proto == "RTP/SAVP")
        #expect(m.formats == ["0", "101"])
        #expect(Self.values(m, "crypto") == Self.keys.map(\.value))
        #expect(Self.values(m, "rtcp") == ["30001"])
        #expect(m.rtcpMux)
        #expect(m.direction == "sendonly")
        #expect(Self.values(m, "rtpmap") == ["0 PCMU/8000", "101 telephone-event/8000"])

        let text = offer.serialized
        #expect(text.contains("a=crypto:1 AEAD_AES_128_GCM inline:\(Self.gcm128)\r\n"))
        #expect(text.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128b)\r\n"))
        #expect(text.contains("m=audio 30000 RTP/SAVP 0 101\r\n"))
        let parsed = try SessionDescription(parsing: text)
        #expect(parsed == offer)

        // What the answerer reads back is what we offered.
        let (_, s) = try AudioStream.first(in: parsed)
        #expect(s.crypto == Self.keys)
        #expect(s.port == 30000 && s.rtcpPort == 30001 && s.rtcpMux)
        #expect(s.direction == "sendonly")
        #expect(s.formats == ["0", "101"])
    }

    @Test func offerOverIPv6WithoutRTCPPortAndSAVPF() throws {
        let local = OfferAnswer.Local(address: "2001:db8::5", port: 40000, sessionID: "7")
        let offer = OfferAnswer.offer(
            local: local, formats: ["0"], formatAttributes: [], direction: "sendrecv", keys: [Self.keys[1]], proto: "RTP/SAVPF")
        #expect(offer.origin.addressType == "IP6")
        #expect(offer.connection == SessionDescription.Connection(addressType: "IP6", address: "2001:db8::5"))
        #expect(offer.origin.sessionVersion == "1")
        let m = try #require(offer.media.first)
        #expect(m.proto == "RTP/SAVPF")
        #expect(m.attributes(named: "rtcp").isEmpty)
        #expect(m.rtcpMux)
        #expect(offer.serialized.contains("c=IN IP6 2001:db8::5\r\n"))
        #expect(try SessionDescription(parsing: offer.serialized) == offer)
    }

    // MARK: answer

    @Test func answerKeepsLineOrderAndRefusesOtherStreams() throws {
        let text = Self.sdp([
            ["m=video 51372 RTP/AVP 31", "a=rtpmap:31 H261/90000"],
            Self.audio(crypto: ["1 AEAD_AES_128_GCM inline:\(Self.gcm128)", "2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128)"]),
            ["m=audio 0 RTP/SAVP 0"],
        ])
        let offer = try Self.parse(text)
        let (index, s) = try AudioStream.first(in: offer)
        #expect(index == 1)
        let chosen = try SRTPPolicy(suites: [.aesCM128HmacSHA1_80]).choose(from: s)
        #expect(chosen.tag == 2)
        let ourKey = CryptoAttribute(tag: chosen.tag, profile: .aesCM128HmacSHA1_80, keyingMaterial: Self.bytes(from: 200, count: 30))
        let local = OfferAnswer.Local(address: "198.51.100.7", port: 40000, rtcpPort: 40001, sessionID: "9")
        let answer = OfferAnswer.answer(
            to: offer, audioIndex: index, local: local, formats: ["8"], formatAttributes: s.attributes(for: ["8"]),
            direction: OfferAnswer.answerDirection(for: s.direction), key: ourKey, rtcpMux: s.rtcpMux)

        #expect(answer.media.count == 3)
        #expect(answer.media.map(\.media) == ["video", "audio", "audio"])
        #expect(answer.media[0].port == 0)
        #expect(answer.media[0].proto == "RTP/AVP")
        #expect(answer.media[0].formats == ["31"])
        #expect(answer.media[0].attributes.isEmpty)
        #expect(answer.media[2].port == 0)

        let audio = answer.media[1]
        #expect(audio.port == 40000)
        #expect(audio.proto == "RTP/SAVP")
        #expect(audio.formats == ["8"])
        #expect(Self.values(audio, "rtpmap") == ["8 PCMA/8000"])
        #expect(Self.values(audio, "crypto") == ["2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"])
        #expect(audio.rtcpMux)
        #expect(audio.attributes(named: "rtcp").isEmpty)  // muxed: no separate port
        #expect(audio.direction == "sendrecv")
        #expect(answer.connection?.address == "198.51.100.7")

        // It parses back, and the offerer reads our key under its own tag 2.
        let parsed = try SessionDescription(parsing: answer.serialized)
        #expect(parsed == answer)
        let read = try OfferAnswer.readAnswer(
            parsed, offeredKeys: try offer.media[1].cryptoAttributes(), offeredFormats: s.formats)
        #expect(read.ourKey.tag == 2)
        #expect(read.theirKey.keyingMaterial == Self.bytes(from: 200, count: 30))
    }

    @Test func answerWithoutMuxOrKey() throws {
        let offer = try Self.parse(Self.sdp([Self.audio(crypto: [], extra: ["a=sendonly"])]))
        let local = OfferAnswer.Local(address: "198.51.100.7", port: 40000, rtcpPort: 40001, sessionID: "9")
        let answer = OfferAnswer.answer(
            to: offer, audioIndex: 0, local: local, formats: ["0"], formatAttributes: [],
            direction: OfferAnswer.answerDirection(for: "sendonly"), key: nil, rtcpMux: false)
        let m = try #require(answer.media.first)
        #expect(Self.values(m, "rtcp") == ["40001"])
        #expect(!m.rtcpMux)
        #expect(m.attributes(named: "crypto").isEmpty)
        #expect(m.direction == "recvonly")
    }

    @Test func answerDirections() {
        #expect(OfferAnswer.answerDirection(for: "sendonly") == "recvonly")
        #expect(OfferAnswer.answerDirection(for: "recvonly") == "sendonly")
        #expect(OfferAnswer.answerDirection(for: "inactive") == "inactive")
        #expect(OfferAnswer.answerDirection(for: "sendrecv") == "sendrecv")
        #expect(OfferAnswer.answerDirection(for: "") == "sendrecv")
    }

    // MARK: reading an answer to our offer

    static func answerText(proto: String = "RTP/SAVP", formats: String = "0 101", crypto: [String]) -> String {
        sdp(connection: "IN IP4 10.0.0.20", [
            ["m=audio 50000 \(proto) \(formats)", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000"]
                + crypto.map { "a=crypto:" + $0 } + ["a=rtcp-mux", "a=recvonly"]
        ])
    }

    static let offeredFormats = ["0", "8", "101"]

    @Test func readAnswerAcceptsAMatchingTagAndSuite() throws {
        let answer = try Self.parse(Self.answerText(crypto: ["2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"]))
        let (stream, ours, theirs) = try OfferAnswer.readAnswer(answer, offeredKeys: Self.keys, offeredFormats: Self.offeredFormats)
        #expect(ours == Self.keys[1])
        #expect(theirs.tag == 2)
        #expect(theirs.profile == .aesCM128HmacSHA1_80)
        #expect(theirs.keyingMaterial == Self.bytes(from: 200, count: 30))
        #expect(stream.address == "10.0.0.20")
        #expect(stream.port == 50000)
        #expect(stream.formats == ["0", "101"])
        #expect(stream.rtcpMux)
        #expect(stream.direction == "recvonly")
    }

    @Test func readAnswerRefusals() throws {
        let refused: [(String, OfferAnswerError.Code)] = [
            // A tag we never offered.
            (Self.answerText(crypto: ["7 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"]), .answerMismatch),
            // Our tag 1 was AEAD_AES_128_GCM.
            (Self.answerText(crypto: ["1 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"]), .answerMismatch),
            // A format we did not offer.
            (Self.answerText(formats: "0 18", crypto: ["2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"]), .noCommonFormat),
            (Self.answerText(formats: "9", crypto: ["2 AES_CM_128_HMAC_SHA1_80 inline:\(Self.cm128c)"]), .noCommonFormat),
            // Plain RTP.
            (Self.answerText(proto: "RTP/AVP", crypto: []), .notSecure),
            // SAVP without a key.
            (Self.answerText(crypto: []), .noSupportedSuite),
            // No audio accepted at all.
            (Self.sdp([["m=audio 0 RTP/SAVP 0"]]), .noAudio),
        ]
        for (text, code) in refused {
            let answer = try Self.parse(text)
            let error = #expect(throws: OfferAnswerError.self, "\(code)") {
                try OfferAnswer.readAnswer(answer, offeredKeys: Self.keys, offeredFormats: Self.offeredFormats)
            }
            #expect(error?.code == code, "\(text)")
            #expect(error?.status == 488)
        }
    }

    @Test func readPlainAnswerAcceptsRTPAVPWithOfferedFormats() throws {
        let answer = try Self.parse(Self.answerText(proto: "RTP/AVP", crypto: []))
        let stream = try OfferAnswer.readPlainAnswer(answer, offeredFormats: Self.offeredFormats)
        #expect(stream.isPlain && !stream.isSecure)
        #expect(stream.address == "10.0.0.20")
        #expect(stream.formats == ["0", "101"])
    }

    @Test func readPlainAnswerRefusals() throws {
        let refused: [(String, OfferAnswerError.Code)] = [
            // An SRTP answer to a plain offer changes the transport (RFC 3264 §6).
            (Self.answerText(crypto: ["1 AEAD_AES_128_GCM inline:\(Self.gcm128)"]), .answerMismatch),
            (Self.answerText(proto: "UDP/TLS/RTP/SAVPF", crypto: []), .answerMismatch),
            (Self.answerText(proto: "RTP/AVP", formats: "18", crypto: []), .noCommonFormat),
            (Self.sdp([["m=audio 0 RTP/AVP 0"]]), .noAudio),
        ]
        for (text, code) in refused {
            let answer = try Self.parse(text)
            let error = #expect(throws: OfferAnswerError.self, "\(code)") {
                try OfferAnswer.readPlainAnswer(answer, offeredFormats: Self.offeredFormats)
            }
            #expect(error?.code == code, "\(text)")
        }
    }
}
