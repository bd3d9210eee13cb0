/// RFC 3711 §4.3: session keys from the master key and salt with the AES-CM PRF.
///
/// Trabant uses a key derivation rate of 0 (as SDES does by default, RFC 4568 §6.3.3), so
/// `r = index DIV kdr = 0` and the session keys never change during a context's life.
/// For AEAD profiles the 96-bit master salt is padded with zeros to 112 bits (RFC 7714 §11,
/// as libsrtp does).
public struct SRTPSessionKeys: Sendable, Equatable {
    public var encryptionKey: [UInt8]
    public var salt: [UInt8]
    public var authKey: [UInt8]

    /// Labels of RFC 3711 §4.3.1 and §4.3.2.
    enum Label: UInt8 {
        case rtpEncryption = 0x00, rtpAuthentication = 0x01, rtpSalt = 0x02
        case rtcpEncryption = 0x03, rtcpAuthentication = 0x04, rtcpSalt = 0x05
    }

    /// Derives the SRTP (or, with `rtcp`, SRTCP) session keys.
    public static func derive(
        profile: SRTPProfile, masterKey: [UInt8], masterSalt: [UInt8], rtcp: Bool,
        engine: SRTPCryptoEngine = .default
    ) throws(SRTPConfigError) -> SRTPSessionKeys {
        try checkLengths(profile: profile, masterKey: masterKey, masterSalt: masterSalt)
        let prf = try engine.makeCounterMode(key: masterKey)
        func prfOutput(_ label: Label, _ length: Int) -> [UInt8] {
            var iv = [UInt8](repeating: 0, count: 16)
            for i in 0..<masterSalt.count { iv[i] = masterSalt[i] }
            iv[7] ^= label.rawValue  // key_id = label || r (r = 0), right-aligned in 112 bits
            var out = [UInt8](repeating: 0, count: length)
            iv.withUnsafeBytes { ivp in out.withUnsafeMutableBytes { prf.xorKeystream(iv: ivp.baseAddress!, $0) } }
            return out
        }
        return SRTPSessionKeys(
            encryptionKey: prfOutput(rtcp ? .rtcpEncryption : .rtpEncryption, profile.keyLength),
            salt: prfOutput(rtcp ? .rtcpSalt : .rtpSalt, profile.saltLength),
            authKey: profile.authKeyLength == 0
                ? [] : prfOutput(rtcp ? .rtcpAuthentication : .rtpAuthentication, profile.authKeyLength))
    }

    static func checkLengths(profile: SRTPProfile, masterKey: [UInt8], masterSalt: [UInt8]) throws(SRTPConfigError) {
        guard masterKey.count == profile.keyLength, masterSalt.count == profile.saltLength else {
            throw SRTPConfigError(
                .badKeyLength,
                "\(profile) needs a \(profile.keyLength)-byte master key and a \(profile.saltLength)-byte master salt "
                    + "(\(profile.keyingMaterialLength) bytes of keying material), got \(masterKey.count) and "
                    + "\(masterSalt.count)")
        }
    }
}
