import SRTP

/// SDES keying for one direction of one leg: a suite and its master key + salt
/// (RFC 4568 `a=crypto` inline key). Its description never shows the key.
public struct SRTPParameters: Sendable, Equatable, CustomStringConvertible {
    public var profile: SRTPProfile
    public var keyingMaterial: [UInt8]

    public init(profile: SRTPProfile, keyingMaterial: [UInt8]) throws(SRTPConfigError) {
        guard keyingMaterial.count == profile.keyingMaterialLength else {
            throw SRTPConfigError(
                .badKeyLength,
                "\(profile) needs \(profile.keyingMaterialLength) bytes of keying material, got \(keyingMaterial.count)")
        }
        self.profile = profile
        self.keyingMaterial = keyingMaterial
    }

    /// Fresh random keying material from the system's CSPRNG.
    public static func random(_ profile: SRTPProfile) -> SRTPParameters {
        try! SRTPParameters(profile: profile, keyingMaterial: SecureRandom.bytes(profile.keyingMaterialLength))
    }

    public var description: String { "\(profile) (key redacted)" }
}
