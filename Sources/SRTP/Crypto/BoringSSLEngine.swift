#if canImport(CSRTPBoring)
import CSRTPBoring

final class BoringAESCounterMode: AESCounterMode {
    private let ctx: OpaquePointer

    init(key: [UInt8]) throws(SRTPConfigError) {
        guard let ctx = key.withUnsafeBufferPointer({ tsb_aes_new($0.baseAddress, $0.count) }) else {
            throw SRTPConfigError(.badKeyLength, "AES key must be 16 or 32 bytes, got \(key.count)")
        }
        self.ctx = ctx
    }

    deinit { tsb_aes_free(ctx) }

    func xorKeystream(iv: UnsafeRawPointer, _ data: UnsafeMutableRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        tsb_aes_ctr_xor(ctx, iv.assumingMemoryBound(to: UInt8.self), base.assumingMemoryBound(to: UInt8.self), data.count)
    }
}

final class BoringHMACSHA1: HMACSHA1 {
    private let ctx: OpaquePointer

    init(key: [UInt8]) throws(SRTPConfigError) {
        guard let ctx = key.withUnsafeBufferPointer({ tsb_hmac_sha1_new($0.baseAddress, $0.count) }) else {
            throw SRTPConfigError(.cryptoFailure, "HMAC-SHA1 context could not be created")
        }
        self.ctx = ctx
    }

    deinit { tsb_hmac_free(ctx) }

    func authenticate(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, mac: UnsafeMutableRawPointer) {
        _ = tsb_hmac_sha1(
            ctx, a.baseAddress?.assumingMemoryBound(to: UInt8.self), a.count,
            b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, mac.assumingMemoryBound(to: UInt8.self))
    }
}

final class BoringAESGCM: AESGCMCipher {
    private let ctx: OpaquePointer

    init(key: [UInt8]) throws(SRTPConfigError) {
        guard let ctx = key.withUnsafeBufferPointer({ tsb_gcm_new($0.baseAddress, $0.count) }) else {
            throw SRTPConfigError(.badKeyLength, "AES-GCM key must be 16 or 32 bytes, got \(key.count)")
        }
        self.ctx = ctx
    }

    deinit { tsb_gcm_free(ctx) }

    func seal(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) -> Bool {
        tsb_gcm_seal(
            ctx, nonce.assumingMemoryBound(to: UInt8.self), aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
            aad.count, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            tag.assumingMemoryBound(to: UInt8.self)) == 1
    }

    func open(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) -> Bool {
        tsb_gcm_open(
            ctx, nonce.assumingMemoryBound(to: UInt8.self), aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
            aad.count, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            tag.assumingMemoryBound(to: UInt8.self)) == 1
    }
}
#endif
