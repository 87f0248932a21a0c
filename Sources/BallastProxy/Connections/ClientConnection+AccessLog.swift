import BallastConfig
import Foundation
import Logging
import NIOCore

/// One access log line per request, formatted on the loop and written off it (`AccessLogSink`).
extension ClientConnection {
    func writeAccessLog(_ writer: AccessLogWriter, _ exchange: Exchange, code: Int, elapsed: Int64) {
        let record = AccessRecord(
            time: Date(), listener: listenerName, route: exchange.route.config.name, upstream: exchange.route.upstream.name,
            server: exchange.answeredBy?.key, method: exchange.head.method, path: exchange.head.path, status: code,
            bytesIn: exchange.head.bytes.readableBytes + exchange.bodyBytesIn, bytesOut: exchange.bytesOut,
            durationMs: Double(elapsed) / 1e6, requestID: requestIDText(exchange), traceID: exchange.trace?.traceID, client: peerIP,
            retries: exchange.state.retries, tunnel: exchange.state.upgrade)
        write(record, to: writer)
    }

    /// A request answered before it had a route (a malformed head, a limit): what is known of it.
    func writeAccessLog(_ writer: AccessLogWriter, refused status: Int, bytesOut: Int) {
        let record = AccessRecord(time: Date(), listener: listenerName, route: "-", upstream: "-", server: nil, method: "-", path: "-",
                                  status: status, bytesIn: 0, bytesOut: bytesOut, durationMs: 0, requestID: "-", traceID: nil,
                                  client: peerIP, retries: 0, tunnel: false)
        write(record, to: writer)
    }

    private func write(_ record: AccessRecord, to writer: AccessLogWriter) {
        guard let sink = writer.sink else {
            // `access_log: true`: the process log, as before (swift-log's metadata, stderr).
            logger.info("request", metadata: [
                "client": .string(record.client), "method": .string(record.method), "path": .string(record.path),
                "route": .string(record.route), "upstream": .string(record.upstream), "server": .string(record.server ?? "-"),
                "status": .stringConvertible(record.status), "bytes_in": .stringConvertible(record.bytesIn),
                "bytes_out": .stringConvertible(record.bytesOut), "duration_ms": .stringConvertible(record.durationMs),
                "request_id": .string(record.requestID), "retries": .stringConvertible(record.retries),
            ])
            return
        }
        sink.append(writer.format == .json ? record.json : record.text, dropped: writer.dropped)
    }

    /// A 5xx answer, kept for the incident view (only failures pay for it).
    func rememberFailure(_ exchange: Exchange, code: Int, elapsed: Int64) {
        loop.failedRequests.append(FailedRequest(
            at: Date(), listener: listenerName, route: exchange.route.config.name, upstream: exchange.route.upstream.name,
            server: exchange.answeredBy?.key, method: exchange.head.method, path: String(exchange.head.path.prefix(256)), status: code,
            requestID: requestIDText(exchange), traceID: exchange.trace?.traceID, retries: exchange.state.retries,
            durationMs: Double(elapsed) / 1e6))
    }

    /// The hop as a span of its trace (sampled traces, tracing on): handed to the exporter.
    func recordSpan(_ tracing: HopTracing, _ exchange: Exchange, _ trace: TraceContext, code: Int, elapsed: Int64) {
        let end = HopTracing.unixNanos()
        let span = HopSpan(
            traceHigh: trace.traceHigh, traceLow: trace.traceLow, spanID: trace.span != 0 ? trace.span : loop.rng.next() | 1,
            parentSpanID: trace.parent, startUnixNanos: end &- UInt64(max(0, elapsed)), endUnixNanos: end,
            method: exchange.head.method, path: String(exchange.head.path.prefix(256)), status: code, listener: listenerName,
            route: exchange.route.config.name, upstream: exchange.route.upstream.name, server: exchange.answeredBy?.key,
            retries: exchange.state.retries, requestID: requestIDText(exchange), client: peerIP)
        tracing.sink.record(span, target: tracing.target)
    }

    private func requestIDText(_ exchange: Exchange) -> String {
        if let text = exchange.requestIDText { return text }
        let (a, b) = exchange.requestID
        guard a != 0 || b != 0 else { return "-" }
        return HexWord.text(a) + HexWord.text(b)
    }
}
