import Foundation

/// Times as the admin API writes and reads them: ISO 8601 in UTC with milliseconds
/// (`2026-11-26T09:35:09.524Z`), since whole seconds cannot order a fault and what noticed it.
/// Reading also takes whole seconds.
package enum ISOTime {
    static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    package static func format(_ date: Date) -> String { date.formatted(fractional) }

    package static func parse(_ text: String) -> Date? {
        (try? Date(text, strategy: fractional)) ?? (try? Date(text, strategy: .iso8601))
    }

    package static let encoding = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(format(date))
    }

    package static let decoding = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 time: \(text)")
        }
        return date
    }
}
