import BallastProxy
import Foundation
import Logging

/// How a serving command writes its log lines: `text` for people (swift-log's stream format),
/// `json` (one object per line) or `logfmt` (`key=value` pairs) for log shippers.
package enum LogFormat: String, CaseIterable, Sendable {
    case text, json, logfmt
}

/// A swift-log handler that writes one machine-readable line per record to a sink (stderr in
/// the commands): `time`, `level`, `logger`, `message` (`msg` in logfmt), `source`, then the
/// record's metadata, the handler's and the provider's (a request's trace id), record first.
package struct LineLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    package init(label: String, format: LogFormat, metadataProvider: Logger.MetadataProvider? = nil,
                 write: @escaping @Sendable (String) -> Void = LineLogHandler.standardError) {
        self.label = label
        self.format = format
        self.metadataProvider = metadataProvider
        self.write = write
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        write(Self.line(format: format, time: Date(), level: event.level, label: label, message: "\(event.message)",
                        source: event.source, metadata: merged))
    }

    /// One line, newline included. Metadata keys come sorted, so equal records give equal lines;
    /// a key that would shadow one of the fixed fields gets a `meta.` prefix.
    package static func line(format: LogFormat, time: Date, level: Logger.Level, label: String, message: String,
                             source: String, metadata: Logger.Metadata) -> String {
        let fixed: [(String, String)] = [("time", timestamp(time)), ("level", level.rawValue), ("logger", label),
                                         (format == .logfmt ? "msg" : "message", message), ("source", source)]
        let reserved = Set(fixed.map(\.0))
        let extra = metadata.sorted { $0.key < $1.key }.map { (reserved.contains($0.key) ? "meta." + $0.key : $0.key, $0.value) }
        switch format {
        case .json:
            var fields = fixed.map { "\"\($0.0)\":\"\(jsonEscaped($0.1))\"" }
            fields += extra.map { "\"\(jsonEscaped($0.0))\":\(json($0.1))" }
            return "{" + fields.joined(separator: ",") + "}\n"
        case .logfmt, .text:
            var fields = fixed.map { "\($0.0)=\(logfmtValue($0.1))" }
            fields += extra.map { "\(logfmtKey($0.0))=\(logfmtValue(flat($0.1)))" }
            return fields.joined(separator: " ") + "\n"
        }
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): "\"\(jsonEscaped(text))\""
        case .stringConvertible(let convertible): "\"\(jsonEscaped(convertible.description))\""
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{" + entries.sorted { $0.key < $1.key }.map { "\"\(jsonEscaped($0.key))\":\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }

    private static func flat(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array, .dictionary: json(value)
        }
    }

    /// logfmt has no quoting for keys: anything but a printable, non-space, non-`=`, non-quote
    /// character becomes `_`.
    private static func logfmtKey(_ key: String) -> String {
        let cleaned = String(key.unicodeScalars.map { scalar -> Character in
            scalar.value > 0x20 && scalar.value < 0x7F && scalar != "=" && scalar != "\"" ? Character(scalar) : "_"
        })
        return cleaned.isEmpty ? "_" : cleaned
    }

    /// Bare when it can be, else quoted with `"` and `\` escaped and control characters as `\n`,
    /// `\u0001`…: a value can never end the line or start a field of its own.
    private static func logfmtValue(_ value: String) -> String {
        let bare = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && $0 != "=" && $0 != "\"" }
        return bare ? value : "\"" + jsonEscaped(value) + "\""
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon)
            .timeZone(separator: .omitted))
    }

    /// Each line in one `write(2)`, so lines from several threads never interleave.
    package static let standardError: @Sendable (String) -> Void = { line in
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { if written < 0 && errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
