import Testing

@testable import SRTP

@Suite("Replay window and rollover counter")
struct ReplayAndRolloverTests {
    @Test func windowAcceptsReorderingAndRefusesRepeatsAndOldPackets() {
        var w = ReplayWindow()
        for i: UInt64 in [1000, 1002, 1001, 999, 1100] {
            #expect(w.isFresh(i))
            w.accept(i)
        }
        #expect(!w.isFresh(1000))
        #expect(!w.isFresh(1100))
        #expect(w.isFresh(1099))
        #expect(w.isFresh(1100 - 127))
        #expect(!w.isFresh(1100 - 128), "older than the 128-packet window")
        w.accept(5000)
        #expect(!w.isFresh(1100))
        #expect(w.isFresh(4999))
    }

    @Test func rocEstimation() {
        var s = SRTPStreamState(ssrc: 1)
        s.update(seq: 65530, roc: 0)
        #expect(s.estimateROC(seq: 65535) == 0)
        #expect(s.estimateROC(seq: 3) == 1, "wrapped forward")
        s.update(seq: 3, roc: 1)
        #expect(s.roc == 1)
        #expect(s.estimateROC(seq: 65534) == 0, "late packet from before the wrap")
        var fresh = SRTPStreamState(ssrc: 2)
        fresh.update(seq: 10, roc: 0)
        #expect(fresh.estimateROC(seq: 65000) == nil, "before the stream's start")
    }

    @Test(arguments: RoundTripTests.cases)
    func rolloverAcrossTheSequenceWrapWithReordering(profile: SRTPProfile, engine: SRTPCryptoEngine) throws {
        let key = TestPackets.key(profile, seed: 10)
        let tx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        let rx = try SRTPContext(profile: profile, keyingMaterial: key, engine: engine)
        var protected: [(UInt16, [UInt8])] = []
        var seq: UInt16 = 65500
        for _ in 0..<100 {
            protected.append((seq, try tx.protectRTP(TestPackets.rtp(seq: seq)).get()))
            seq &+= 1
        }
        #expect(tx.rolloverCounter(ssrc: 0xDEAD_BEEF) == 1)
        // deliver with pairs swapped around the wrap
        var order = Array(protected.indices)
        for i in stride(from: 0, to: order.count - 1, by: 2) { order.swapAt(i, i + 1) }
        for i in order {
            let (s, p) = protected[i]
            #expect(try rx.unprotectRTP(p).get() == TestPackets.rtp(seq: s), "seq \(s)")
        }
        #expect(rx.rolloverCounter(ssrc: 0xDEAD_BEEF) == 1)
        for (_, p) in protected.prefix(10) { #expect(rx.unprotectRTP(p) == .failure(.replay)) }
    }
}
