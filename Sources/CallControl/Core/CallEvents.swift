import Foundation
import MediaRelay

/// Something an operator watches: a call started, was answered or ended, or a refusal.
public struct ControllerEvent: Sendable, Equatable {
    public enum Category: String, Sendable { case security, call }
    public var time: Date
    public var category: Category
    /// "call_started", "call_answered", "call_ended", or a refusal ("not_in_acl", …).
    public var kind: String
    public var source: String
    public var detail: String
    public var callID: String

    public init(
        time: Date = Date(), category: Category, kind: String, source: String = "", detail: String = "", callID: String = ""
    ) {
        self.time = time
        self.category = category
        self.kind = kind
        self.source = source
        self.detail = detail
        self.callID = callID
    }
}

/// A running call as the management bridge lists it.
public struct CallSnapshot: Sendable, Equatable {
    public struct Leg: Sendable, Equatable {
        public var name: String
        public var local: String
        public var remote: String
    }
    public var id: String
    public var sipCallID: String
    public var state: String
    public var ageSeconds: Double
    public var legs: [Leg]
}

extension B2BUACore {
    /// Events since the last call, oldest first.
    public func takeEvents() -> [ControllerEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    func callEvent(_ kind: String, _ call: Call, detail: String = "") {
        events.append(ControllerEvent(category: .call, kind: kind, detail: detail, callID: call.id))
    }

    /// The running calls.
    public func snapshots() -> [CallSnapshot] {
        calls.values.sorted { $0.startedAt < $1.startedAt }.map { call in
            CallSnapshot(
                id: call.id, sipCallID: call[.a].callID, state: call.state.rawValue, ageSeconds: now - call.startedAt,
                legs: [Side.a, .b].map { side in
                    let leg = call[side]
                    return CallSnapshot.Leg(
                        name: side.legName, local: leg.local.map { "\($0.address):\($0.port)" } ?? "",
                        remote: leg.remoteAddress.map { "\($0)" } ?? "")
                })
        }
    }

    /// Ends a call from outside (the management bridge): BYE or 503 to both sides.
    func hangUp(_ id: String) -> Bool {
        guard let call = calls[id] else { return false }
        log(call, .info, "hung up by the management bridge")
        endCall(call, reason: "hangup_management", status: 503)
        return true
    }
}
