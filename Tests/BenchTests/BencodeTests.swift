import Testing

@testable import Bench

@Suite("Bencode (rtpengine's ng protocol)")
struct BencodeTests {
    @Test func roundTripWithSortedKeys() throws {
        let value = BencodeValue.dictionary([
            "command": .string(Array("offer".utf8)), "sdp": .string(Array("v=0\r\n".utf8)),
            "replace": .list([.string(Array("origin".utf8))]), "n": .integer(-42),
        ])
        let bytes = Bencode.encode(value)
        #expect(String(decoding: bytes, as: UTF8.self) == "d7:command5:offer1:ni-42e7:replacel6:origine3:sdp5:v=0\r\ne")
        #expect(try Bencode.decode(bytes) == value)
    }

    static let malformed = ["", "d", "i12", "i-0e", "i01e", "5:abc", "l", "d3:abci1e", "di1ei2ee", "x", "i1ei2e",
        String(repeating: "l", count: 100) + String(repeating: "e", count: 100)]

    @Test(arguments: malformed)
    func malformedInputIsAnErrorNotACrash(text: String) {
        #expect(throws: BencodeError.self) { _ = try Bencode.decode(Array(text.utf8)) }
    }
}
