import Foundation
import Logging
import Synchronization

/// Keeps the firewall's set of open media ports equal to the relay's live calls: ports are
/// added when a call's sockets are bound and removed when they close, in batches (one tool
/// run per 20 ms at most). Every element carries a timeout as a safety net, refreshed for live
/// ports, so ports of a satellite that died close by themselves.
public final class MediaPortSet: Sendable {
    public enum Backend: Sendable { case nftables, ipset }

    let backend: Backend
    let elementTimeout: Int
    let logger: Logger
    let state = Mutex(State())
    let wake: AsyncStream<Void>.Continuation
    let stream: AsyncStream<Void>

    struct State {
        var live: Set<UInt16> = []
        var add: Set<UInt16> = []
        var remove: Set<UInt16> = []
    }

    public init(backend: Backend, elementTimeout: Int, logger: Logger = Logger(label: "trabant.firewall")) {
        self.backend = backend
        self.elementTimeout = elementTimeout
        self.logger = logger
        (stream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func changed(opened: [UInt16], closed: [UInt16]) {
        state.withLock { s in
            for p in opened {
                s.live.insert(p)
                s.add.insert(p)
                s.remove.remove(p)
            }
            for p in closed {
                s.live.remove(p)
                s.add.remove(p)
                s.remove.insert(p)
            }
        }
        wake.yield()
    }


    /// Applies the queued changes until cancelled; refreshes live ports every 10 s at most
    /// (a third of the element timeout when shorter) — that also restores them within
    /// seconds after the ruleset was applied anew, which empties the set.
    public func run() async {
        let refreshEvery = min(10, Double(elementTimeout) / 3)
        var lastRefresh = Date()
        let ticker = Task { [wake] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
        }
        defer { ticker.cancel() }
        for await _ in stream {
            if Task.isCancelled { break }
            var refresh = false
            if Date().timeIntervalSince(lastRefresh) >= refreshEvery {
                refresh = true
                lastRefresh = Date()
            }
            let (add, remove, live) = state.withLock { s -> ([UInt16], [UInt16], [UInt16]) in
                defer {
                    s.add = []
                    s.remove = []
                }
                return (s.add.sorted(), s.remove.sorted(), refresh ? s.live.sorted() : [])
            }
            if !add.isEmpty || !remove.isEmpty || !live.isEmpty { flush(add: add, remove: remove, refresh: live) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One tool run for the batch. What fails is queued again (unless a newer change to the
    /// same port came meanwhile), so neither an open nor a close is lost.
    func flush(add: [UInt16], remove: [UInt16], refresh: [UInt16]) {
        var ok = false
        var detail = ""
        do {
            let r = try apply(add: add, remove: remove, refresh: refresh)
            ok = r.ok
            detail = r.stderr
        } catch {
            detail = "\(error)"
        }
        if ok { return }
        state.withLock { s in
            for p in add where s.live.contains(p) && !s.remove.contains(p) { s.add.insert(p) }
            for p in remove where !s.live.contains(p) && !s.add.contains(p) { s.remove.insert(p) }
        }
        logger.warning("media port set update failed; retrying", metadata: ["error": "\(detail.prefix(300))"])
    }

    /// nftables: every element is first made to exist, so the deletes never fail the
    /// transaction; a refresh deletes and re-adds (before Linux 6.12 adding an element that
    /// exists does not renew its timeout). ipset: -exist makes adds renew and deletes idempotent.
    func apply(add: [UInt16], remove: [UInt16], refresh: [UInt16]) throws(FirewallError) -> Command.Result {
        switch backend {
        case .nftables:
            let set = "inet \(FirewallNames.nftTable) \(FirewallNames.nftMediaSet)"
            func list(_ ports: [UInt16], timeout: Bool) -> String {
                ports.map { timeout ? "\($0) timeout \(elementTimeout)s" : "\($0)" }.joined(separator: ", ")
            }
            let touched = Array(Set(remove + refresh)).sorted()
            var script = ""
            if !touched.isEmpty {
                script += "add element \(set) { \(list(touched, timeout: true)) }\n"
                script += "delete element \(set) { \(list(touched, timeout: false)) }\n"
            }
            let adds = Array(Set(add + refresh)).sorted()
            if !adds.isEmpty { script += "add element \(set) { \(list(adds, timeout: true)) }\n" }
            return try Command.run("nft", ["-f", "-"], input: script)
        case .ipset:
            var lines = Array(Set(add + refresh)).sorted().map { "add \(FirewallNames.ipset) \($0) timeout \(elementTimeout)" }
            lines += remove.map { "del \(FirewallNames.ipset) \($0)" }
            return try Command.run("ipset", ["-exist", "restore"], input: lines.joined(separator: "\n") + "\n")
        }
    }
}
