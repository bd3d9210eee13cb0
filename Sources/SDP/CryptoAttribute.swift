import Foundation
import SRTP

/// An SDES `a=crypto` line (RFC 4568 §9.1):
/// `a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>] [<session params>]`.
public struct CryptoAttribute: Sendable, Equatable {
    public var tag: Int
    /// The suite's SDES name; `profile` is set when Trabant supports it.
    public var suite: String
    public var keyingMaterial: [UInt8]
    /// "2^31" or a number, as written; nil when absent.
    public var lifetime: String?
    public var mki: String?
    public var sessionParameters: [String]

    public var profile: SRTPProfile? { SRTPProfile(rawValue: suite) }

    public init(tag: Int, profile: SRTPProfile, keyingMaterial: [UInt8]) {
        self.tag = tag
        self.suite = profile.rawValue
        self.keyingMaterial = keyingMaterial
        self.lifetime = nil
        self.mki = nil
        self.sessionParameters = []
    }

    /// Parses the value after `a=crypto:`. A supported suite's key must have its exact length.
    public init(parsing value: String) throws(SDPError) {
        let fields = value.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 3, let tag = Int(fields[0]), (0...999_999_999).contains(tag) else {
            throw SDPError(line: nil, "a=crypto needs '<tag> <suite> inline:<key>', got '\(value.prefix(60))'")
        }
        let params = fields[2]
        guard params.hasPrefix("inline:") else {
            throw SDPError(line: nil, "a=crypto key parameter must start with 'inline:' (RFC 4568 §6.1)")
        }
        // Only one key (no ';'-separated key list) is accepted: it is what SIP phones send.
        guard !params.contains(";") else {
            throw SDPError(line: nil, "a=crypto with more than one key is not supported; offer one key per line")
        }
        let parts = params.dropFirst("inline:".count).split(separator: "|", omittingEmptySubsequences: false)
        var b64 = String(parts[0])
        while b64.count % 4 != 0 { b64 += "=" }
        guard let key = Data(base64Encoded: b64), !key.isEmpty else {
            throw SDPError(line: nil, "a=crypto inline key is not valid base64")
        }
        var lifetime: String?
        var mki: String?
        for p in parts.dropFirst() {
            if p.contains(":") {
                mki = String(p)
            } else {
                lifetime = String(p)
            }
        }
        self.tag = tag
        self.suite = String(fields[1])
        self.keyingMaterial = Array(key)
        self.lifetime = lifetime
        self.mki = mki
        self.sessionParameters = fields[3...].map(String.init)
        if let profile, keyingMaterial.count != profile.keyingMaterialLength {
            throw SDPError(
                line: nil,
                "a=crypto \(suite) key has \(keyingMaterial.count) bytes; the suite needs "
                    + "\(profile.keyingMaterialLength) (master key and salt)")
        }
    }

    /// The value after `a=crypto:`.
    public var value: String {
        var inline = "inline:" + Data(keyingMaterial).base64EncodedString()
        if let lifetime { inline += "|\(lifetime)" }
        if let mki { inline += "|\(mki)" }
        return ([String(tag), suite, inline] + sessionParameters).joined(separator: " ")
    }
}

extension SessionDescription.Media {
    /// The `a=crypto` lines of this media section; lines that do not parse are reported.
    public func cryptoAttributes() throws(SDPError) -> [CryptoAttribute] {
        var out: [CryptoAttribute] = []
        for v in attributes(named: "crypto") {
            out.append(try CryptoAttribute(parsing: v ?? ""))
        }
        return out
    }

    /// RFC 5761 `a=rtcp-mux`.
    public var rtcpMux: Bool { hasAttribute("rtcp-mux") }

    /// sendrecv, sendonly, recvonly or inactive (RFC 8866 §6.7); sendrecv when absent.
    public var direction: String {
        for d in ["sendrecv", "sendonly", "recvonly", "inactive"] where hasAttribute(d) { return d }
        return "sendrecv"
    }
}
