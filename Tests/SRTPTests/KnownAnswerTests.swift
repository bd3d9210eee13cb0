import Foundation
import Testing

@testable import SRTP

/// Known-answer tests: RFC 3711 Appendix B, RFC 6188 §7, RFC 7714 §16–17, and the packet
/// vectors libsrtp and rtpengine test themselves with. The fixture is checked independently
/// by scripts/verify_srtp_vectors.py (Python `cryptography`).
@Suite("SRTP known answers")
struct KnownAnswerTests {
    struct Vectors: Decodable {
        struct Keystream: Decodable {
            let source: String
            let key: String
            let iv: String
            let keystream_prefix: String
        }
        struct KDF: Decodable {
            let source: String
            let master_key: String
            let master_salt: String
            let cipher_key: String
            let cipher_salt: String
            let auth_key: String?
        }
        struct Packet: Decodable {
            let source: String
            let profile: String
            let master_key: String?
            let master_salt: String?
            let session_key: String?
            let session_salt: String?
            let plaintext: String
            let protected: String
            let index: UInt32?
            let encrypted: Bool?
            let rtcp: Bool?
        }
        let aes_cm_keystream: [Keystream]
        let kdf: [KDF]
        let srtp_packets: [Packet]
        let srtcp_packets: [Packet]
        let gcm_session_vectors: [Packet]
    }

    static let vectors: Vectors = {
        let url = Bundle.module.url(forResource: "rfc_vectors", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    static let engines = SRTPCryptoEngine.available

    @Test(arguments: engines)
    func aesCounterModeKeystream(engine: SRTPCryptoEngine) throws {
        #expect(!Self.vectors.aes_cm_keystream.isEmpty)
        for v in Self.vectors.aes_cm_keystream {
            let key = [UInt8](hex: v.key)
            guard key.count == 16 || key.count == 32 else { continue }  // AES-192 is not an SRTP profile here
            let ctr = try engine.makeCounterMode(key: key)
            let expected = [UInt8](hex: v.keystream_prefix)
            var out = [UInt8](repeating: 0, count: expected.count)
            let iv = [UInt8](hex: v.iv)
            iv.withUnsafeBytes { ivp in out.withUnsafeMutableBytes { ctr.xorKeystream(iv: ivp.baseAddress!, $0) } }
            #expect(out == expected, "\(v.source)")
        }
    }

    @Test(arguments: engines)
    func keyDerivation(engine: SRTPCryptoEngine) throws {
        var checked = 0
        for v in Self.vectors.kdf {
            let key = [UInt8](hex: v.master_key)
            let salt = [UInt8](hex: v.master_salt)
            let profile: SRTPProfile
            switch (key.count, salt.count) {
            case (16, 14): profile = .aesCM128HmacSHA1_80
            case (32, 14): profile = .aes256CMHmacSHA1_80
            case (16, 12): profile = .aeadAES128GCM
            case (32, 12): profile = .aeadAES256GCM
            default: continue
            }
            let keys = try SRTPSessionKeys.derive(profile: profile, masterKey: key, masterSalt: salt, rtcp: false, engine: engine)
            #expect(keys.encryptionKey.hex == v.cipher_key, "\(v.source)")
            #expect(keys.salt.hex == v.cipher_salt, "\(v.source)")
            if let auth = v.auth_key, profile.authKeyLength > 0 {
                #expect(keys.authKey.hex == String(auth.prefix(40)), "\(v.source)")
            }
            checked += 1
        }
        #expect(checked >= 3)
    }

    static func context(_ v: Vectors.Packet, engine: SRTPCryptoEngine) throws -> SRTPContext? {
        guard let profile = SRTPProfile(rawValue: v.profile) else { return nil }  // e.g. AES-192
        if let mk = v.master_key, let ms = v.master_salt {
            return try SRTPContext(profile: profile, masterKey: [UInt8](hex: mk), masterSalt: [UInt8](hex: ms), engine: engine)
        }
        let session = SRTPSessionKeys(
            encryptionKey: [UInt8](hex: v.session_key!), salt: [UInt8](hex: v.session_salt!), authKey: [])
        return try SRTPContext(profile: profile, rtp: session, rtcp: session, engine: engine)
    }

    @Test(arguments: engines)
    func srtpPackets(engine: SRTPCryptoEngine) throws {
        var checked = 0
        for v in Self.vectors.srtp_packets + Self.vectors.gcm_session_vectors.filter({ $0.rtcp != true }) {
            guard let tx = try Self.context(v, engine: engine), let rx = try Self.context(v, engine: engine) else { continue }
            #expect(try tx.protectRTP([UInt8](hex: v.plaintext)).get().hex == v.protected, "\(v.source)")
            #expect(try rx.unprotectRTP([UInt8](hex: v.protected)).get().hex == v.plaintext, "\(v.source)")
            checked += 1
        }
        #expect(checked >= 5)
    }

    @Test(arguments: engines)
    func srtcpPackets(engine: SRTPCryptoEngine) throws {
        var checked = 0
        for v in Self.vectors.srtcp_packets + Self.vectors.gcm_session_vectors.filter({ $0.rtcp == true }) {
            guard let tx = try Self.context(v, engine: engine), let rx = try Self.context(v, engine: engine) else { continue }
            let protected = [UInt8](hex: v.protected)
            if v.encrypted == false {
                // Tag-only SRTCP (E = 0): Trabant requires confidentiality and refuses it.
                #expect(rx.unprotectRTCP(protected) == .failure(.authenticationFailed), "\(v.source)")
                continue
            }
            #expect(try rx.unprotectRTCP(protected).get().hex == v.plaintext, "\(v.source)")
            // Protect with the same SRTCP index as the vector.
            let plain = [UInt8](hex: v.plaintext)
            let ssrc = UInt32(plain[4]) << 24 | UInt32(plain[5]) << 16 | UInt32(plain[6]) << 8 | UInt32(plain[7])
            var state = SRTPStreamState(ssrc: ssrc)
            state.rtcpIndex = (v.index ?? 1) - 1
            tx.streams.append(state)
            #expect(try tx.protectRTCP(plain).get().hex == v.protected, "\(v.source)")
            checked += 1
        }
        #expect(checked >= 4)
    }
}
