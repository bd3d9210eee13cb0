import MediaRelay

/// The satellite's counters in the Prometheus text exposition format (version 0.0.4).
public enum PrometheusText {
    public static func render(_ s: ControllerSnapshot, relay: RelayMetrics, bridgeRefusals: [String: Int] = [:]) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(value)\n" }
        }
        func label(_ k: String, _ v: String) -> String { "\(k)=\"\(v.replacingOccurrences(of: "\"", with: "'"))\"" }

        metric("trabant_sip_calls_started_total", "counter", "Calls the call controller accepted.", [("", "\(s.core.callsStarted)")])
        metric("trabant_sip_calls_answered_total", "counter", "Calls answered by their target.", [("", "\(s.core.callsAnswered)")])
        metric("trabant_sip_calls_active", "gauge", "Calls in progress.", [("", "\(s.core.callsActive)")])
        metric("trabant_sip_calls_ended_total", "counter", "Ended calls by reason.",
               s.core.callsEnded.sorted { $0.key < $1.key }.map { (label("reason", $0.key), "\($0.value)") })
        metric("trabant_sip_requests_refused_total", "counter", "Requests answered with an error, by status.",
               s.core.requestsRefused.sorted { $0.key < $1.key }.map { (label("status", "\($0.key)"), "\($0.value)") })
        metric("trabant_sip_messages_received_total", "counter", "SIP messages read from admitted connections.",
               [("", "\(s.core.messagesReceived)")])
        metric("trabant_sip_transaction_timeouts_total", "counter", "Client transactions that timed out or lost their connection.",
               [("", "\(s.core.transactionTimeouts)")])
        metric("trabant_sip_session_timer_expiries_total", "counter", "Calls ended because RFC 4028 refreshes stopped.",
               [("", "\(s.core.sessionTimerExpiries)")])
        metric("trabant_sip_connections_total", "counter", "Connections at accept, by the access gate's verdict.",
               s.transport.connections.sorted { $0.key < $1.key }.map { (label("verdict", $0.key), "\($0.value)") })
        metric("trabant_sip_requests_gated_total", "counter", "Requests dropped by the access gate, by verdict.",
               s.transport.requests.sorted { $0.key < $1.key }.map { (label("verdict", $0.key), "\($0.value)") })
        metric("trabant_sip_streams_malformed_total", "counter", "Connections closed for bytes that are not SIP, by status sent.",
               s.transport.malformed.sorted { $0.key < $1.key }.map { (label("status", "\($0.key)"), "\($0.value)") })
        metric("trabant_media_calls_active", "gauge", "Calls in the media relay.", [("", "\(relay.callsActive)")])
        metric("trabant_media_calls_created_total", "counter", "Calls the media relay created.", [("", "\(relay.callsCreated)")])
        metric("trabant_media_ports_in_use", "gauge", "Media ports bound.", [("", "\(relay.portsInUse)")])
        metric("trabant_media_ports_capacity", "gauge", "Media ports in the configured range.", [("", "\(relay.portsCapacity)")])
        metric("trabant_media_port_pool_exhausted_total", "counter", "Calls refused for lack of media ports.",
               [("", "\(relay.portPoolExhausted)")])
        metric("trabant_media_packets_relayed_total", "counter", "Packets relayed (ended calls).", [("", "\(relay.packetsRelayed)")])
        metric("trabant_media_drops_total", "counter", "Datagrams dropped by reason (ended calls).",
               relay.drops.sorted { $0.key.rawValue < $1.key.rawValue }.map { (label("reason", "\($0.key)"), "\($0.value)") })
        metric("trabant_bridge_refusals_total", "counter", "Management bridge refusals by kind (source, key, proof, release).",
               bridgeRefusals.sorted { $0.key < $1.key }.map { (label("kind", $0.key), "\($0.value)") })
        return out
    }
}
