import Foundation
import PKI

/// The server's standing connection to one paired satellite: it follows the satellite's
/// event stream and reconnects with exponential backoff (with jitter) when the satellite
/// restarts or the network fails.
public actor SatelliteLink {
    public enum State: Sendable, Equatable {
        case connecting
        case online(release: String, activeCalls: Int)
        case offline(reason: String, retryIn: Double)
    }

    public let record: SatelliteRecord
    let identity: Identity
    let onEvent: @Sendable (Trabant_Bridge_V1_Event) -> Void
    public private(set) var state: State = .connecting
    /// Connections made so far (1 after the first success).
    public private(set) var connections = 0
    let initialBackoff: Double
    let maxBackoff: Double

    public init(
        record: SatelliteRecord, identity: Identity, initialBackoff: Double = 0.5, maxBackoff: Double = 30,
        onEvent: @escaping @Sendable (Trabant_Bridge_V1_Event) -> Void = { _ in }
    ) {
        self.record = record
        self.identity = identity
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.onEvent = onEvent
    }

    /// Runs until cancelled.
    public func run() async {
        var backoff = initialBackoff
        while !Task.isCancelled {
            state = .connecting
            do {
                let client = try BridgeClient(
                    host: record.host, port: record.port, identity: identity, satellitePins: Set(record.fingerprints))
                do {
                    online(try await client.status())
                    backoff = initialBackoff
                    try await client.watchEvents { [onEvent] e in
                        onEvent(e)
                        return !Task.isCancelled
                    }
                    await client.close()
                } catch {
                    await client.close()
                    throw error
                }
                if Task.isCancelled { return }
                setOffline("the satellite closed the event stream", backoff)
            } catch {
                if Task.isCancelled { return }
                setOffline("\(error)", backoff)
            }
            let jitter = Double.random(in: 0.8...1.2)
            try? await Task.sleep(for: .milliseconds(Int(backoff * jitter * 1000)))
            backoff = min(maxBackoff, backoff * 2)
        }
    }

    func online(_ status: Trabant_Bridge_V1_Status) {
        connections += 1
        state = .online(release: status.release, activeCalls: Int(status.activeCalls))
    }

    func setOffline(_ reason: String, _ retry: Double) {
        state = .offline(reason: reason, retryIn: retry)
    }

    public var isOnline: Bool {
        if case .online = state { return true }
        return false
    }
}
