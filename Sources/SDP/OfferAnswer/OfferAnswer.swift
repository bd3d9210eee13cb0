import SRTP

/// Builds the descriptions a media-anchoring B2BUA sends (RFC 3264): an offer to the
/// second leg that copies the first leg's formats, and answers that keep the offer's
/// m-line order and refuse every stream but the audio one.
public enum OfferAnswer {
    /// Where we receive and how we protect what we send.
    public struct Local: Sendable, Equatable {
        public var address: String
        public var port: UInt16
        public var rtcpPort: UInt16?
        public var sessionID: String
        public var sessionVersion: UInt64

        public init(address: String, port: UInt16, rtcpPort: UInt16? = nil, sessionID: String, sessionVersion: UInt64 = 1) {
            self.address = address
            self.port = port
            self.rtcpPort = rtcpPort
            self.sessionID = sessionID
            self.sessionVersion = sessionVersion
        }

        var addressType: String { address.contains(":") ? "IP6" : "IP4" }
    }

    /// An offer with one audio stream: `formats` with their attributes, one `a=crypto` line
    /// per key (tags 1…n), rtcp-mux offered with a separate RTCP port as fallback (RFC 5761 §5.1.1).
    public static func offer(
        local: Local, formats: [String], formatAttributes: [SessionDescription.Attribute], direction: String,
        keys: [CryptoAttribute], proto: String = "RTP/SAVP"
    ) -> SessionDescription {
        var attributes = formatAttributes
        if let rtcp = local.rtcpPort { attributes.append(.init("rtcp", "\(rtcp)")) }
        attributes.append(.init("rtcp-mux"))
        for k in keys { attributes.append(.init("crypto", k.value)) }
        attributes.append(.init(direction))
        return description(local, media: [.init(port: local.port, proto: proto, formats: formats, attributes: attributes)])
    }

    /// The answer to `offer`: the audio m-line at `audioIndex` gets our address, `formats`
    /// (a subset of the offer's), our key under the tag of the offered line we chose, and the
    /// direction; every other m-line is refused with port 0 (RFC 3264 §6).
    public static func answer(
        to offer: SessionDescription, audioIndex: Int, local: Local, formats: [String],
        formatAttributes: [SessionDescription.Attribute], direction: String, key: CryptoAttribute?, rtcpMux: Bool
    ) -> SessionDescription {
        var media: [SessionDescription.Media] = []
        for (i, m) in offer.media.enumerated() {
            guard i == audioIndex else {
                media.append(.init(media: m.media, port: 0, proto: m.proto, formats: m.formats))
                continue
            }
            var attributes = formatAttributes
            if rtcpMux {
                attributes.append(.init("rtcp-mux"))
            } else if let rtcp = local.rtcpPort {
                attributes.append(.init("rtcp", "\(rtcp)"))
            }
            if let key { attributes.append(.init("crypto", key.value)) }
            attributes.append(.init(direction))
            media.append(.init(port: local.port, proto: m.proto, formats: formats, attributes: attributes))
        }
        return description(local, media: media)
    }

    /// The direction an answer gives for an offered one (RFC 3264 §6.1), when we can send
    /// and receive: sendonly ↔ recvonly, inactive stays, sendrecv stays.
    public static func answerDirection(for offered: String) -> String {
        switch offered {
        case "sendonly": return "recvonly"
        case "recvonly": return "sendonly"
        case "inactive": return "inactive"
        default: return "sendrecv"
        }
    }

    /// Reads the answer to an offer of ours with `offeredKeys`: the chosen tag must be one we
    /// offered, with the same suite, and the formats a subset of `offeredFormats`.
    public static func readAnswer(
        _ answer: SessionDescription, offeredKeys: [CryptoAttribute], offeredFormats: [String]
    ) throws(OfferAnswerError) -> (stream: AudioStream, ourKey: CryptoAttribute, theirKey: CryptoAttribute) {
        let (_, stream) = try AudioStream.first(in: answer)
        guard stream.isSecure else {
            throw OfferAnswerError(.notSecure, "the answer's audio stream uses \(stream.proto), not RTP/SAVP")
        }
        guard let theirs = stream.crypto.first else {
            throw OfferAnswerError(.noSupportedSuite, "the answer has no a=crypto line")
        }
        guard let ours = offeredKeys.first(where: { $0.tag == theirs.tag }), ours.suite == theirs.suite,
            theirs.profile != nil
        else {
            throw OfferAnswerError(
                .answerMismatch, "the answer's a=crypto:\(theirs.tag) \(theirs.suite) matches no offered line")
        }
        try checkFormats(stream, offeredFormats)
        return (stream, ours, theirs)
    }

    /// Reads the answer to a plain RTP offer of ours (RTP/AVP): the answer must be plain too
    /// (RFC 3264 §6: same transport) and its formats a subset of `offeredFormats`.
    public static func readPlainAnswer(
        _ answer: SessionDescription, offeredFormats: [String]
    ) throws(OfferAnswerError) -> AudioStream {
        let (_, stream) = try AudioStream.first(in: answer)
        guard stream.isPlain else {
            throw OfferAnswerError(.answerMismatch, "the answer's audio stream uses \(stream.proto) to a plain RTP/AVP offer")
        }
        try checkFormats(stream, offeredFormats)
        return stream
    }

    static func checkFormats(_ stream: AudioStream, _ offeredFormats: [String]) throws(OfferAnswerError) {
        let unknown = stream.formats.filter { !offeredFormats.contains($0) }
        guard unknown.isEmpty, !stream.formats.isEmpty else {
            throw OfferAnswerError(
                .noCommonFormat, "the answer's formats \(stream.formats) are not a non-empty subset of the offered \(offeredFormats)")
        }
    }

    static func description(_ local: Local, media: [SessionDescription.Media]) -> SessionDescription {
        SessionDescription(
            origin: .init(
                username: "trabant", sessionID: local.sessionID, sessionVersion: String(local.sessionVersion),
                addressType: local.addressType, address: local.address),
            sessionName: "trabant",
            connection: .init(addressType: local.addressType, address: local.address),
            media: media)
    }
}
