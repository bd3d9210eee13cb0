import Crypto
import Foundation

#if canImport(CHPKEBoring) && os(Linux)
import CHPKEBoring
#endif

/// What a push tells a phone: who calls, which call, where to connect. It travels only
/// sealed to the device's own key (HPKE, RFC 9180); Apple, Google, the push relay and any
/// proxy see ciphertext and a key id.
public struct CallNotice: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case call, cancel }
    public var kind: Kind
    public var callID: String
    /// The caller as the phone shows it ("Alice <+49 30 1234>").
    public var caller: String
    /// The gateway's WebSocket URL the app connects to for this call.
    public var gateway: String
    /// Seconds since 1970 when the server sent it: a late push for a call that rang out is shown as missed.
    public var sentAt: Double

    public init(kind: Kind, callID: String, caller: String, gateway: String, sentAt: Double) {
        self.kind = kind
        self.callID = callID
        self.caller = caller
        self.gateway = gateway
        self.sentAt = sentAt
    }
}

extension CallNotice {
    /// The notice as JSON (the keys JSONEncoder writes, without its cost on the hot path).
    public func json() throws(PushPayloadError) -> Data {
        guard let sent = FastEncoding.number(sentAt) else { throw PushPayloadError("sentAt must be a finite number") }
        let text = "{\"kind\":\"\(kind.rawValue)\",\"callID\":\(FastEncoding.quoted(callID)),\"caller\":\(FastEncoding.quoted(caller)),"
            + "\"gateway\":\(FastEncoding.quoted(gateway)),\"sentAt\":\(sent)}"
        return Data(text.utf8)
    }
}

/// A device's push key as it registered it: an X25519 public key and its id.
public struct DevicePushKey: Sendable, Equatable {
    public let id: String
    public let publicKey: Curve25519.KeyAgreement.PublicKey

    public init(id: String, publicKey: Curve25519.KeyAgreement.PublicKey) {
        self.id = id
        self.publicKey = publicKey
    }

    /// From the registration: the key id and the raw 32-byte public key in base64url.
    public init(id: String, base64url: String) throws(PushPayloadError) {
        guard Self.isValidID(id) else {
            throw PushPayloadError("a push key id is 1 to 64 ASCII letters, digits, '-' or '_'")
        }
        guard let raw = Data(base64URL: base64url), raw.count == 32,
            let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)
        else {
            throw PushPayloadError("a push key is 32 bytes of X25519 public key in base64url (43 characters)")
        }
        self.init(id: id, publicKey: key)
    }

    /// 1 to 64 ASCII letters, digits, '-' or '_'.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    public static func == (a: DevicePushKey, b: DevicePushKey) -> Bool {
        a.id == b.id && a.publicKey.rawRepresentation == b.publicKey.rawRepresentation
    }
}

/// The sealed notice as it travels in a push: `{"v":1,"kid":…,"enc":…,"ct":…}`.
public struct SealedNotice: Codable, Sendable, Equatable {
    public var v: Int
    public var kid: String
    /// HPKE's encapsulated key (base64url).
    public var enc: String
    /// The ciphertext of the JSON notice with its tag (base64url).
    public var ct: String

    public init(v: Int, kid: String, enc: String, ct: String) {
        self.v = v
        self.kid = kid
        self.enc = enc
        self.ct = ct
    }

    /// `{"ct":…,"enc":…,"kid":…,"v":1}`, keys sorted, as JSONEncoder with .sortedKeys writes it.
    public var jsonText: String {
        "{\"ct\":\(FastEncoding.quoted(ct)),\"enc\":\(FastEncoding.quoted(enc)),\"kid\":\(FastEncoding.quoted(kid)),\"v\":\(v)}"
    }
}

/// HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (RFC 9180);
/// the key id is authenticated as associated data, the info string names the format.
public enum NoticeSeal {
    public static let suite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly
    public static let info = Data("trabant push notice v1".utf8)

    public static func seal(_ notice: CallNotice, to key: DevicePushKey) throws -> SealedNotice {
        let plain = try notice.json()
        #if canImport(CHPKEBoring) && os(Linux)
        // BoringSSL's EVP_HPKE directly (the same suite): a third of the seal's cost is
        // swift-crypto's HKDF and Data handling around the two X25519 operations.
        let pk = Array(key.publicKey.rawRepresentation)
        let info = Array(Self.info)
        let aad = Array(key.id.utf8)
        var enc = [UInt8](repeating: 0, count: 32)
        var ct = [UInt8](repeating: 0, count: plain.count + 16)
        let ok = plain.withUnsafeBytes { p in
            thpke_seal_x25519_chacha(
                pk, info, info.count, aad, aad.count, p.bindMemory(to: UInt8.self).baseAddress, plain.count, &enc, &ct, ct.count)
        }
        guard ok == 1 else { throw PushPayloadError("HPKE sealing failed (not an X25519 public key?)") }
        return SealedNotice(v: 1, kid: key.id, enc: FastEncoding.base64URL(enc), ct: FastEncoding.base64URL(ct))
        #else
        var sender = try HPKE.Sender(recipientKey: key.publicKey, ciphersuite: suite, info: info)
        let ct = try sender.seal(plain, authenticating: Data(key.id.utf8))
        return SealedNotice(v: 1, kid: key.id, enc: sender.encapsulatedKey.base64URL, ct: ct.base64URL)
        #endif
    }

    /// The device side (the client SDK): opens a notice sealed to its key.
    public static func open(_ sealed: SealedNotice, with privateKey: Curve25519.KeyAgreement.PrivateKey) throws(PushPayloadError)
        -> CallNotice
    {
        guard sealed.v == 1 else { throw PushPayloadError("sealed notice version \(sealed.v) is not known (1 is)") }
        guard let enc = Data(base64URL: sealed.enc), let ct = Data(base64URL: sealed.ct) else {
            throw PushPayloadError("enc and ct must be base64url")
        }
        do {
            var recipient = try HPKE.Recipient(privateKey: privateKey, ciphersuite: suite, info: info, encapsulatedKey: enc)
            let plain = try recipient.open(ct, authenticating: Data(sealed.kid.utf8))
            return try JSONDecoder().decode(CallNotice.self, from: plain)
        } catch {
            throw PushPayloadError("the notice does not open with this key (wrong key, key id or a changed ciphertext)")
        }
    }
}

public struct PushPayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Data {
    /// RFC 4648 §5, without padding.
    public var base64URL: String { FastEncoding.base64URL(self) }

    public init?(base64URL text: String) {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        self.init(base64Encoded: s)
    }
}
