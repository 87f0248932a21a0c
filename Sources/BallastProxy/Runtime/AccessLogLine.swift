import BallastConfig
import CoreMetrics
import Foundation

/// A listener's access log as compiled: the format, where lines go, what counts the dropped.
struct AccessLogWriter: Sendable {
    let format: AccessLog.Format
    /// Nil: text lines through the process logger (swift-log, stderr), as `access_log: true`.
    let sink: AccessLogSink?
    /// `ballast_access_log_dropped_total{listener}`.
    let dropped: Counter
}

/// One request (or tunnel) as the access log tells it.
struct AccessRecord {
    var time: Date
    var listener: String
    var route: String
    var upstream: String
    /// The server that answered (the last attempt's), nil when none did.
    var server: String?
    var method: String
    var path: String
    var status: Int
    var bytesIn: Int
    var bytesOut: Int
    var durationMs: Double
    var requestID: String
    var traceID: String?
    var client: String
    var retries: Int
    var tunnel: Bool

    /// One JSON object; the field names are the contract's (design.md, Observability).
    var json: String {
        var out = "{\"time\":\"\(Self.timestamp(time))\",\"listener\":\(Self.quoted(listener)),\"route\":\(Self.quoted(route))"
        out += ",\"upstream\":\(Self.quoted(upstream)),\"server\":\(server.map(Self.quoted) ?? "null")"
        out += ",\"method\":\(Self.quoted(method)),\"path\":\(Self.quoted(path)),\"status\":\(status)"
        out += ",\"bytes_in\":\(bytesIn),\"bytes_out\":\(bytesOut),\"duration_ms\":\(String(format: "%.3f", durationMs))"
        out += ",\"request_id\":\(Self.quoted(requestID)),\"trace_id\":\(traceID.map(Self.quoted) ?? "null")"
        out += ",\"client\":\(Self.quoted(client)),\"retries\":\(retries)"
        if tunnel { out += ",\"tunnel\":true" }
        return out + "}"
    }

    /// One line for people: the client, the request, the answer, then `key=value` pairs.
    var text: String {
        "\(Self.timestamp(time)) \(client) \"\(Self.printable(method)) \(Self.printable(path))\" \(status) in=\(bytesIn) out=\(bytesOut) "
            + String(format: "%.3fms", durationMs)
            + " listener=\(listener) route=\(route) upstream=\(upstream) server=\(server ?? "-") request_id=\(Self.printable(requestID))"
            + " trace_id=\(traceID ?? "-") retries=\(retries)" + (tunnel ? " tunnel" : "")
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int((interval - interval.rounded(.down)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }

    /// A JSON string literal: a request path is the client's, so every control character and
    /// quote is escaped and a line can never be split or forged.
    static func quoted(_ text: String) -> String { "\"" + jsonEscaped(text) + "\"" }

    /// For the text format: control characters, spaces and quotes as `\xNN`, so a path cannot
    /// add a line or a field.
    static func printable(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte < 0x21 || byte >= 0x7F || byte == 0x22 || byte == 0x5C {
                out += String(format: "\\x%02x", byte)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }
}
