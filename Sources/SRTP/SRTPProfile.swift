/// The SRTP protection profiles (crypto suites) Trabant supports.
///
/// Names are the SDES names of RFC 4568 §6.2 and RFC 7714 §14.2; the lengths are those of
/// RFC 3711 §8.2, RFC 6188 §5 and RFC 7714 §12.
public enum SRTPProfile: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case aesCM128HmacSHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    case aesCM128HmacSHA1_32 = "AES_CM_128_HMAC_SHA1_32"
    case aes256CMHmacSHA1_80 = "AES_256_CM_HMAC_SHA1_80"
    case aeadAES128GCM = "AEAD_AES_128_GCM"
    case aeadAES256GCM = "AEAD_AES_256_GCM"

    public var description: String { rawValue }

    /// True for the AEAD (AES-GCM) profiles of RFC 7714.
    public var isAEAD: Bool {
        switch self {
        case .aeadAES128GCM, .aeadAES256GCM: return true
        default: return false
        }
    }

    /// Master (and session) encryption key length in bytes.
    public var keyLength: Int {
        switch self {
        case .aesCM128HmacSHA1_80, .aesCM128HmacSHA1_32, .aeadAES128GCM: return 16
        case .aes256CMHmacSHA1_80, .aeadAES256GCM: return 32
        }
    }

    /// Master (and session) salt length in bytes: 112 bits for AES-CM, 96 bits for GCM (RFC 7714 §12).
    public var saltLength: Int { isAEAD ? 12 : 14 }

    /// Length of the SDES key parameter: master key followed by master salt.
    public var keyingMaterialLength: Int { keyLength + saltLength }

    /// Session authentication key length (HMAC-SHA1 key, RFC 3711 §8.2); 0 for AEAD.
    public var authKeyLength: Int { isAEAD ? 0 : 20 }

    /// Authentication tag appended to SRTP packets.
    public var srtpTagLength: Int {
        switch self {
        case .aesCM128HmacSHA1_80, .aes256CMHmacSHA1_80: return 10
        case .aesCM128HmacSHA1_32: return 4
        case .aeadAES128GCM, .aeadAES256GCM: return 16
        }
    }

    /// Authentication tag appended to SRTCP packets. RFC 4568 §6.2.2: the _32 suite still uses
    /// an 80-bit tag for SRTCP.
    public var srtcpTagLength: Int { isAEAD ? 16 : 10 }

    /// Parses an SDES suite name, with an error that lists what is allowed.
    public init(sdesName: String) throws(SRTPConfigError) {
        guard let profile = SRTPProfile(rawValue: sdesName) else {
            throw SRTPConfigError(
                .unknownProfile,
                "unknown SRTP crypto suite '\(sdesName)'; allowed: "
                    + SRTPProfile.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = profile
    }
}
