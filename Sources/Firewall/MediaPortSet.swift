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
        var failures = 0
        var batches = 0
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

    public var livePorts: Set<UInt16> { state.withLock { $0.live } }
    public var failedBatches: Int { state.withLock { $0.failures } }

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
            let (add, remove) = state.withLock { s -> ([UInt16], [UInt16]) in
                let add = refresh ? s.live : s.add
                defer {
                    s.add = []
                    s.remove = []
                }
                return (add.sorted(), s.remove.sorted())
            }
            if !add.isEmpty || !remove.isEmpty { flush(add: add, remove: remove) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func flush(add: [UInt16], remove: [UInt16]) {
        do {
            let r = try apply(add: add, remove: remove)
            if r.ok {
                state.withLock { $0.batches += 1 }
                return
            }
            // A removal of an element that is gone already (expired, or the table was
            // re-applied) fails the whole nft batch: retry the parts one by one.
            if backend == .nftables {
                _ = try apply(add: add, remove: [])
                for p in remove { _ = try apply(add: [], remove: [p]) }
            }
            state.withLock { $0.failures += 1 }
            logger.warning("media port set update failed once", metadata: ["error": "\(r.stderr.prefix(300))"])
        } catch {
            state.withLock { $0.failures += 1 }
            logger.error("media port set cannot be updated", metadata: ["error": "\(error)"])
        }
    }

    func apply(add: [UInt16], remove: [UInt16]) throws(FirewallError) -> Command.Result {
        switch backend {
        case .nftables:
            var script = ""
            let table = "inet \(FirewallNames.nftTable) \(FirewallNames.nftMediaSet)"
            if !add.isEmpty {
                script += "add element \(table) { \(add.map { "\($0) timeout \(elementTimeout)s" }.joined(separator: ", ")) }\n"
            }
            if !remove.isEmpty { script += "delete element \(table) { \(remove.map(String.init).joined(separator: ", ")) }\n" }
            return try Command.run("nft", ["-f", "-"], input: script)
        case .ipset:
            var lines = add.map { "add \(FirewallNames.ipset) \($0) timeout \(elementTimeout)" }
            lines += remove.map { "del \(FirewallNames.ipset) \($0)" }
            return try Command.run("ipset", ["-exist", "restore"], input: lines.joined(separator: "\n") + "\n")
        }
    }
}
