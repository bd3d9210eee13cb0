import Foundation
import MediaRelay
import SRTP

/// The line protocol between `trabant bench media` and the relay process it measures
/// (`trabant-bench-agent`): one JSON object per line on stdin, one reply per line on stdout.
/// It stands in for the call controller until that exists; it is not a product interface.
public enum AgentProtocol {
    public struct Side: Codable, Sendable {
        public var host: String
        public var port: UInt16
        public var profile: String
        /// Base64 of master key || salt.
        public var key: String

        public init(address: MediaAddress, keys: SRTPParameters) {
            host = address.host
            port = address.port
            profile = keys.profile.rawValue
            key = Data(keys.keyingMaterial).base64EncodedString()
        }

        public func parameters() throws -> SRTPParameters {
            guard let p = SRTPProfile(rawValue: profile), let k = Data(base64Encoded: key) else {
                throw BenchError("agent: bad SRTP parameters \(profile)")
            }
            return try SRTPParameters(profile: p, keyingMaterial: Array(k))
        }

        public func address() throws -> MediaAddress {
            guard let a = MediaAddress(host: host, port: port) else { throw BenchError("agent: bad address \(host)") }
            return a
        }
    }

    public struct Request: Codable, Sendable {
        public var op: String  // "create", "delete", "allocations", "quit"
        public var id: String?
        public var a: Side?
        public var b: Side?

        public init(op: String, id: String? = nil, a: Side? = nil, b: Side? = nil) {
            self.op = op
            self.id = id
            self.a = a
            self.b = b
        }
    }

    public struct Reply: Codable, Sendable {
        public var ok: Bool
        public var error: String?
        /// For "create": the relay's side toward A and toward B.
        public var a: Side?
        public var b: Side?
        public var allocations: Int?

        public init(ok: Bool, error: String? = nil, a: Side? = nil, b: Side? = nil, allocations: Int? = nil) {
            self.ok = ok
            self.error = error
            self.a = a
            self.b = b
            self.allocations = allocations
        }
    }
}
