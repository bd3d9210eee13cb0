import NIOSSL

/// What a TLS error means for the push client: a refusal (a certificate or name that does not
/// verify, the peer's alert, no common protocol) that retrying cannot help, or a connection
/// that went away (no close_notify, EOF), retried like any other.
enum TLSFailure {
    /// `H2Error.tlsRefused` or `H2Error.connectionClosed` for TLS errors; other errors as they are.
    static func classify(_ error: any Error) -> any Error {
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else { return error }
        return isRefusal(error) ? H2Error.tlsRefused(reason(error)) : H2Error.connectionClosed
    }

    static func isRefusal(_ error: any Error) -> Bool {
        switch error {
        case is NIOSSLExtraError:
            return true  // the name does not match the certificate, or cannot be checked
        case let e as NIOSSLError:
            switch e {
            case .uncleanShutdown, .readInInvalidTLSState, .writeDuringTLSShutdown: return false
            case .noCertificateToValidate, .unableToValidateCertificate, .cannotMatchULabel, .cannotFindPeerIP: return true
            default: return reason(error) != "\(error)"  // BoringSSL named a reason
            }
        default:
            return reason(error) != "\(error)"
        }
    }

    /// BoringSSL's reason codes ("CERTIFICATE_VERIFY_FAILED", "TLSV1_ALERT_DECRYPT_ERROR")
    /// out of an error's text, without the library's source locations; the text otherwise.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        var reasons: [String] = []
        var rest = text[...]
        while let r = rest.range(of: "OPENSSL_internal:") {
            let code = rest[r.upperBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
            if !code.isEmpty, !reasons.contains(String(code)) { reasons.append(String(code)) }
            rest = rest[r.upperBound...]
        }
        return reasons.isEmpty ? text : reasons.joined(separator: ", ")
    }
}
