import BallastControl
import Foundation
import Logging
import Synchronization
import Testing

/// `--log-format json|logfmt`: one record per line whatever the message or metadata hold.
@Suite struct LineLogHandlerTests {
    let time = Date(timeIntervalSince1970: 1_800_000_000.25)
    let hostile = "two\nlines \"quoted\" a=b \\ back\u{1}slash é"

    func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func aJSONLineIsOneObjectWithTheFixedFieldsAndTheMetadata() throws {
        let line = LineLogHandler.line(format: .json, time: time, level: .warning, label: "ballast.proxy", message: hostile,
                                       source: "BallastProxy",
                                       metadata: ["server": "127.0.0.1:9101", "nested": ["a": ["1", "2"]], "message": "shadow", hostile: "k"])
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        let record = try object(line)
        #expect(record["time"] as? String == "2027-01-15T08:00:00.250Z")
        #expect(record["level"] as? String == "warning" && record["logger"] as? String == "ballast.proxy")
        #expect(record["message"] as? String == hostile && record["source"] as? String == "BallastProxy")
        #expect(record["server"] as? String == "127.0.0.1:9101")
        #expect((record["nested"] as? [String: [String]])?["a"] == ["1", "2"])
        #expect(record["meta.message"] as? String == "shadow")  // never overwrites the record's own message
        #expect(record[hostile] as? String == "k")
    }

    @Test func aLogfmtLineQuotesWhatNeedsQuotingAndIsReadBack() throws {
        let line = LineLogHandler.line(format: .logfmt, time: time, level: .info, label: "ballast", message: hostile, source: "ballast",
                                       metadata: ["plain": "value", "empty": "", "spaced key": "x", "list": .array(["a b"])])
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        #expect(line.hasPrefix("time=2027-01-15T08:00:00.250Z level=info logger=ballast msg=\""))
        #expect(line.contains(" plain=value ") && line.contains(#" empty="""#) && line.contains(" spaced_key=x"))
        #expect(line.contains(#"list="[\"a b\"]""#))
        // The message comes back whole: no field can be forged from inside a value.
        let fields = try #require(LogfmtFields.parse(String(line.dropLast())))
        #expect(fields["msg"] == hostile)
        #expect(fields["a"] == nil)
        #expect(fields.count == 9)
    }

    @Test func theHandlerMergesItsProviderAndRecordMetadataAndHonoursTheLevel() throws {
        let written = Mutex<[String]>([])
        var handler = LineLogHandler(label: "ballast.auth", format: .json,
                                     metadataProvider: .init { ["trace_id": "abc", "request_id": "from-provider"] },
                                     write: { line in written.withLock { $0.append(line) } })
        handler.logLevel = .info
        handler[metadataKey: "replica"] = "1"
        let logger = Logger(label: "ballast.auth") { _ in handler }
        logger.debug("hidden")
        logger.info("request", metadata: ["request_id": "from-record"])
        let lines = written.withLock { $0 }
        #expect(lines.count == 1)
        let record = try object(try #require(lines.first))
        #expect(record["message"] as? String == "request")
        #expect(record["trace_id"] as? String == "abc" && record["replica"] as? String == "1")
        #expect(record["request_id"] as? String == "from-record")
    }
}

/// A strict logfmt reader for the test (the integration tests have their own for real processes).
enum LogfmtFields {
    static func parse(_ line: String) -> [String: String]? {
        var fields: [String: String] = [:]
        var rest = Substring(line)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), !rest[..<equals].contains(" "), !rest[..<equals].isEmpty else { return nil }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            if rest.first == "\"" {
                // A JSON string literal: decode it with JSONSerialization.
                var end = rest.index(after: rest.startIndex)
                var escaped = false
                while end < rest.endIndex, escaped || rest[end] != "\"" {
                    escaped = !escaped && rest[end] == "\\"
                    end = rest.index(after: end)
                }
                guard end < rest.endIndex else { return nil }
                let literal = rest[rest.startIndex...end]
                guard let value = try? JSONSerialization.jsonObject(with: Data(literal.utf8), options: .fragmentsAllowed) as? String else { return nil }
                fields[key] = value
                rest = rest[rest.index(after: end)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                fields[key] = String(rest[..<end])
                rest = rest[end...]
            }
            if rest.first == " " { rest = rest.dropFirst() } else if !rest.isEmpty { return nil }
        }
        return fields
    }
}
