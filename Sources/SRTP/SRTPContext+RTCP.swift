extension SRTPContext {
    /// Size of the E flag + SRTCP index word (RFC 3711 §3.4).
    static let srtcpIndexLength = 4

    /// Protects the RTCP compound packet in `buf[0..<length]` in place (RFC 3711 §3.4; for
    /// AEAD RFC 7714 §9: header || ciphertext || tag || E+index). Always encrypts (E = 1).
    public func protectRTCP(_ buf: UnsafeMutableRawBufferPointer, length: Int) -> SRTPResult {
        guard length >= 8 else { return .dropped(.truncated) }
        guard buf[0] >> 6 == 2 else { return .dropped(.badVersion) }
        guard length + Self.srtcpIndexLength + rtcpTagLength <= buf.count else { return .dropped(.bufferTooSmall) }
        let ssrc = buf.be32(4)
        guard let slot = streamSlot(ssrc) else { return .dropped(.unknownSSRC) }
        let i = admit(slot, ssrc: ssrc)
        guard streams[i].rtcpIndex < 0x7FFF_FFFF else { return .dropped(.keyExhausted) }
        let index = streams[i].rtcpIndex + 1
        let word = index | 0x8000_0000
        let payload = buf.slice(8, length)
        if let gcm = rtcpGCM {
            let iv = gcmIV(saltOffset: Self.rtcpSaltOffset, ssrc: ssrc, a: 0, b: 0)
            scratch.slice(Self.ivOffset, Self.ivOffset + 12).xorBE32(index, at: 8)
            let aad = scratch.slice(Self.aadOffset, Self.aadOffset + 12)
            aad.copyMemory(from: UnsafeRawBufferPointer(buf.slice(0, 8)))
            aad.storeBE32(word, at: 8)
            guard gcm.seal(nonce: iv, aad: UnsafeRawBufferPointer(aad), data: payload, tag: buf.pointer(length))
            else { return .dropped(.keyExhausted) }
            buf.storeBE32(word, at: length + rtcpTagLength)
        } else {
            let iv = cmIV(saltOffset: Self.rtcpSaltOffset, ssrc: ssrc, indexHigh: index >> 16, indexLow: UInt16(index & 0xFFFF))
            rtcpCTR!.xorKeystream(iv: iv, payload)
            buf.storeBE32(word, at: length)
            rtcpAuth!.authenticate(
                UnsafeRawBufferPointer(buf.slice(0, length + 4)), UnsafeRawBufferPointer(start: nil, count: 0),
                mac: scratch.pointer(Self.macOffset))
            buf.pointer(length + 4).copyMemory(from: scratch.pointer(Self.macOffset), byteCount: rtcpTagLength)
        }
        streams[i].rtcpIndex = index
        return .ok(length: length + Self.srtcpIndexLength + rtcpTagLength)
    }

    /// Authenticates and decrypts the SRTCP packet in `buf[0..<length]` in place.
    public func unprotectRTCP(_ buf: UnsafeMutableRawBufferPointer, length: Int) -> SRTPResult {
        guard length >= 8 + Self.srtcpIndexLength + rtcpTagLength else { return .dropped(.truncated) }
        guard buf[0] >> 6 == 2 else { return .dropped(.badVersion) }
        let ssrc = buf.be32(4)
        guard let slot = streamSlot(ssrc) else { return .dropped(.unknownSSRC) }
        let plainLength = length - Self.srtcpIndexLength - rtcpTagLength
        let wordOffset = rtcpGCM != nil ? length - Self.srtcpIndexLength : plainLength
        let word = buf.be32(wordOffset)
        let encrypted = word & 0x8000_0000 != 0
        let index = word & 0x7FFF_FFFF
        if slot >= 0 && !streams[slot].rtcpWindow.isFresh(UInt64(index)) { return .dropped(.replay) }
        let payload = buf.slice(8, plainLength)
        if let gcm = rtcpGCM {
            // Unencrypted AEAD SRTCP (E = 0) would authenticate the whole packet as AAD; we never
            // send it and refuse it rather than accept a packet whose payload nobody encrypted.
            guard encrypted else { return .dropped(.authenticationFailed) }
            let iv = gcmIV(saltOffset: Self.rtcpSaltOffset, ssrc: ssrc, a: 0, b: 0)
            scratch.slice(Self.ivOffset, Self.ivOffset + 12).xorBE32(index, at: 8)
            let aad = scratch.slice(Self.aadOffset, Self.aadOffset + 12)
            aad.copyMemory(from: UnsafeRawBufferPointer(buf.slice(0, 8)))
            aad.storeBE32(word, at: 8)
            guard gcm.open(nonce: iv, aad: UnsafeRawBufferPointer(aad), data: payload, tag: buf.pointer(plainLength))
            else { return .dropped(.authenticationFailed) }
        } else {
            rtcpAuth!.authenticate(
                UnsafeRawBufferPointer(buf.slice(0, plainLength + 4)), UnsafeRawBufferPointer(start: nil, count: 0),
                mac: scratch.pointer(Self.macOffset))
            guard
                constantTimeEqual(scratch.pointer(Self.macOffset), buf.pointer(plainLength + 4), count: rtcpTagLength)
            else { return .dropped(.authenticationFailed) }
            if encrypted {
                let iv = cmIV(
                    saltOffset: Self.rtcpSaltOffset, ssrc: ssrc, indexHigh: index >> 16,
                    indexLow: UInt16(index & 0xFFFF))
                rtcpCTR!.xorKeystream(iv: iv, payload)
            }
        }
        let i = admit(slot, ssrc: ssrc)
        streams[i].rtcpWindow.accept(UInt64(index))
        return .ok(length: plainLength)
    }
}
