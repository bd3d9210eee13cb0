import Foundation
import Testing

@testable import PKI

@Suite("PKI: fingerprints")
struct FingerprintTests {
    @Test func hexRoundTripsWithOrWithoutColons() throws {
        let f = Fingerprint(spki: Array("some key".utf8))
        #expect(f.hex.count == 64)
        #expect(try Fingerprint(hex: f.hex) == f)
        let colons = stride(from: 0, to: 64, by: 2).map { Array(f.hex)[$0..<$0 + 2].map(String.init).joined() }.joined(separator: ":")
        #expect(try Fingerprint(hex: colons.uppercased()) == f)
        #expect(f.description == "sha256:" + f.hex)
    }

    @Test func badTextSaysWhatIsAllowed() {
        let short = #expect(throws: PKIError.self) { try Fingerprint(hex: "abcd") }
        #expect(short?.message.contains("64 hex digits") == true)
        let notHex = #expect(throws: PKIError.self) { try Fingerprint(hex: String(repeating: "zz", count: 32)) }
        #expect(notHex?.message.contains("'z'") == true)
        // Signs are not hex digits either (Int(_:radix:) would take "+f").
        #expect(throws: PKIError.self) { try Fingerprint(hex: "+f" + String(repeating: "00", count: 31)) }
    }

    @Test func shortCodeIsCrockfordBase32Of100Bits() throws {
        let zero = try Fingerprint(hex: String(repeating: "00", count: 32))
        #expect(zero.shortCode == "00000-00000-00000-00000")
        let ones = try Fingerprint(hex: String(repeating: "ff", count: 32))
        #expect(ones.shortCode == "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ")
        // 0x08 0x86 0x42 0x80: 00001 00010 00011 00100 00101 (5-bit groups 1, 2, 3, 4, 5), then zeros
        let counting = try Fingerprint(hex: "08864280" + String(repeating: "0", count: 56))
        #expect(counting.shortCode == "12345-00000-00000-00000")
        let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ-")
        let random = Fingerprint(spki: (0..<91).map { _ in UInt8.random(in: 0...255) })
        #expect(random.shortCode.allSatisfy(alphabet.contains))
        #expect(random.shortCode.count == 23)
    }

    @Test func codableAsPrefixedHex() throws {
        let f = Fingerprint(spki: [1, 2, 3])
        let data = try JSONEncoder().encode([f])
        #expect(String(decoding: data, as: UTF8.self) == "[\"sha256:\(f.hex)\"]")
        #expect(try JSONDecoder().decode([Fingerprint].self, from: data) == [f])
    }
}
