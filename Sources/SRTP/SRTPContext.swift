/// Which SSRCs an SRTP context accepts.
public enum SSRCPolicy: Sendable, Equatable {
    /// Any SSRC, up to `maxStreams` distinct ones (SDES does not signal SSRCs; RFC 3711's
    /// "ssrc_any"). A new SSRC is admitted only by a packet that authenticates.
    case any(maxStreams: Int)
    /// Exactly these SSRCs.
    case only([UInt32])

    public static let `default` = SSRCPolicy.any(maxStreams: 8)
}

/// One direction of SRTP for one master key: either protecting what we send, or
/// unprotecting what a peer sends. Holds session keys for SRTP and SRTCP and the per-SSRC
/// state (rollover counter, replay windows).
///
/// Transforms work in place on a caller's buffer and return an `SRTPResult`; on the
/// BoringSSL engine nothing is allocated per packet once a stream is known.
///
/// Thread safety: a context is mutable state owned by one thread at a time (the relay keeps
/// each leg on one event loop). It is `@unchecked Sendable` so that ownership can be handed
/// to that thread; it must never be used from two threads at once.
public final class SRTPContext: @unchecked Sendable {
    public let profile: SRTPProfile
    public let engine: SRTPCryptoEngine
    public let ssrcPolicy: SSRCPolicy

    let rtpCTR: (any AESCounterMode)?
    let rtpAuth: (any HMACSHA1)?
    let rtpGCM: (any AESGCMCipher)?
    let rtcpCTR: (any AESCounterMode)?
    let rtcpAuth: (any HMACSHA1)?
    let rtcpGCM: (any AESGCMCipher)?
    let tagLength: Int
    let rtcpTagLength: Int

    /// Fixed scratch space, allocated once: salts, IV, MAC, ROC bytes, SRTCP AAD.
    let scratch: UnsafeMutableRawBufferPointer
    static let rtpSaltOffset = 0  // 14 bytes
    static let rtcpSaltOffset = 16  // 14 bytes
    static let ivOffset = 32  // 16 bytes
    static let macOffset = 48  // 20 bytes
    static let rocOffset = 68  // 4 bytes
    static let aadOffset = 72  // 12 bytes
    static let scratchSize = 96

    var streams: ContiguousArray<SRTPStreamState> = []

    /// Creates a context from SDES keying material (master key followed by master salt).
    public convenience init(
        profile: SRTPProfile, keyingMaterial: [UInt8], ssrcPolicy: SSRCPolicy = .default,
        engine: SRTPCryptoEngine = .default
    ) throws(SRTPConfigError) {
        guard keyingMaterial.count == profile.keyingMaterialLength else {
            throw SRTPConfigError(
                .badKeyLength,
                "\(profile) needs \(profile.keyingMaterialLength) bytes of keying material (master key and salt), "
                    + "got \(keyingMaterial.count)")
        }
        try self.init(
            profile: profile, masterKey: Array(keyingMaterial[0..<profile.keyLength]),
            masterSalt: Array(keyingMaterial[profile.keyLength...]), ssrcPolicy: ssrcPolicy, engine: engine)
    }

    public convenience init(
        profile: SRTPProfile, masterKey: [UInt8], masterSalt: [UInt8], ssrcPolicy: SSRCPolicy = .default,
        engine: SRTPCryptoEngine = .default
    ) throws(SRTPConfigError) {
        let rtp = try SRTPSessionKeys.derive(
            profile: profile, masterKey: masterKey, masterSalt: masterSalt, rtcp: false, engine: engine)
        let rtcp = try SRTPSessionKeys.derive(
            profile: profile, masterKey: masterKey, masterSalt: masterSalt, rtcp: true, engine: engine)
        try self.init(profile: profile, rtp: rtp, rtcp: rtcp, ssrcPolicy: ssrcPolicy, engine: engine)
    }

    /// From already derived session keys (RFC 7714's examples start there).
    init(
        profile: SRTPProfile, rtp: SRTPSessionKeys, rtcp: SRTPSessionKeys, ssrcPolicy: SSRCPolicy = .default,
        engine: SRTPCryptoEngine = .default
    ) throws(SRTPConfigError) {
        self.profile = profile
        self.engine = engine
        self.ssrcPolicy = ssrcPolicy
        self.tagLength = profile.srtpTagLength
        self.rtcpTagLength = profile.srtcpTagLength
        if profile.isAEAD {
            rtpGCM = try engine.makeGCM(key: rtp.encryptionKey)
            rtcpGCM = try engine.makeGCM(key: rtcp.encryptionKey)
            rtpCTR = nil
            rtpAuth = nil
            rtcpCTR = nil
            rtcpAuth = nil
        } else {
            rtpCTR = try engine.makeCounterMode(key: rtp.encryptionKey)
            rtpAuth = try engine.makeHMAC(key: rtp.authKey)
            rtcpCTR = try engine.makeCounterMode(key: rtcp.encryptionKey)
            rtcpAuth = try engine.makeHMAC(key: rtcp.authKey)
            rtpGCM = nil
            rtcpGCM = nil
        }
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, b) in rtp.salt.enumerated() { scratch[Self.rtpSaltOffset + i] = b }
        for (i, b) in rtcp.salt.enumerated() { scratch[Self.rtcpSaltOffset + i] = b }
        if case .any(let max) = ssrcPolicy { streams.reserveCapacity(max) }
    }

    deinit {
        // Session salts live here; wipe before freeing.
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        scratch.deallocate()
    }

    /// The rollover counter of a stream, for statistics and tests.
    public func rolloverCounter(ssrc: UInt32) -> UInt32? {
        streams.first { $0.ssrc == ssrc }?.roc
    }

    /// Number of SSRCs this context has state for.
    public var streamCount: Int { streams.count }

    /// Finds the state slot for `ssrc`; `-1` if it may be created, `nil` if it is refused.
    @inline(__always)
    func streamSlot(_ ssrc: UInt32) -> Int? {
        for i in streams.indices where streams[i].ssrc == ssrc { return i }
        switch ssrcPolicy {
        case .any(let max): return streams.count < max ? -1 : nil
        case .only(let list): return list.contains(ssrc) ? -1 : nil
        }
    }

    @inline(__always)
    func admit(_ slot: Int, ssrc: UInt32) -> Int {
        if slot >= 0 { return slot }
        streams.append(SRTPStreamState(ssrc: ssrc))
        return streams.count - 1
    }
}

/// Byte helpers on raw buffers (big-endian, unaligned).
extension UnsafeMutableRawBufferPointer {
    @inline(__always) func be16(_ offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inline(__always) func be32(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8
            | UInt32(self[offset + 3])
    }

    @inline(__always) func storeBE32(_ value: UInt32, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    @inline(__always) func xorBE32(_ value: UInt32, at offset: Int) {
        self[offset] ^= UInt8(truncatingIfNeeded: value >> 24)
        self[offset + 1] ^= UInt8(truncatingIfNeeded: value >> 16)
        self[offset + 2] ^= UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 3] ^= UInt8(truncatingIfNeeded: value)
    }

    @inline(__always) func xorBE16(_ value: UInt16, at offset: Int) {
        self[offset] ^= UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 1] ^= UInt8(truncatingIfNeeded: value)
    }

    @inline(__always) func slice(_ from: Int, _ to: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self[from..<to])
    }

    @inline(__always) func pointer(_ offset: Int) -> UnsafeMutableRawPointer { baseAddress! + offset }
}

/// Constant-time comparison of `count` bytes.
@inline(__always)
func constantTimeEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
    var diff: UInt8 = 0
    for i in 0..<count { diff |= a.load(fromByteOffset: i, as: UInt8.self) ^ b.load(fromByteOffset: i, as: UInt8.self) }
    return diff == 0
}
