import SRTP

/// Builders for RTP/RTCP test packets.
enum TestPackets {
    static func rtp(
        seq: UInt16, timestamp: UInt32 = 0, ssrc: UInt32 = 0xDEAD_BEEF, payloadType: UInt8 = 0,
        payload: [UInt8]? = nil, csrcs: [UInt32] = [], extensionWords: [UInt32]? = nil
    ) -> [UInt8] {
        var p: [UInt8] = []
        p.append(0x80 | (extensionWords != nil ? 0x10 : 0) | UInt8(csrcs.count))
        p.append(payloadType)
        p += be16(seq) + be32(timestamp) + be32(ssrc)
        for c in csrcs { p += be32(c) }
        if let ext = extensionWords {
            p += be16(0xBEDE) + be16(UInt16(ext.count))
            for w in ext { p += be32(w) }
        }
        p += payload ?? (0..<160).map { UInt8(truncatingIfNeeded: Int(seq) &+ $0) }
        return p
    }

    /// A sender report with one report block's worth of body.
    static func rtcpSenderReport(ssrc: UInt32 = 0xDEAD_BEEF, ntp: UInt64 = 0x0102_0304_0506_0708) -> [UInt8] {
        var p: [UInt8] = [0x80, 200] + be16(6) + be32(ssrc)
        p += be32(UInt32(ntp >> 32)) + be32(UInt32(truncatingIfNeeded: ntp)) + be32(1234) + be32(10) + be32(1600)
        return p
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func key(_ profile: SRTPProfile, seed: UInt8) -> [UInt8] {
        (0..<profile.keyingMaterialLength).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0 &* 7) }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        let chars: [Character] = [Character](hex.filter { !$0.isWhitespace })
        var out: [UInt8] = []
        var i = 0
        while i + 1 < chars.count {
            out.append(UInt8(String(chars[i..<(i + 2)]), radix: 16)!)
            i += 2
        }
        self = out
    }

    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

import Foundation
