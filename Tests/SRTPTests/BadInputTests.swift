import Testing

@testable import SRTP

@Suite("SRTP refuses bad input with a typed result")
struct BadInputTests {
    static let cases = RoundTripTests.cases

    @Test(arguments: cases)
    func malformedPackets(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 5)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let good = try tx.protectRTP(TestPackets.rtp(seq: 1)).get()

        // truncated at every length below a valid packet: never a crash, never accepted
        for n in 0..<good.count {
            let r = rx.unprotectRTP(Array(good[0..<n]))
            #expect((try? r.get()) == nil, "truncated to \(n) bytes was accepted")
        }
        #expect(rx.unprotectRTP(Array(good[0..<5])) == .failure(.truncated))

        var wrongVersion = good
        wrongVersion[0] = 0x40
        #expect(rx.unprotectRTP(wrongVersion) == .failure(.badVersion))

        var badTag = good
        badTag[badTag.count - 1] ^= 0xFF
        #expect(rx.unprotectRTP(badTag) == .failure(.authenticationFailed))

        var badPayload = good
        badPayload[20] ^= 0x80
        #expect(rx.unprotectRTP(badPayload) == .failure(.authenticationFailed))

        // a CSRC count or extension length that runs past the end
        var hugeExtension = TestPackets.rtp(seq: 2, extensionWords: [1])
        hugeExtension[14] = 0xFF
        hugeExtension[15] = 0xFF
        #expect(rx.unprotectRTP(hugeExtension + [UInt8](repeating: 0, count: 16)) == .failure(.truncated))
        #expect(tx.protectRTP(hugeExtension) == .failure(.truncated))

        // the good packet still works after all of that (state unchanged by failures)
        #expect(try rx.unprotectRTP(good).get() == TestPackets.rtp(seq: 1))
        #expect(rx.unprotectRTP(good) == .failure(.replay))

        // RTCP
        #expect(rx.unprotectRTCP([0x80, 200, 0, 1]) == .failure(.truncated))
        #expect(tx.protectRTCP([0x80, 200]) == .failure(.truncated))
        var rtcp = try tx.protectRTCP(TestPackets.rtcpSenderReport()).get()
        rtcp[10] ^= 1
        #expect(rx.unprotectRTCP(rtcp) == .failure(.authenticationFailed))
    }

    @Test(arguments: cases)
    func wrongKeyFailsAuthentication(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let tx = try SRTPContext(profile: profile, keyingMaterial: TestPackets.key(profile, seed: 6), engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: TestPackets.key(profile, seed: 7), engine: engine)
        let p = try tx.protectRTP(TestPackets.rtp(seq: 9)).get()
        #expect(rx.unprotectRTP(p) == .failure(.authenticationFailed))
        #expect(rx.streamCount == 0, "a packet that failed authentication must not create state")
        let c = try tx.protectRTCP(TestPackets.rtcpSenderReport()).get()
        #expect(rx.unprotectRTCP(c) == .failure(.authenticationFailed))
    }

    @Test func unknownSSRC() throws {
        let profile = SRTPProfile.aesCM128HmacSHA1_80
        let key = TestPackets.key(profile, seed: 8)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key)
        let only = try SRTPContext(profile: profile, keyingMaterial: key, ssrcPolicy: .only([1]))
        #expect(only.unprotectRTP(try tx.protectRTP(TestPackets.rtp(seq: 1, ssrc: 2)).get()) == .failure(.unknownSSRC))
        #expect(try only.unprotectRTP(try tx.protectRTP(TestPackets.rtp(seq: 1, ssrc: 1)).get()).get().count == 172)

        let two = try SRTPContext(profile: profile, keyingMaterial: key, ssrcPolicy: .any(maxStreams: 2))
        for ssrc: UInt32 in [10, 11] {
            #expect((try? two.unprotectRTP(try tx.protectRTP(TestPackets.rtp(seq: 1, ssrc: ssrc)).get()).get()) != nil)
        }
        #expect(two.unprotectRTP(try tx.protectRTP(TestPackets.rtp(seq: 1, ssrc: 12)).get()) == .failure(.unknownSSRC))
    }

    @Test func badKeyingMaterialNamesWhatIsAllowed() {
        #expect(throws: SRTPConfigError.self) {
            _ = try SRTPContext(profile: .aesCM128HmacSHA1_80, keyingMaterial: [1, 2, 3])
        }
        do {
            _ = try SRTPContext(profile: .aeadAES256GCM, keyingMaterial: [UInt8](repeating: 0, count: 30))
            Issue.record("accepted 30 bytes for AES-256-GCM")
        } catch {
            #expect(error.message.contains("44 bytes"))
        }
        do {
            _ = try SRTPProfile(sdesName: "AES_CM_192")
            Issue.record("accepted an unknown suite")
        } catch {
            #expect(error.message.contains("AEAD_AES_128_GCM"))
        }
    }

    @Test func bufferWithoutRoomForTheTag() throws {
        let ctx = try SRTPContext(profile: .aesCM128HmacSHA1_80, keyingMaterial: TestPackets.key(.aesCM128HmacSHA1_80, seed: 9))
        var packet = TestPackets.rtp(seq: 1)
        let r = packet.withUnsafeMutableBytes { ctx.protectRTP($0, length: $0.count) }
        #expect(r == .dropped(.bufferTooSmall))
    }
}
