import NIOCore
import NIOHTTP2

/// One request of `H2Client`: written as HEADERS + DATA on a new stream.
struct H2Request {
    var authority: String
    var path: String
    var headers: [(String, String)]
    var body: [UInt8]
    var promise: EventLoopPromise<H2Response>
}

struct H2Response: Sendable {
    var status: Int
    var body: [UInt8]
    var retryAfter: String?
}

/// Why a request of `H2Client` got no answer.
enum H2Error: Error, Equatable, CustomStringConvertible {
    /// The connection closed (or never became HTTP/2) before the answer came.
    case connectionClosed
    /// The server sent GOAWAY before processing this stream: safe to send again.
    case goAway
    case streamReset(HTTP2ErrorCode)
    case timeout
    /// Accepted the connection, then said nothing (no CONNECT answer, TLS or SETTINGS) in time.
    case silent
    /// TLS refused: a certificate or name that does not verify, or the peer's alert (BoringSSL's reason).
    case tlsRefused(String)
    /// The certificate verifies but does not name the host (only an IP address entry matched).
    case certificateNotFor(String)
    /// The server did not agree to HTTP/2 in ALPN.
    case notHTTP2(String?)
    /// Providers answer with a few hundred bytes at most.
    case answerTooLarge
    /// The CONNECT proxy answered 407.
    case proxyAuthentication
    /// The CONNECT proxy answered with another error status (or not HTTP).
    case proxyRefused(String)
    /// The request cannot be sent as it is (a header value with CR, LF or NUL, a bad URL).
    case badRequest(String)

    var description: String {
        switch self {
        case .connectionClosed: return "the connection closed before the answer"
        case .goAway: return "the server closed the connection (GOAWAY) before taking the request"
        case .streamReset(let code): return "the server reset the stream (\(code))"
        case .timeout: return "no answer within the time allowed"
        case .silent: return "the connection was accepted but TLS and HTTP/2 did not start in time (a proxy or server that says nothing)"
        case .tlsRefused(let reason): return "TLS refused: \(reason)"
        case .certificateNotFor(let host): return "the server's certificate does not name \(host)"
        case .notHTTP2(let alpn): return "the server does not speak HTTP/2 (ALPN: \(alpn ?? "none"))"
        case .answerTooLarge: return "the answer is larger than 16 KiB"
        case .proxyAuthentication: return "the proxy refused the tunnel (407)"
        case .proxyRefused(let status): return "the proxy refused the tunnel (\(status))"
        case .badRequest(let why): return "the request cannot be sent: \(why)"
        }
    }
}
