import Foundation
import SRTP

/// `trabant bench srtp`: the cost of the relay's per-packet crypto, unprotect with one leg's
/// key then protect with the other's, in place, for every engine and profile.
public enum SRTPBench {
    public struct Result: Sendable, Codable {
        public var engine: String
        public var profile: String
        public var rtpBytes: Int
        public var packets: Int
        public var rounds: Int
        /// Unprotect + protect of one packet, nanoseconds: median and best round.
        public var nsPerPacketMedian: Double
        public var nsPerPacketBest: Double
        public var packetsPerSecondPerCore: Double
        /// Heap allocations per packet in the timed loop; nil when not counted.
        public var allocationsPerPacket: Double?
    }

    /// Runs one measurement. `countAllocations` brackets the timed loop and returns the
    /// number of allocations it saw (nil when no counter is available).
    public static func run(
        engine: SRTPCryptoEngine, profile: SRTPProfile, packets: Int, rounds: Int,
        countAllocations: (() -> Void) -> Int?
    ) throws -> Result {
        let keyA = SRTPParameters.make(profile, seed: 1)
        let keyB = SRTPParameters.make(profile, seed: 2)
        let sender = try SRTPContext(profile: profile, keyingMaterial: keyA, engine: engine)
        var protected: [[UInt8]] = []
        protected.reserveCapacity(packets)
        for i in 0..<packets {
            let seq = UInt16(truncatingIfNeeded: i)
            var rtp: [UInt8] = [0x80, 0x00, UInt8(seq >> 8), UInt8(seq & 0xFF), 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]
            rtp += [UInt8](repeating: 0xD5, count: 160)
            protected.append(try sender.protectRTP(rtp).get())
        }
        var times: [Double] = []
        var allocations: Int?
        var buffer = [UInt8](repeating: 0, count: 2048)
        var failures = 0
        for round in 0..<rounds {
            // Fresh contexts per round: the replay window must see every index once.
            let inbound = try SRTPContext(profile: profile, keyingMaterial: keyA, engine: engine)
            let outbound = try SRTPContext(profile: profile, keyingMaterial: keyB, engine: engine)
            // Warm up: admit the stream so the steady state is measured.
            var body: () -> Void = {}
            let elapsed = buffer.withUnsafeMutableBytes { buf -> Double in
                body = {
                    for p in protected {
                        p.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                        guard case .ok(let n) = inbound.unprotectRTP(buf, length: p.count),
                            case .ok = outbound.protectRTP(buf, length: n)
                        else {
                            failures += 1
                            continue
                        }
                    }
                }
                let start = DispatchTime.now().uptimeNanoseconds
                if round == rounds - 1 {
                    allocations = countAllocations(body)
                } else {
                    body()
                }
                return Double(DispatchTime.now().uptimeNanoseconds - start)
            }
            times.append(elapsed / Double(packets))
        }
        guard failures == 0 else {
            throw BenchError("SRTP bench: \(failures) packets failed to re-protect (\(engine), \(profile))")
        }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        return Result(
            engine: engine.rawValue, profile: profile.rawValue, rtpBytes: 172, packets: packets, rounds: rounds,
            nsPerPacketMedian: median, nsPerPacketBest: sorted[0], packetsPerSecondPerCore: 1e9 / median,
            allocationsPerPacket: allocations.map { Double($0) / Double(packets) })
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension SRTPParameters {
    static func make(_ profile: SRTPProfile, seed: UInt8) -> [UInt8] {
        (0..<profile.keyingMaterialLength).map { UInt8(truncatingIfNeeded: Int(seed) &* 41 &+ $0) }
    }
}

import MediaRelay
