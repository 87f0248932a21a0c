import ArgumentParser
import Foundation

/// A database URL, which may carry a password, from the flag, a file or the environment, in that
/// order. A password on the command line is visible to every user in `ps` and
/// `/proc/PID/cmdline`, so it is accepted with a warning; the file (mode 0600, one line) and the
/// environment variable (e.g. from a systemd `EnvironmentFile`) keep it out of argv.
enum SecretURL {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// `flag` (`--database`), `file` (`--database-file`), then `$variable`. Nil when none is given.
    static func resolve(flag: String?, flagName: String, file: String?, variable: String,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let flag {
            if hasPassword(flag) {
                printError("warning: \(flagName) carries a password, which every user of this machine can read in ps; use \(flagName)-file or $\(variable)")
            }
            return flag
        }
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw Missing(description: "\(flagName)-file \(file) cannot be read")
            }
            if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int,
               mode & 0o077 != 0, hasPassword(text) {
                printError("warning: \(file) holds a password and may be read by others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it")
            }
            let url = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !url.isEmpty, !url.contains("\n") else { throw Missing(description: "\(flagName)-file \(file) must hold one URL on one line") }
            return url
        }
        if let value = environment[variable], !value.isEmpty { return value }
        return nil
    }

    /// Whether `url` has `user:password@`.
    static func hasPassword(_ url: String) -> Bool {
        guard let scheme = url.range(of: "://") else { return false }
        let rest = url[scheme.upperBound...]
        guard let at = rest.firstIndex(of: "@") else { return false }
        let credentials = rest[..<at]
        return credentials.contains(":") && !credentials.contains("/")
    }
}
