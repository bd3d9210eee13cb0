/// Why an identity, certificate or pin cannot be used. `message` says what, where, and what
/// is allowed.
public struct PKIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case badFingerprint, unreadable, insecurePermissions, badKey, badCertificate, notPinned, io
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
