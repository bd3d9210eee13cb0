import Foundation
import Testing

@testable import Management
@testable import PKI

@Suite("Management: pairing codes and the satellite's pairing state")
struct PairingCodeTests {
    @Test func codesAre100RandomBitsReadableAloud() throws {
        let a = PairingCode.random()
        let b = PairingCode.random()
        #expect(a != b)
        #expect(a.description.count == 23)
        #expect(a.description.split(separator: "-").map(\.count) == [5, 5, 5, 5])
        // What a person types: lower case, spaces, O for 0, I and L for 1.
        let typed = try PairingCode(typed: a.description.lowercased().replacingOccurrences(of: "-", with: " "))
        #expect(typed == a)
        let confusable = try PairingCode(typed: "OIL00-11111-22222-33333")
        #expect(confusable.description == "01100-11111-22222-33333")
        let short = #expect(throws: PairingError.self) { try PairingCode(typed: "ABCDE-12345") }
        #expect(short?.message.contains("20 symbols") == true)
        let bad = #expect(throws: PairingError.self) { try PairingCode(typed: "ABCDE-12345-ABCDE-1234U") }
        #expect(bad?.message.contains("'U'") == true)
    }

    @Test func theProofBindsTheCodeToBothKeys() throws {
        let code = try PairingCode(typed: "7KQ2M-X0DGE-4HV9T-BC31R")
        let sat = Fingerprint(spki: [1])
        let srv = Fingerprint(spki: [2])
        let proof = code.proof(satellite: sat, server: srv)
        #expect(proof.count == 32)
        #expect(proof == code.proof(satellite: sat, server: srv))
        #expect(proof != code.proof(satellite: Fingerprint(spki: [3]), server: srv), "another satellite key")
        #expect(proof != code.proof(satellite: sat, server: Fingerprint(spki: [3])), "another server key")
        #expect(proof != PairingCode.random().proof(satellite: sat, server: srv), "another code")
        #expect(proof != code.confirmation(satellite: sat, server: srv), "proof and confirmation differ")
    }

    @Test func aCodeIsSingleUseAndOneNoisySourceCannotBurnIt() throws {
        let dir = SatelliteUnderTest.tempDir()
        let store = PairingStore(directory: dir)
        let sat = Fingerprint(spki: [1])
        let srv = Fingerprint(spki: [2])
        let (code, _) = try #require(try store.codeToShow(ttl: 60))
        #expect(try store.codeToShow(ttl: 60)?.code == code, "the open code is shown again")
        // Five wrong proofs from one address shut that address out ...
        for attempt in 1...5 {
            let e = #expect(throws: PairingError.self) {
                try store.pair(proof: [UInt8](repeating: 0, count: 32), satellite: sat, server: srv, address: "10.0.0.9", name: "s", mode: .code)
            }
            #expect(e?.code == .wrongProof)
            #expect(e?.message.contains("\(5 - attempt) attempts left for this code from 10.0.0.9") == true, "\(e?.message ?? "")")
        }
        let shutOut = #expect(throws: PairingError.self) {
            try store.pair(proof: code.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.9", name: "s", mode: .code)
        }
        #expect(shutOut?.message.contains("may not try this code again") == true, "even the right proof, from there")
        // ... while the code still pairs the server from its own address (checked below with a fresh code).
        #expect(try store.codeToShow(ttl: 60)?.code == code, "not burnt by one source")

        // Fifty wrong proofs in all (ten addresses) burn it.
        for host in 10...19 {
            for _ in 1...5 {
                let e = #expect(throws: PairingError.self) {
                    try store.pair(proof: [0], satellite: sat, server: srv, address: "10.0.1.\(host)", name: "s", mode: .code)
                }
                if host == 19, e?.message.contains("burnt") == true { break }
            }
        }
        let gone = #expect(throws: PairingError.self) {
            try store.pair(proof: code.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.1", name: "s", mode: .code)
        }
        #expect(gone?.code == .noCode, "burnt after \(PairingStore.maxFailures) in all")

        // A fresh code pairs once; the same proof again is refused (paired).
        let (fresh, _) = try #require(try store.codeToShow(ttl: 60))
        #expect(fresh != code)
        let used = try store.pair(
            proof: fresh.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.1", name: "s", mode: .code)
        #expect(used == fresh)
        #expect(try store.paired()?.fingerprints == [srv])
        #expect(try store.codeToShow(ttl: 60) == nil, "no code while paired")
        let again = #expect(throws: PairingError.self) {
            try store.pair(proof: fresh.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.1", name: "s", mode: .code)
        }
        #expect(again?.code == .alreadyPaired)
        #expect(again?.message.contains("trabant satellite unpair") == true)
        // Unpaired, the used code does not come back.
        _ = try store.unpair()
        let replay = #expect(throws: PairingError.self) {
            try store.pair(proof: fresh.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.1", name: "s", mode: .code)
        }
        #expect(replay?.code == .noCode)

        // An expired code is refused and replaced when shown next.
        let (short, _) = try #require(try store.codeToShow(now: Date().addingTimeInterval(-120), ttl: 60))
        let expired = #expect(throws: PairingError.self) {
            try store.pair(proof: short.proof(satellite: sat, server: srv), satellite: sat, server: srv, address: "10.0.0.1", name: "s", mode: .code)
        }
        #expect(expired?.code == .expired)
    }

    @Test func stateFilesArePrivate() throws {
        let dir = SatelliteUnderTest.tempDir()
        let store = PairingStore(directory: dir)
        _ = try store.codeToShow(ttl: 60)
        var st = stat()
        stat(dir + "/pairing-code.json", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        chmod(dir + "/pairing-code.json", 0o644)
        #expect(throws: PairingError.self) { try store.codeToShow(ttl: 60) }
    }
}
