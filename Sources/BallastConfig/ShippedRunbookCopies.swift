import Foundation

/// The default alerts' runbooks, compiled into the binary (ShippedRunbooks.swift is generated
/// from docs/runbooks/ by scripts/gen-runbooks). A rule names one as `builtin:FILE`; `ballast up`
/// writes editable copies into its data directory.
package enum ShippedRunbooks {
    package static let scheme = "builtin:"

    /// `builtin:upstream-unhealthy.md` for `upstream-unhealthy.md`.
    package static func reference(_ file: String) -> String { scheme + file }

    /// The text of a shipped runbook, by reference (`builtin:FILE`); nil for anything else.
    package static func text(_ reference: String) -> String? {
        guard reference.hasPrefix(scheme) else { return nil }
        return files[String(reference.dropFirst(scheme.count))].map { $0 + "\n" }
    }

    /// Writes each shipped runbook into `directory` unless a file of that name is there (a copy
    /// the user edited stays theirs). A copy's `reviewed:` is the day it was written: its review
    /// clock starts when the team adopts it. Returns the names written.
    @discardableResult
    package static func writeCopies(into directory: String, today: Date = Date()) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let day = ISO8601DateFormatter.string(from: today, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        var written: [String] = []
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = "\(directory)/\(name)"
            guard !FileManager.default.fileExists(atPath: path) else { continue }
            let stamped = text.replacingOccurrences(of: #"(?m)^reviewed: .*$"#, with: "reviewed: \(day)", options: .regularExpression)
            try (stamped + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            written.append(name)
        }
        return written
    }
}
