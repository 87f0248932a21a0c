import BallastAPI
import Foundation
import Synchronization
import Tracing

/// The auth service's tracer (swift-distributed-tracing): spans of its requests, logins and
/// store calls, in the trace the balancer's `traceparent` names, sent by an `OTLPExporter`.
/// A trace the balancer marked unsampled records nothing; a request without a trace starts a
/// sampled one; work outside any request (housekeeping) records nothing.
package struct OTLPTracer: Tracer {
    package typealias Span = OTLPTracerSpan
    let exporter: OTLPExporter
    let endpoint: String
    let serviceName: String

    package init(exporter: OTLPExporter, endpoint: String, serviceName: String) {
        self.exporter = exporter
        self.endpoint = endpoint
        self.serviceName = serviceName
    }

    package func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> OTLPTracerSpan {
        var context = context()
        let parent = context.w3cSpan
        // Only a request (a server span) starts a recorded trace: the replica's housekeeping
        // (a session count every second, pruning) would otherwise send a root span each time.
        let own = W3CSpan(traceID: parent?.traceID ?? Self.randomHex(16), spanID: Self.randomHex(8),
                          sampled: parent?.sampled ?? (kind == .server))
        context.w3cSpan = own
        return OTLPTracerSpan(tracer: self, context: context, name: operationName, kind: kind, parentSpanID: parent?.spanID,
                              start: instant().nanosecondsSinceEpoch)
    }

    package func startAnySpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> any Tracing.Span {
        startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    package func forceFlush() {}

    package func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.w3cSpan else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-\(span.sampled ? "01" : "00")", forKey: "traceparent", into: &carrier)
    }

    package func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier), let span = W3CSpan(traceparent: value) else { return }
        context.w3cSpan = span
    }

    static func randomHex(_ bytes: Int) -> String {
        var text = ""
        repeat {
            text = (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        } while text.allSatisfy { $0 == "0" }
        return text
    }
}

/// A span's place in its W3C trace.
struct W3CSpan: Sendable, Equatable {
    var traceID: String
    var spanID: String
    var sampled: Bool

    init(traceID: String, spanID: String, sampled: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// The caller's span, from its `traceparent`; nil for anything invalid.
    init?(traceparent: String) {
        guard let parsed = Traceparent(traceparent) else { return nil }
        self.init(traceID: parsed.traceID, spanID: parsed.parentID, sampled: parsed.sampled)
    }
}

private enum W3CSpanKey: InstrumentationContextKey {
    typealias Value = W3CSpan
}

extension InstrumentationContext {
    var w3cSpan: W3CSpan? {
        get { self[W3CSpanKey.self] }
        set { self[W3CSpanKey.self] = newValue }
    }
}

/// One span of the auth service; sent to the exporter when it ends (sampled traces only).
package final class OTLPTracerSpan: Tracing.Span, Sendable {
    package let context: InstrumentationContext
    private let tracer: OTLPTracer
    private let kind: SpanKind
    private let parentSpanID: String?
    private let start: UInt64
    private struct State {
        var name: String
        var attributes = SpanAttributes()
        var error: String?
        var ended = false
    }
    private let state: Mutex<State>

    init(tracer: OTLPTracer, context: InstrumentationContext, name: String, kind: SpanKind, parentSpanID: String?, start: UInt64) {
        self.tracer = tracer
        self.context = context
        self.kind = kind
        self.parentSpanID = parentSpanID
        self.start = start
        state = Mutex(State(name: name))
    }

    package var isRecording: Bool { context.w3cSpan?.sampled ?? false }

    package var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    package var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    package func setStatus(_ status: SpanStatus) {
        state.withLock { $0.error = status.code == .error ? (status.message ?? "error") : nil }
    }

    package func addEvent(_ event: SpanEvent) {}
    package func addLink(_ link: SpanLink) {}

    package func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        state.withLock { $0.error = "\(type(of: error))" }
    }

    package func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let end = instant().nanosecondsSinceEpoch
        let finished: State? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }
        guard let finished, let own = context.w3cSpan, own.sampled else { return }
        var attributes: [(key: String, value: OTLPSpan.Value)] = []
        finished.attributes.forEach { key, value in
            switch value {
            case .string(let text): attributes.append((key, .string(text)))
            case .int64(let number): attributes.append((key, .int(number)))
            case .int32(let number): attributes.append((key, .int(Int64(number))))
            case .double(let number): attributes.append((key, .double(number)))
            case .bool(let flag): attributes.append((key, .bool(flag)))
            default: attributes.append((key, .string("\(value)")))
            }
        }
        attributes.sort { $0.key < $1.key }
        let otlpKind: OTLPSpan.Kind = kind == .server ? .server : (kind == .client ? .client : .internal)
        let span = OTLPSpan(traceID: own.traceID, spanID: own.spanID, parentSpanID: parentSpanID, name: finished.name, kind: otlpKind,
                            startUnixNanos: start, endUnixNanos: max(start, end), attributes: attributes, error: finished.error)
        tracer.exporter.enqueue(span, endpoint: tracer.endpoint, serviceName: tracer.serviceName)
    }
}
