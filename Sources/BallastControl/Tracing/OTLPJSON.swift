import BallastConfig
import BallastProxy
import Foundation

/// A finished span as OTLP carries it, whoever made it (the balancer's hop, the auth service's
/// operations).
package struct OTLPSpan: Sendable, Equatable {
    package enum Kind: Int, Sendable { case `internal` = 1, server = 2, client = 3 }

    package enum Value: Sendable, Equatable {
        case string(String), int(Int64), double(Double), bool(Bool)
    }

    /// 32 and 16 lower-case hex digits; `parentSpanID` nil for a root span.
    package var traceID: String
    package var spanID: String
    package var parentSpanID: String?
    package var name: String
    package var kind: Kind
    package var startUnixNanos: UInt64
    package var endUnixNanos: UInt64
    package var attributes: [(key: String, value: Value)]
    /// An error status and its message; nil for unset.
    package var error: String?

    package static func == (a: OTLPSpan, b: OTLPSpan) -> Bool {
        a.traceID == b.traceID && a.spanID == b.spanID && a.parentSpanID == b.parentSpanID && a.name == b.name && a.kind == b.kind
            && a.startUnixNanos == b.startUnixNanos && a.endUnixNanos == b.endUnixNanos && a.error == b.error
            && a.attributes.map(\.key) == b.attributes.map(\.key) && a.attributes.map(\.value) == b.attributes.map(\.value)
    }
}

extension OTLPSpan {
    /// The balancer's hop: a server span named as OpenTelemetry's HTTP conventions name one
    /// (`GET route`), with their attribute names and the request id; 5xx is an error.
    package init(_ hop: HopSpan) {
        traceID = HexWord.text(hop.traceHigh) + HexWord.text(hop.traceLow)
        spanID = HexWord.text(hop.spanID)
        parentSpanID = hop.parentSpanID == 0 ? nil : HexWord.text(hop.parentSpanID)
        name = "\(hop.method) \(hop.route)"
        kind = .server
        startUnixNanos = hop.startUnixNanos
        endUnixNanos = hop.endUnixNanos
        attributes = [
            ("http.request.method", .string(hop.method)), ("url.path", .string(hop.path)),
            ("http.response.status_code", .int(Int64(hop.status))), ("client.address", .string(hop.client)),
            ("ballast.listener", .string(hop.listener)), ("ballast.route", .string(hop.route)),
            ("ballast.upstream", .string(hop.upstream)), ("ballast.retries", .int(Int64(hop.retries))),
            ("ballast.request_id", .string(hop.requestID)),
        ]
        if let server = hop.server { attributes.append(("server.address", .string(server))) }
        error = hop.status >= 500 ? "answered \(hop.status)" : nil
    }
}

/// OTLP/HTTP's JSON encoding of an `ExportTraceServiceRequest` (trace and span ids as hex,
/// 64-bit integers as strings, enums as numbers), one resource per service.
package enum OTLPJSON {
    package static func encode(_ spans: [OTLPSpan], serviceName: String, scope: String = "ballast") -> Data {
        var out = #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"#
        out += quoted(serviceName) + #"}}]},"scopeSpans":[{"scope":{"name":"# + quoted(scope) + #","version":"#
        out += quoted(BuildInfo.version) + #"},"spans":["#
        out += spans.map(span).joined(separator: ",")
        out += "]}]}]}"
        return Data(out.utf8)
    }

    private static func span(_ span: OTLPSpan) -> String {
        var fields = [#""traceId":"# + quoted(span.traceID), #""spanId":"# + quoted(span.spanID)]
        if let parent = span.parentSpanID { fields.append(#""parentSpanId":"# + quoted(parent)) }
        fields += [#""name":"# + quoted(span.name), #""kind":\#(span.kind.rawValue)"#,
                   #""startTimeUnixNano":"\#(span.startUnixNanos)""#, #""endTimeUnixNano":"\#(span.endUnixNanos)""#,
                   #""attributes":["# + span.attributes.map { attribute($0.key, $0.value) }.joined(separator: ",") + "]"]
        if let error = span.error { fields.append(#""status":{"code":2,"message":"# + quoted(error) + "}") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private static func attribute(_ key: String, _ value: OTLPSpan.Value) -> String {
        let encoded: String
        switch value {
        case .string(let text): encoded = #"{"stringValue":"# + quoted(text) + "}"
        case .int(let number): encoded = #"{"intValue":"\#(number)"}"#
        case .double(let number): encoded = number.isFinite ? #"{"doubleValue":\#(number)}"# : #"{"stringValue":"\#(number)"}"#
        case .bool(let flag): encoded = #"{"boolValue":\#(flag)}"#
        }
        return #"{"key":"# + quoted(key) + #","value":"# + encoded + "}"
    }

    private static func quoted(_ text: String) -> String { "\"" + jsonEscaped(text) + "\"" }
}
