/// An SDP session description (RFC 8866), as much of it as a SIP audio call uses, kept
/// faithfully: unknown attributes and lines survive a parse/serialize round trip.
public struct SessionDescription: Sendable, Equatable {
    public struct Origin: Sendable, Equatable {
        public var username: String
        public var sessionID: String
        public var sessionVersion: String
        public var networkType: String
        public var addressType: String
        public var address: String

        public init(
            username: String = "-", sessionID: String, sessionVersion: String, networkType: String = "IN",
            addressType: String, address: String
        ) {
            self.username = username
            self.sessionID = sessionID
            self.sessionVersion = sessionVersion
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }
    }

    /// c= (RFC 8866 §5.7).
    public struct Connection: Sendable, Equatable {
        public var networkType: String
        public var addressType: String
        public var address: String

        public init(networkType: String = "IN", addressType: String, address: String) {
            self.networkType = networkType
            self.addressType = addressType
            self.address = address
        }
    }

    /// a=name or a=name:value.
    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var value: String?

        public init(_ name: String, _ value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    /// Any other line (b=, i=, k=, r=, z=, …), kept in order.
    public struct OtherLine: Sendable, Equatable {
        public var type: Character
        public var value: String
    }

    public struct Media: Sendable, Equatable {
        public var media: String
        public var port: UInt16
        public var portCount: Int?
        public var proto: String
        public var formats: [String]
        public var connection: Connection?
        public var attributes: [Attribute]
        public var otherLines: [OtherLine]

        public init(
            media: String = "audio", port: UInt16, portCount: Int? = nil, proto: String, formats: [String],
            connection: Connection? = nil, attributes: [Attribute] = [], otherLines: [OtherLine] = []
        ) {
            self.media = media
            self.port = port
            self.portCount = portCount
            self.proto = proto
            self.formats = formats
            self.connection = connection
            self.attributes = attributes
            self.otherLines = otherLines
        }

        /// Values of every `a=name`.
        public func attributes(named name: String) -> [String?] {
            attributes.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }

        public func hasAttribute(_ name: String) -> Bool { !attributes(named: name).isEmpty }
    }

    public var version: Int
    public var origin: Origin
    public var sessionName: String
    public var connection: Connection?
    public var times: [String]
    public var attributes: [Attribute]
    public var otherLines: [OtherLine]
    public var media: [Media]

    public init(
        origin: Origin, sessionName: String = "-", connection: Connection? = nil, times: [String] = ["0 0"],
        attributes: [Attribute] = [], otherLines: [OtherLine] = [], media: [Media] = []
    ) {
        self.version = 0
        self.origin = origin
        self.sessionName = sessionName
        self.connection = connection
        self.times = times
        self.attributes = attributes
        self.otherLines = otherLines
        self.media = media
    }
}
