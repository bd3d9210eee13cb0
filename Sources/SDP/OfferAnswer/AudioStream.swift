import SRTP

/// The audio stream of one side of a call, as its SDP describes it (RFC 3264 for audio):
/// where it receives, which payload formats, the SDES keys it sends with, direction, mux.
public struct AudioStream: Sendable, Equatable {
    /// The connection address (c= of the media, else of the session).
    public var address: String
    public var port: UInt16
    /// RFC 3605 `a=rtcp` port when RTCP is not multiplexed; default port + 1.
    public var rtcpPort: UInt16?
    public var rtcpMux: Bool
    /// RTP/SAVP, RTP/SAVPF or (only where the policy allows) RTP/AVP.
    public var proto: String
    public var formats: [String]
    /// rtpmap, fmtp, ptime and maxptime attributes, kept to describe the same formats again.
    public var formatAttributes: [SessionDescription.Attribute]
    public var direction: String
    /// The `a=crypto` lines, in the sender's order of preference.
    public var crypto: [CryptoAttribute]

    /// The audio stream of a description: its first audio m-line with a port (RFC 3264 §5.1).
    /// Also returns that m-line's index so an answer can keep the line order.
    public static func first(in sdp: SessionDescription) throws(OfferAnswerError) -> (index: Int, stream: AudioStream) {
        guard let index = sdp.media.firstIndex(where: { $0.media == "audio" && $0.port != 0 }) else {
            throw OfferAnswerError(.noAudio, "the description has no active audio stream (m=audio with a port)")
        }
        let m = sdp.media[index]
        guard let connection = m.connection ?? sdp.connection else {
            throw OfferAnswerError(.malformed, "the audio stream has no connection address (c=) (RFC 8866 §5.7)")
        }
        let crypto: [CryptoAttribute]
        do {
            crypto = try m.cryptoAttributes()
        } catch {
            throw OfferAnswerError(.malformed, "\(error)")
        }
        let rtcpPort = m.attributes(named: "rtcp").first.flatMap { $0 }.flatMap {
            $0.split(separator: " ").first.flatMap { UInt16($0) }
        }
        let kept = ["rtpmap", "fmtp", "ptime", "maxptime"]
        let stream = AudioStream(
            address: connection.address, port: m.port, rtcpPort: rtcpPort, rtcpMux: m.rtcpMux, proto: m.proto,
            formats: m.formats, formatAttributes: m.attributes.filter { kept.contains($0.name.lowercased()) },
            direction: m.direction, crypto: crypto)
        return (index, stream)
    }

    /// True when the stream's transport protects media with SRTP (RFC 3711 §12, RFC 5124).
    public var isSecure: Bool { proto == "RTP/SAVP" || proto == "RTP/SAVPF" }

    /// True for plain RTP (RFC 3551 RTP/AVP, RFC 4585 RTP/AVPF): no keys, no authentication.
    public var isPlain: Bool { proto == "RTP/AVP" || proto == "RTP/AVPF" }

    /// Format attributes for only `formats` (an answer lists a subset of the offer's).
    public func attributes(for formats: [String]) -> [SessionDescription.Attribute] {
        formatAttributes.filter { a in
            let name = a.name.lowercased()
            if name == "ptime" || name == "maxptime" { return true }
            guard let pt = a.value?.split(separator: " ").first else { return false }
            return formats.contains(String(pt))
        }
    }

    /// The RTP clock rate of the first format (for jitter), 8000 when unknown.
    public var clockRate: Double {
        guard let first = formats.first else { return 8000 }
        for a in formatAttributes where a.name.lowercased() == "rtpmap" {
            let parts = (a.value ?? "").split(separator: " ")
            if parts.count == 2, parts[0] == first {
                let enc = parts[1].split(separator: "/")
                if enc.count >= 2, let rate = Double(enc[1]) { return rate }
            }
        }
        return 8000
    }
}

/// Why an offer or answer cannot be used; `status` is what a SIP UAS answers (488 for
/// media it refuses, RFC 3261 §13.3.1.1 and RFC 4568 §7.1).
public struct OfferAnswerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case malformed, noAudio, notSecure, noSupportedSuite, noCommonFormat, answerMismatch
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var status: Int { code == .malformed ? 400 : 488 }
    public var description: String { message }
}
