/// Why bytes from a stream are not a SIP message. Each case maps to a response a server
/// sends before closing (400, 413, 505) and a counter.
public struct SIPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case malformedStartLine
        case malformedHeader
        case missingContentLength
        case badContentLength
        case messageTooLarge
        case tooManyHeaders
        case lineTooLong
        case unsupportedVersion
        case malformedURI
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The status a server answers with before closing the connection.
    public var responseStatus: Int {
        switch code {
        case .messageTooLarge, .tooManyHeaders, .lineTooLong: return 413
        case .unsupportedVersion: return 505
        default: return 400
        }
    }
}
