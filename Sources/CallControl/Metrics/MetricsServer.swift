import MediaRelay
import Metrics

/// The satellite's GET /metrics: the call controller's, the relay's and the bridge's counters.
public typealias MetricsServer = MetricsEndpoint

extension MetricsEndpoint {
    public convenience init(
        host: String, port: Int, controller: CallController, relay: MediaRelay,
        bridgeRefusals: @escaping @Sendable () -> [String: Int] = { [:] }
    ) async throws {
        try await self.init(host: host, port: port) {
            PrometheusText.render(await controller.snapshot(), relay: relay.metrics, bridgeRefusals: bridgeRefusals())
        }
    }
}
