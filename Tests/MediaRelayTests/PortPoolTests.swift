import Testing

@testable import MediaRelay

@Suite("Port pool")
struct PortPoolTests {
    @Test func pairsAreEvenOddAndNeverReused() throws {
        var pool = PortPool(range: 40000...40099, quarantine: 5)
        var seen: Set<UInt16> = []
        for _ in 0..<50 {
            let p = try pool.allocate(pair: true, now: 0)
            #expect(p.count == 2 && p[0] % 2 == 0 && p[1] == p[0] + 1)
            #expect(seen.isDisjoint(with: p))
            seen.formUnion(p)
        }
        #expect(pool.inUseCount == 100)
        #expect(throws: PortPool.Exhausted.self) { try pool.allocate(pair: true, now: 0) }
        #expect(throws: PortPool.Exhausted.self) { try pool.allocate(pair: false, now: 0) }
        #expect(pool.exhaustedCount == 2)
    }

    @Test func releasedPortsWaitOutTheQuarantine() throws {
        var pool = PortPool(range: 40000...40001, quarantine: 5)
        let p = try pool.allocate(pair: true, now: 0)
        pool.release(p, now: 10)
        #expect(throws: PortPool.Exhausted.self) { try pool.allocate(pair: true, now: 14.9) }
        #expect(try pool.allocate(pair: true, now: 15.1) == p)
    }

    @Test func allocationIsRandom() throws {
        var first: Set<UInt16> = []
        for _ in 0..<20 {
            var pool = PortPool(range: 40000...49999)
            first.insert(try pool.allocate(pair: false, now: 0)[0])
        }
        #expect(first.count > 10, "20 fresh pools picked only \(first.count) distinct first ports")
    }

    @Test func exhaustionMessageSaysWhatToDo() throws {
        var pool = PortPool(range: 40000...40000)
        _ = try pool.allocate(pair: false, now: 0)
        do {
            _ = try pool.allocate(pair: false, now: 0)
            Issue.record("allocated from an empty pool")
        } catch {
            #expect(error.description.contains("40000-40000 exhausted"))
            #expect(error.description.contains("port_range"))
        }
    }

    @Test func excludedPortsAreSkipped() throws {
        var pool = PortPool(range: 40000...40003)
        let got = try pool.allocate(pair: true, now: 0, excluding: [40000])
        #expect(got == [40002, 40003])
    }
}
