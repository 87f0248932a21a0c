import Foundation

/// Writes a line to standard error (findings and failures go there; results go to stdout).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes a status line to standard output at once (unbuffered), so that what `up`, `lb` and
/// `auth` report reaches a pipe or log file while they keep running.
func say(_ message: String) {
    FileHandle.standardOutput.write(Data((message + "\n").utf8))
}
