extension SRTPContext {
    /// Length of the RTP header (fixed part, CSRCs, extension) of a packet whose authenticated
    /// part is `limit` bytes long (RFC 3550 §5.1, §5.3.1).
    @inline(__always)
    static func rtpHeaderLength(_ buf: UnsafeMutableRawBufferPointer, limit: Int) -> Result<Int, SRTPDropReason> {
        guard limit >= 12 else { return .failure(.truncated) }
        let b0 = buf[0]
        guard b0 >> 6 == 2 else { return .failure(.badVersion) }
        var length = 12 + 4 * Int(b0 & 0x0F)
        if b0 & 0x10 != 0 {
            guard limit >= length + 4 else { return .failure(.truncated) }
            length += 4 + 4 * Int(buf.be16(length + 2))
        }
        guard length <= limit else { return .failure(.truncated) }
        return .success(length)
    }

    /// Writes the AES-CM IV (RFC 3711 §4.1.1) into scratch and returns it:
    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
    @inline(__always)
    func cmIV(saltOffset: Int, ssrc: UInt32, indexHigh: UInt32, indexLow: UInt16) -> UnsafeMutableRawPointer {
        let iv = scratch.slice(Self.ivOffset, Self.ivOffset + 16)
        iv.copyMemory(from: UnsafeRawBufferPointer(scratch.slice(saltOffset, saltOffset + 14)))
        iv[14] = 0
        iv[15] = 0
        iv.xorBE32(ssrc, at: 4)
        iv.xorBE32(indexHigh, at: 8)
        iv.xorBE16(indexLow, at: 12)
        return iv.baseAddress!
    }

    /// Writes the AES-GCM IV (RFC 7714 §8.1 and §9.1) into scratch and returns it:
    /// salt XOR (00 00 || SSRC || a || b), with (a, b) = (ROC, SEQ) for SRTP.
    @inline(__always)
    func gcmIV(saltOffset: Int, ssrc: UInt32, a: UInt32, b: UInt16) -> UnsafeMutableRawPointer {
        let iv = scratch.slice(Self.ivOffset, Self.ivOffset + 12)
        iv.copyMemory(from: UnsafeRawBufferPointer(scratch.slice(saltOffset, saltOffset + 12)))
        iv.xorBE32(ssrc, at: 2)
        iv.xorBE32(a, at: 6)
        iv.xorBE16(b, at: 10)
        return iv.baseAddress!
    }

    /// Protects the RTP packet in `buf[0..<length]` in place and appends the tag.
    /// `buf` must have room for `profile.srtpTagLength` more bytes.
    public func protectRTP(_ buf: UnsafeMutableRawBufferPointer, length: Int) -> SRTPResult {
        let headerLength: Int
        switch Self.rtpHeaderLength(buf, limit: length) {
        case .success(let h): headerLength = h
        case .failure(let reason): return .dropped(reason)
        }
        guard length + tagLength <= buf.count else { return .dropped(.bufferTooSmall) }
        let seq = buf.be16(2)
        let ssrc = buf.be32(8)
        guard let slot = streamSlot(ssrc) else { return .dropped(.unknownSSRC) }
        let i = admit(slot, ssrc: ssrc)
        // The sender estimates its own ROC the same way (packets may be forwarded out of order).
        guard let roc = streams[i].estimateROC(seq: seq) else { return .dropped(.replay) }
        let payload = buf.slice(headerLength, length)
        if let gcm = rtpGCM {
            let iv = gcmIV(saltOffset: Self.rtpSaltOffset, ssrc: ssrc, a: roc, b: seq)
            guard
                gcm.seal(
                    nonce: iv, aad: UnsafeRawBufferPointer(buf.slice(0, headerLength)), data: payload,
                    tag: buf.pointer(length))
            else { return .dropped(.keyExhausted) }
        } else {
            let iv = cmIV(saltOffset: Self.rtpSaltOffset, ssrc: ssrc, indexHigh: roc, indexLow: seq)
            rtpCTR!.xorKeystream(iv: iv, payload)
            let rocBytes = scratch.slice(Self.rocOffset, Self.rocOffset + 4)
            rocBytes.storeBE32(roc, at: 0)
            rtpAuth!.authenticate(
                UnsafeRawBufferPointer(buf.slice(0, length)), UnsafeRawBufferPointer(rocBytes),
                mac: scratch.pointer(Self.macOffset))
            buf.pointer(length).copyMemory(from: scratch.pointer(Self.macOffset), byteCount: tagLength)
        }
        streams[i].update(seq: seq, roc: roc)
        return .ok(length: length + tagLength)
    }

    /// Authenticates and decrypts the SRTP packet in `buf[0..<length]` in place. On success the
    /// plain RTP packet is `buf[0..<newLength]`; on failure the buffer's content is undefined
    /// and the context's state is unchanged.
    public func unprotectRTP(_ buf: UnsafeMutableRawBufferPointer, length: Int) -> SRTPResult {
        guard length >= 12 + tagLength else { return .dropped(length >= 1 && buf[0] >> 6 != 2 ? .badVersion : .truncated) }
        let authenticated = length - tagLength
        let headerLength: Int
        switch Self.rtpHeaderLength(buf, limit: authenticated) {
        case .success(let h): headerLength = h
        case .failure(let reason): return .dropped(reason)
        }
        let seq = buf.be16(2)
        let ssrc = buf.be32(8)
        guard let slot = streamSlot(ssrc) else { return .dropped(.unknownSSRC) }
        let known = slot >= 0
        var roc: UInt32 = 0
        if known {
            guard let v = streams[slot].estimateROC(seq: seq) else { return .dropped(.replay) }
            roc = v
            guard streams[slot].rtpWindow.isFresh(SRTPStreamState.index(roc: v, seq: seq)) else {
                return .dropped(.replay)
            }
        }
        let payload = buf.slice(headerLength, authenticated)
        if let gcm = rtpGCM {
            let iv = gcmIV(saltOffset: Self.rtpSaltOffset, ssrc: ssrc, a: roc, b: seq)
            guard
                gcm.open(
                    nonce: iv, aad: UnsafeRawBufferPointer(buf.slice(0, headerLength)), data: payload,
                    tag: buf.pointer(authenticated))
            else { return .dropped(.authenticationFailed) }
        } else {
            let rocBytes = scratch.slice(Self.rocOffset, Self.rocOffset + 4)
            rocBytes.storeBE32(roc, at: 0)
            rtpAuth!.authenticate(
                UnsafeRawBufferPointer(buf.slice(0, authenticated)), UnsafeRawBufferPointer(rocBytes),
                mac: scratch.pointer(Self.macOffset))
            guard constantTimeEqual(scratch.pointer(Self.macOffset), buf.pointer(authenticated), count: tagLength)
            else { return .dropped(.authenticationFailed) }
            let iv = cmIV(saltOffset: Self.rtpSaltOffset, ssrc: ssrc, indexHigh: roc, indexLow: seq)
            rtpCTR!.xorKeystream(iv: iv, payload)
        }
        let i = admit(slot, ssrc: ssrc)
        streams[i].rtpWindow.accept(SRTPStreamState.index(roc: roc, seq: seq))
        streams[i].update(seq: seq, roc: roc)
        return .ok(length: authenticated)
    }
}
