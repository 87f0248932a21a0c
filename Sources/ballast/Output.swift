import ArgumentParser
import BallastConfig
import BallastAPI
import BallastControl
import Foundation
import Logging
import Synchronization

/// Writes a line to standard error (findings and failures go there; results go to stdout).
/// Under `--log-format json|logfmt` it is an error record of the command's log instead, so
/// that everything on stderr is a record a log shipper can read.
func printError(_ message: String) {
    if let logger = MachineLog.logger.withLock({ $0 }) {
        logger.error("\(message)")
    } else {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

/// The command's logger once `--log-format` asked for records; nil for text.
enum MachineLog {
    static let logger = Mutex<Logger?>(nil)
}

/// Loads a config file, or prints every finding and exits 2 (bad input).
func loadConfigOrExit(_ path: String, printWarnings: Bool = false) throws -> ConfigLoader.Loaded {
    switch ConfigLoader.load(file: path) {
    case .success(let loaded):
        if printWarnings {
            for warning in loaded.warnings {
                if let logger = MachineLog.logger.withLock({ $0 }) {
                    var metadata: Logger.Metadata = ["rule": "\(warning.ruleID)"]
                    if let location = warning.location { metadata["location"] = "\(location)" }
                    if let fix = warning.fix { metadata["fix"] = "\(fix)" }
                    logger.warning("\(warning.message)", metadata: metadata)
                } else {
                    printError(warning.description)
                }
            }
        }
        return loaded
    case .failure(let error):
        for finding in error.findings { printError(finding.description) }
        throw ExitCode(2)
    }
}

/// Writes a status line to standard output at once (unbuffered), so that what `up`, `lb` and
/// `auth` report reaches a pipe or log file while they keep running.
func say(_ message: String, terminator: String = "\n") {
    FileHandle.standardOutput.write(Data((message + terminator).utf8))
}

/// `--format` of the commands that report: text for people, json for scripts (the admin API's
/// own types, written as the admin API writes them).
enum OutputFormat: String, ExpressibleByArgument {
    case text, json
}

/// Writes `value` to stdout as the admin API would (`compact`: one line).
func printJSON(_ value: some Encodable, compact: Bool = false) throws {
    say(String(decoding: try AdminJSON.encoder(compact: compact).encode(value), as: UTF8.self))
}
