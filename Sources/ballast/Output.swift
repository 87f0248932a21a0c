import Foundation

/// Writes a line to standard error (findings and failures go there; results go to stdout).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
