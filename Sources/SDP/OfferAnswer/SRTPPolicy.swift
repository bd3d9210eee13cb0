import SRTP

/// Which SRTP suites a side accepts, in order of preference. (Where plain RTP is allowed —
/// listed LAN networks — the call controller decides from the stream's address.)
public struct SRTPPolicy: Sendable, Equatable {
    /// Suites accepted and offered, most preferred first.
    public var suites: [SRTPProfile]

    public init(suites: [SRTPProfile] = SRTPPolicy.defaultSuites) {
        self.suites = suites
    }

    /// Every suite the relay implements, strongest and most common first.
    public static let defaultSuites: [SRTPProfile] = [
        .aeadAES128GCM, .aesCM128HmacSHA1_80, .aeadAES256GCM, .aes256CMHmacSHA1_80, .aesCM128HmacSHA1_32,
    ]

    /// The offered key to use: the first `a=crypto` line whose suite the policy accepts
    /// (the offerer's order wins, RFC 4568 §7.1). Throws the reason for a 488.
    public func choose(from stream: AudioStream) throws(OfferAnswerError) -> CryptoAttribute {
        guard stream.isSecure else {
            throw OfferAnswerError(
                .notSecure, "the audio stream uses \(stream.proto); only RTP/SAVP or RTP/SAVPF with SDES keys are accepted")
        }
        guard let chosen = stream.crypto.first(where: { c in c.profile.map(suites.contains) ?? false }) else {
            let offered = stream.crypto.map(\.suite).joined(separator: ", ")
            throw OfferAnswerError(
                .noSupportedSuite,
                "no offered SRTP suite is accepted (offered: \(offered.isEmpty ? "none" : offered); "
                    + "accepted: \(suites.map(\.rawValue).joined(separator: ", ")))")
        }
        return chosen
    }
}
