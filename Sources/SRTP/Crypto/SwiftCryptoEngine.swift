import Crypto
import CryptoExtras
import Foundation

/// The portable engine on swift-crypto's public API. It allocates per packet (see
/// docs/srtp-crypto.md) and exists for platforms without the BoringSSL fast path.
final class SwiftCryptoAESCounterMode: AESCounterMode {
    private let key: SymmetricKey

    init(key: [UInt8]) throws(SRTPConfigError) {
        guard key.count == 16 || key.count == 32 else {
            throw SRTPConfigError(.badKeyLength, "AES key must be 16 or 32 bytes, got \(key.count)")
        }
        self.key = SymmetricKey(data: key)
    }

    func xorKeystream(iv: UnsafeRawPointer, _ data: UnsafeMutableRawBufferPointer) {
        guard data.count > 0 else { return }
        let ivBytes = UnsafeRawBufferPointer(start: iv, count: 16)
        // Force-unwraps: the nonce is always 16 bytes and the key length was checked in init.
        let nonce = try! AES._CTR.Nonce(nonceBytes: ivBytes)
        let out = try! AES._CTR.encrypt(UnsafeRawBufferPointer(data), using: key, nonce: nonce)
        out.withUnsafeBytes { data.copyMemory(from: $0) }
    }
}

final class SwiftCryptoHMACSHA1: HMACSHA1 {
    private let keyed: HMAC<Insecure.SHA1>

    init(key: [UInt8]) {
        keyed = HMAC<Insecure.SHA1>(key: SymmetricKey(data: key))
    }

    func authenticate(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, mac: UnsafeMutableRawPointer) {
        var h = keyed
        h.update(data: a)
        h.update(data: b)
        let code = h.finalize()
        code.withUnsafeBytes { mac.copyMemory(from: $0.baseAddress!, byteCount: 20) }
    }
}

final class SwiftCryptoAESGCM: AESGCMCipher {
    private let key: SymmetricKey

    init(key: [UInt8]) throws(SRTPConfigError) {
        guard key.count == 16 || key.count == 32 else {
            throw SRTPConfigError(.badKeyLength, "AES-GCM key must be 16 or 32 bytes, got \(key.count)")
        }
        self.key = SymmetricKey(data: key)
    }

    func seal(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) -> Bool {
        guard let n = try? AES.GCM.Nonce(data: UnsafeRawBufferPointer(start: nonce, count: 12)),
            let box = try? AES.GCM.seal(UnsafeRawBufferPointer(data), using: key, nonce: n, authenticating: aad)
        else { return false }
        box.ciphertext.withUnsafeBytes { if $0.count > 0 { data.copyMemory(from: $0) } }
        box.tag.withUnsafeBytes { tag.copyMemory(from: $0.baseAddress!, byteCount: 16) }
        return true
    }

    func open(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) -> Bool {
        guard let n = try? AES.GCM.Nonce(data: UnsafeRawBufferPointer(start: nonce, count: 12)),
            let box = try? AES.GCM.SealedBox(
                nonce: n, ciphertext: UnsafeRawBufferPointer(data), tag: UnsafeRawBufferPointer(start: tag, count: 16)),
            let plain = try? AES.GCM.open(box, using: key, authenticating: aad)
        else { return false }
        plain.withUnsafeBytes { if $0.count > 0 { data.copyMemory(from: $0) } }
        return true
    }
}
