import CTrabantNet
import Foundation

/// CPU time and resident memory of a process, from /proc (Linux).
public enum ProcessStats {
    /// utime + stime in seconds (all threads).
    public static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // after "pid (comm)": state is field 0; utime is 11, stime 12
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of a process and all its descendants (kamailio forks workers, and its
    /// TCP main process forks more).
    public static func treeCPUSeconds(pid: Int32) -> Double {
        var total = cpuSeconds(pid: pid) ?? 0
        var frontier = [pid]
        var seen: Set<Int32> = [pid]
        while let p = frontier.popLast() {
            for c in children(of: p) where seen.insert(c).inserted {
                total += cpuSeconds(pid: c) ?? 0
                frontier.append(c)
            }
        }
        return total
    }

    /// The direct children of a process.
    public static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { e -> Int32? in
            guard let child = Int32(e), child != pid,
                let text = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = text.lastIndex(of: ")")
            else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
        }
    }

    /// VmRSS in bytes.
    public static func residentBytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// The 1-minute load average.
    public static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
            let first = text.split(separator: " ").first, let v = Double(first)
        else { return 0 }
        return v
    }

    /// Pins the calling thread to one CPU.
    public static func pinCurrentThread(cpu: Int) {
        _ = tn_pin_thread(Int32(cpu))
    }
}
