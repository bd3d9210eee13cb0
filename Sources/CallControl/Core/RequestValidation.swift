import SIP

/// Checks a request must pass before any transaction or dialog sees it (RFC 3261 §8.2.1–
/// §8.2.3, RFC 4475 §3.1.2 and §3.3): each refusal with the response the RFCs name.
extension B2BUACore {
    struct Problem {
        let status: Int
        let reason: String
        var headers: [SIPMessage.Header] = []
    }

    /// Headers that may appear once only (RFC 3261 §7.3.1, RFC 4475 §3.3.8).
    static let singleValued: Set<String> = ["call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type"]

    /// Option tags this user agent implements (RFC 3261 §8.2.2.3).
    static let supportedOptions: Set<String> = ["timer"]

    static func requestProblem(_ m: SIPMessage) -> Problem? {
        // One pass over the headers; a value is split only when it holds a comma.
        var seen: Set<String> = []
        for h in m.headers where singleValued.contains(h.key) {
            let repeated = !seen.insert(h.key).inserted
            let listed = h.key != "content-type" && h.value.utf8.contains(UInt8(ascii: ",")) && HeaderValues.split(h.value).count > 1
            if repeated || listed {
                return Problem(status: 400, reason: "Bad Request (\(h.key) appears more than once)")
            }
        }
        guard let text = m.requestURI else { return nil }
        let scheme = text.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        // A well-formed scheme we do not serve is 416; anything else is not a URI at all (400).
        let wellFormed = scheme.first?.isLetter == true
            && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
        guard ["sip", "sips", "tel"].contains(scheme) || !wellFormed else {
            return Problem(status: 416, reason: "Unsupported URI Scheme (\(scheme.prefix(20)))")
        }
        guard let uri = try? SIPURI(parsing: text) else {
            return Problem(status: 400, reason: "Bad Request (Request-URI is not a valid SIP URI)")
        }
        if !uri.headers.isEmpty {
            return Problem(status: 400, reason: "Bad Request (a Request-URI carries no headers, RFC 3261 §19.1.5)")
        }
        guard let method = m.method, method != "ACK", method != "CANCEL" else { return nil }
        let unsupported = m.listValues("require").filter { !supportedOptions.contains($0.lowercased()) }
        if !unsupported.isEmpty {
            return Problem(
                status: 420, reason: "Bad Extension",
                headers: [.init("Unsupported", unsupported.joined(separator: ", "))])
        }
        if method == "INVITE", !m.values("accept").isEmpty {
            let accepted = m.listValues("accept").map { $0.split(separator: ";")[0].lowercased().replacingSpaces() }
            if !accepted.contains(where: { $0 == "application/sdp" || $0 == "application/*" || $0 == "*/*" }) {
                return Problem(
                    status: 406, reason: "Not Acceptable (answers are application/sdp)",
                    headers: [.init("Accept", "application/sdp")])
            }
        }
        return nil
    }
}
