/// Session-Expires (RFC 4028 §4): `delta-seconds [;refresher=uac|uas]`.
public struct SessionExpires: Sendable, Equatable {
    public enum Refresher: String, Sendable { case uac, uas }

    public var interval: Int
    public var refresher: Refresher?

    public init(interval: Int, refresher: Refresher?) {
        self.interval = interval
        self.refresher = refresher
    }

    /// Nil when the value is not a number of seconds (an unknown refresher value is ignored).
    public init?(parsing text: String) {
        let b = Array(text.utf8)
        let semi = Bytes.firstIndex(of: UInt8(ascii: ";"), in: b, 0..<b.count) ?? b.count
        guard let n = Bytes.number(b, Bytes.trimmed(b, 0..<semi), maxDigits: 9) else { return nil }
        interval = n
        refresher = nil
        for (name, value) in (try? HeaderValues.parameters(b, semi..<b.count)) ?? [] where name.lowercased() == "refresher" {
            refresher = value.flatMap { Refresher(rawValue: $0.lowercased()) }
        }
    }

    public var value: String { refresher.map { "\(interval);refresher=\($0.rawValue)" } ?? "\(interval)" }
}

extension SIPMessage {
    /// The Session-Expires header (compact form `x`), nil when absent or malformed.
    public var sessionExpires: SessionExpires? { value("session-expires").flatMap(SessionExpires.init(parsing:)) }
}
