import MediaRelay
import SDP
import SRTP

extension B2BUACore {
    /// The key to take from an offered audio stream, or nil for plain RTP where the operator
    /// allows it (`plainRTPNetworks`). Throws the reason for a 488 otherwise.
    /// `legIsPlain`: the leg carries plain RTP already, so a hold to 0.0.0.0 keeps it plain.
    func acceptOffer(_ stream: AudioStream, legIsPlain: Bool = false) throws(OfferAnswerError) -> CryptoAttribute? {
        guard stream.isPlain else { return try settings.srtp.choose(from: stream) }
        guard plainAllowed(stream, legIsPlain: legIsPlain) else { throw plainRefused(stream) }
        return nil
    }

    /// Plain RTP is allowed for a stream whose address is in a listed network (RFC 2543 hold
    /// with 0.0.0.0 keeps a plain leg plain).
    func plainAllowed(_ stream: AudioStream, legIsPlain: Bool) -> Bool {
        guard stream.isPlain else { return false }
        if legIsPlain, stream.address == "0.0.0.0" || stream.address == "::" { return true }
        guard let ip = IPAddressBytes.parse(stream.address) else { return false }
        return settings.plainRTPNetworks.contains { $0.contains(ip.bytes) }
    }

    func plainRefused(_ stream: AudioStream) -> OfferAnswerError {
        let networks = settings.plainRTPNetworks.map(\.description).joined(separator: ", ")
        return OfferAnswerError(
            .notSecure,
            "the audio stream uses \(stream.proto) from \(stream.address); only RTP/SAVP or RTP/SAVPF with SDES keys "
                + "are accepted (plain RTP only from sip.plain_rtp_networks: \(networks.isEmpty ? "none configured" : networks))")
    }

    /// The relay's keys for a leg from our key and the peer's; nil for a plain leg.
    func relayKeys(theirs: CryptoAttribute?, ours: CryptoAttribute?) -> (remote: SRTPParameters, local: SRTPParameters)? {
        guard let theirs, let ours, let tp = theirs.profile, let op = ours.profile,
            let remote = try? SRTPParameters(profile: tp, keyingMaterial: theirs.keyingMaterial),
            let local = try? SRTPParameters(profile: op, keyingMaterial: ours.keyingMaterial)
        else { return nil }
        return (remote, local)
    }
}
