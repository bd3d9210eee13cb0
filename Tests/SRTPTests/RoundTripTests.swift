import Testing

@testable import SRTP

@Suite("SRTP round trips, every profile and engine")
struct RoundTripTests {
    static let cases: [(SRTPProfile, SRTPCryptoEngine)] = SRTPProfile.allCases.flatMap { p in
        SRTPCryptoEngine.available.map { (p, $0) }
    }

    @Test(arguments: cases)
    func rtpRoundTrip(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 1)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        for seq in UInt16(100)..<120 {
            let plain = TestPackets.rtp(seq: seq, timestamp: UInt32(seq) * 160)
            let protected = try tx.protectRTP(plain).get()
            #expect(protected.count == plain.count + profile.srtpTagLength)
            #expect(Array(protected[0..<12]) == Array(plain[0..<12]), "header stays in the clear")
            #expect(Array(protected[12..<plain.count]) != Array(plain[12...]), "payload is encrypted")
            #expect(try rx.unprotectRTP(protected).get() == plain)
        }
    }

    @Test(arguments: cases)
    func rtcpRoundTrip(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 2)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        for i in 0..<5 {
            let plain = TestPackets.rtcpSenderReport(ntp: UInt64(i))
            let protected = try tx.protectRTCP(plain).get()
            #expect(protected.count == plain.count + 4 + profile.srtcpTagLength)
            #expect(try rx.unprotectRTCP(protected).get() == plain)
            // a replay of the same SRTCP packet is refused
            #expect(rx.unprotectRTCP(protected) == .failure(.replay))
        }
    }

    /// Both engines produce the same bytes: the portable path is the fast path's reference.
    @Test(arguments: SRTPProfile.allCases)
    func enginesAgree(profile: SRTPProfile) throws {
        let engines = SRTPCryptoEngine.available
        guard engines.count > 1 else { return }
        let key = TestPackets.key(profile, seed: 3)
        let contexts = try engines.map { try SRTPContext(profile: profile, keyingMaterial: key, engine: $0) }
        for seq in [UInt16(1), 2, 30000] {
            let packet = TestPackets.rtp(seq: seq, csrcs: [1, 2], extensionWords: [0xAABB_CCDD])
            let outputs = try contexts.map { try $0.protectRTP(packet).get() }
            #expect(Set(outputs.map(\.hex)).count == 1)
            let rtcp = try contexts.map { try $0.protectRTCP(TestPackets.rtcpSenderReport()).get() }
            #expect(Set(rtcp.map(\.hex)).count == 1)
        }
    }

    @Test(arguments: cases)
    func headerExtensionAndCSRCsAreAuthenticatedNotEncrypted(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 4)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let plain = TestPackets.rtp(seq: 7, csrcs: [0x1111_1111], extensionWords: [0x1234_5678, 0x9ABC_DEF0])
        var protected = try tx.protectRTP(plain).get()
        #expect(Array(protected[0..<28]) == Array(plain[0..<28]))
        protected[20] ^= 0x01  // flip a bit in the extension
        #expect(rx.unprotectRTP(protected) == .failure(.authenticationFailed))
    }
}
