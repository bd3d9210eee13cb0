/// A configuration error that names the file, the line when known, the key, and what is
/// allowed. Printed as is to the operator; the process then exits non-zero.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String?
    public let line: Int?
    public let key: String
    public let message: String

    public init(file: String?, line: Int? = nil, key: String, _ message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var where_ = file ?? "configuration"
        if let line { where_ += ":\(line)" }
        return key.isEmpty ? "\(where_): \(message)" : "\(where_): \(key): \(message)"
    }
}
