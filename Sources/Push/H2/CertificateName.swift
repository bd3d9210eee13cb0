import NIOSSL
import X509

/// Whether a server's certificate names `host` among its DNS names (RFC 6125: exact, case-
/// insensitive, or a wildcard for one leftmost label). NIOSSL also accepts a certificate whose
/// IP address entry matches the socket's address — through a proxy that is the proxy's address,
/// and a certificate for an IP is easy to get — so a name is checked against names only.
enum CertificateName {
    static func matches(_ certificate: NIOSSLCertificate, host: String) -> Bool {
        guard let der = try? certificate.toDERBytes(), let cert = try? Certificate(derEncoded: der),
            let names = try? cert.extensions.subjectAlternativeNames
        else { return false }
        let wanted = normalized(host)
        for case .dnsName(let name) in names where matches(pattern: normalized(name), host: wanted) { return true }
        return false
    }

    static func normalized(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    static func matches(pattern: String, host: String) -> Bool {
        guard !pattern.isEmpty, !host.isEmpty else { return false }
        if pattern == host { return true }
        // "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com".
        guard pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
        let suffix = pattern.dropFirst(2)
        return suffix.contains(".") && host[host.index(after: dot)...] == suffix && host[..<dot] != ""
    }
}
