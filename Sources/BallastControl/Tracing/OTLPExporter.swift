import AsyncHTTPClient
import BallastProxy
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Sends finished spans to OpenTelemetry collectors over OTLP/HTTP (JSON), in batches, from a
/// task of its own: an event loop only appends to a bounded queue (`record`), and a collector
/// that is slow or away costs dropped spans, counted, never waiting.
package final class OTLPExporter: SpanSink, Sendable {
    /// Spans waiting at most; beyond this they are dropped.
    package static let capacity = 8192
    /// Spans per request to the collector.
    package static let batchSize = 512
    private struct Destination: Hashable {
        var endpoint: String
        var serviceName: String
    }
    private let queue = Mutex<(spans: [Destination: [OTLPSpan]], count: Int)>(([:], 0))
    private let exported: Counter
    private let dropped: Counter
    private let failed: Counter
    private let logger: Logger
    private let interval: Duration
    private let task = Mutex<Task<Void, Never>?>(nil)

    package init(interval: Duration = .seconds(1), logger: Logger = Logger(label: "ballast.tracing")) {
        self.interval = interval
        self.logger = logger
        exported = Counter(label: "ballast_trace_spans_exported_total")
        dropped = Counter(label: "ballast_trace_spans_dropped_total")
        failed = Counter(label: "ballast_trace_export_failures_total")
    }

    /// The balancer's hop (on its event loop).
    package func record(_ span: HopSpan, target: TracingTarget) {
        enqueue(OTLPSpan(span), endpoint: target.endpoint, serviceName: target.serviceName)
    }

    package func enqueue(_ span: OTLPSpan, endpoint: String, serviceName: String) {
        let accepted = queue.withLock { queue in
            guard queue.count < Self.capacity else { return false }
            queue.spans[Destination(endpoint: endpoint, serviceName: serviceName), default: []].append(span)
            queue.count += 1
            return true
        }
        if !accepted { dropped.increment() }
    }

    /// Starts the sending task (once).
    package func start() {
        task.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    await flush()
                }
            }
        }
    }

    /// Sends everything queued now; each destination's batches in order.
    package func flush() async {
        let taken = queue.withLock { queue in
            defer { queue = ([:], 0) }
            return queue.spans
        }
        for (destination, spans) in taken {
            var offset = 0
            while offset < spans.count {
                let batch = Array(spans[offset..<min(spans.count, offset + Self.batchSize)])
                offset += batch.count
                await send(batch, to: destination)
            }
        }
    }

    /// Sends what is queued and stops.
    package func shutdown() async {
        task.withLock { $0?.cancel(); $0 = nil }
        await flush()
    }

    private func send(_ batch: [OTLPSpan], to destination: Destination) async {
        var request = HTTPClientRequest(url: destination.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: OTLPJSON.encode(batch, serviceName: destination.serviceName)))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            _ = try? await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                throw ExportError(description: "the collector answered \(response.status.code)")
            }
            exported.increment(by: batch.count)
        } catch {
            failed.increment()
            dropped.increment(by: batch.count)
            logger.warning("spans not exported", metadata: ["endpoint": "\(destination.endpoint)", "spans": "\(batch.count)",
                                                            "error": "\(error)"])
        }
    }

    struct ExportError: Error, CustomStringConvertible { var description: String }
}
