import BallastAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// One log line per request, with the trace and request ids the balancer sent: the line an
/// operator finds by the trace id in the balancer's access log. Every line logged while the
/// request is handled carries the same `trace_id` and `request_id`.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AuthRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let traceID = request.headers[.traceparent].flatMap(Self.traceID)
        if let traceID { context.logger[metadataKey: "trace_id"] = .string(traceID) }
        if let requestID = request.headers[.xRequestID].flatMap(Self.requestID) {
            context.logger[metadataKey: "request_id"] = .string(requestID)
        }
        let start = ContinuousClock.now
        let status: Int
        do {
            let response = try await next(request, context)
            status = response.status.code
            log(request, status: status, since: start, context.logger)
            return response
        } catch let error as any HTTPResponseError {
            log(request, status: error.status.code, since: start, context.logger)
            throw error
        } catch {
            log(request, status: 500, since: start, context.logger)
            throw error
        }
    }

    private func log(_ request: Request, status: Int, since start: ContinuousClock.Instant, _ logger: Logger) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "path": .string(String(request.uri.path.prefix(256))),
            "status": .stringConvertible(status),
            "duration_ms": .string(String(format: "%.3f", milliseconds)),
        ])
    }

    /// The trace id of a valid W3C `traceparent`; nil for anything else, which is then not
    /// logged as one.
    static func traceID(_ value: String) -> String? { Traceparent(value)?.traceID }

    /// A request id as the balancer writes one (hex, at most 64 characters); nil for anything else.
    static func requestID(_ value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= 64, value.utf8.allSatisfy({ isLowerHex($0) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains($0) || $0 == UInt8(ascii: "-") })
        else { return nil }
        return value
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}

extension HTTPField.Name {
    static let traceparent = Self("traceparent")!
    static let xRequestID = Self("X-Request-Id")!
}
