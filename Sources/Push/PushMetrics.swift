/// Push counters in the Prometheus text exposition format (version 0.0.4).
public enum PushMetrics {
    /// `counters`: "provider.outcome" → count, as `PushSender.counters` keeps them.
    public static func render(_ counters: [String: Int]) -> String {
        var out = "# HELP trabant_push_total Pushes finished, by provider and outcome (after retries).\n"
        out += "# TYPE trabant_push_total counter\n"
        for provider in ["apns", "fcm"] {
            for outcome in PushSender.outcomes {
                out += "trabant_push_total{provider=\"\(provider)\",outcome=\"\(outcome)\"} \(counters["\(provider).\(outcome)", default: 0])\n"
            }
        }
        return out
    }
}
