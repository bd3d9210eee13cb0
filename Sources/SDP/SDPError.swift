/// Why a session description was refused: the line (1-based) and what is allowed there.
public struct SDPError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int?
    public let message: String

    public init(line: Int?, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "SDP line \($0): \(message)" } ?? "SDP: \(message)" }
}
