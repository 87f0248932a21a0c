import BallastConfig
import Foundation

/// One request's hop through the balancer, as a span of its trace: what `tracing:` sends to an
/// OpenTelemetry collector. Built only for sampled traces, and only when tracing is on.
package struct HopSpan: Sendable {
    package var traceHigh: UInt64
    package var traceLow: UInt64
    /// The span the server saw as its parent (the `traceparent` of the last attempt).
    package var spanID: UInt64
    /// The client's span, when it sent a `traceparent`; 0 for a trace the balancer started.
    package var parentSpanID: UInt64
    package var startUnixNanos: UInt64
    package var endUnixNanos: UInt64
    package var method: String
    package var path: String
    package var status: Int
    package var listener: String
    package var route: String
    package var upstream: String
    package var server: String?
    package var retries: Int
    package var requestID: String
    package var client: String
}

/// Where the balancer's spans go (BallastControl's OTLP exporter): called on an event loop,
/// so it must only enqueue.
package protocol SpanSink: Sendable {
    func record(_ span: HopSpan, target: TracingTarget)
}

/// The collector and service name of a config's `tracing:`, shared by its spans.
package final class TracingTarget: Sendable {
    package let endpoint: String
    package let serviceName: String

    init(endpoint: String, serviceName: String) {
        self.endpoint = endpoint
        self.serviceName = serviceName
    }
}

/// A runtime's tracing: nil when the config has none (then nothing is built or sampled).
final class HopTracing: Sendable {
    let target: TracingTarget
    let sink: any SpanSink
    /// A started trace is sampled when a uniform random 64-bit number is below this.
    let sampleThreshold: UInt64

    init?(_ config: Tracing, sink: (any SpanSink)?) {
        guard let endpoint = config.endpoint, let sink else { return nil }
        target = TracingTarget(endpoint: endpoint, serviceName: config.serviceName)
        self.sink = sink
        let fraction = min(1, max(0, config.samplePercent / 100))
        sampleThreshold = fraction >= 1 ? .max : UInt64(fraction * Double(UInt64.max))
    }

    /// The wall clock, in nanoseconds since 1970.
    static func unixNanos() -> UInt64 {
        UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
    }
}
