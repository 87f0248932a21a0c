import Metrics
import Prometheus

/// swift-metrics can be bootstrapped once per process; every test that reads metrics shares this.
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static var text: String { registry.emitToString() }
}
