import Crypto
import CryptoExtras
import Foundation
import PushPayload

/// Compact JWS (RFC 7515) signing for the two tokens push needs: ES256 for APNs provider
/// tokens, RS256 for Google's OAuth2 service-account assertion.
public enum JWT {
    /// header.claims.signature, each base64url; the header and claims are JSON with sorted keys.
    public static func es256<C: Encodable>(kid: String, claims: C, key: P256.Signing.PrivateKey) throws -> String {
        let input = try signingInput(header: Header(alg: "ES256", kid: kid, typ: nil), claims: claims)
        // JWS ES256 is the raw 64-byte r‖s, not DER (RFC 7518 §3.4).
        let signature = try key.signature(for: Data(input.utf8)).rawRepresentation
        return input + "." + signature.base64URL
    }

    public static func rs256<C: Encodable>(kid: String?, claims: C, key: _RSA.Signing.PrivateKey) throws -> String {
        let input = try signingInput(header: Header(alg: "RS256", kid: kid, typ: "JWT"), claims: claims)
        let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        return input + "." + signature.base64URL
    }

    /// Whether an ES256 token's signature verifies with `key` (for tokens read back from disk).
    public static func verifiesES256(_ token: String, key: P256.Signing.PublicKey) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64URL: String(parts[2])),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw)
        else { return false }
        return key.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8))
    }

    struct Header: Encodable {
        let alg: String
        let kid: String?
        let typ: String?
    }

    static func signingInput<C: Encodable>(header: Header, claims: C) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(header).base64URL + "." + encoder.encode(claims).base64URL
    }
}
