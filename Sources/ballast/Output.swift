import ArgumentParser
import BallastConfig
import Foundation

/// Writes a line to standard error (findings and failures go there; results go to stdout).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Loads a config file, or prints every finding and exits 2 (bad input).
func loadConfigOrExit(_ path: String, printWarnings: Bool = false) throws -> ConfigLoader.Loaded {
    switch ConfigLoader.load(file: path) {
    case .success(let loaded):
        if printWarnings { for warning in loaded.warnings { printError(warning.description) } }
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
