import Foundation

/// G.711 µ-law tones for the demo's phones, and a Goertzel detector to tell which tone
/// arrived.
public enum Tone {
    /// 160 samples (20 ms at 8 kHz) of a sine at `frequency`, packet number `index`, µ-law.
    public static func packet(frequency: Double, index: Int, amplitude: Double = 8000) -> [UInt8] {
        (0..<160).map { i in
            let t = Double(index * 160 + i) / 8000
            return muLawEncode(Int16(amplitude * sin(2 * .pi * frequency * t)))
        }
    }

    /// ITU-T G.711 µ-law encoding of one linear sample.
    public static func muLawEncode(_ sample: Int16) -> UInt8 {
        let bias = 0x84
        let clip = 32635
        var s = Int(sample)
        let sign = s < 0 ? 0x80 : 0
        if s < 0 { s = -s }
        s = min(s, clip) + bias
        var exponent = 7
        var mask = 0x4000
        while exponent > 0 && s & mask == 0 {
            exponent -= 1
            mask >>= 1
        }
        let mantissa = (s >> (exponent + 3)) & 0x0F
        return UInt8(~(sign | exponent << 4 | mantissa) & 0xFF)
    }

    public static func muLawDecode(_ byte: UInt8) -> Int16 {
        let u = Int(~byte & 0xFF)
        let sign = u & 0x80
        let exponent = (u >> 4) & 0x07
        let mantissa = u & 0x0F
        let magnitude = ((mantissa << 3) + 0x84) << exponent
        return Int16(sign != 0 ? 0x84 - magnitude : magnitude - 0x84)
    }

    /// Relative power of `frequency` in µ-law samples (Goertzel).
    public static func power(of frequency: Double, in samples: [UInt8]) -> Double {
        let k = 2 * cos(2 * .pi * frequency / 8000)
        var s1 = 0.0
        var s2 = 0.0
        for b in samples {
            let s0 = Double(muLawDecode(b)) + k * s1 - s2
            s2 = s1
            s1 = s0
        }
        return s1 * s1 + s2 * s2 - k * s1 * s2
    }

    /// Which of `candidates` dominates the samples.
    public static func dominant(_ candidates: [Double], in samples: [UInt8]) -> Double? {
        guard !samples.isEmpty else { return nil }
        return candidates.max { power(of: $0, in: samples) < power(of: $1, in: samples) }
    }
}
