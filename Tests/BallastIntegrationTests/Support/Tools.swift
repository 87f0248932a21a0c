import Foundation

/// The path of an installed program (Debian's promtool, chromium), or nil.
func installedTool(_ name: String) -> String? {
    if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

struct ToolError: Error, CustomStringConvertible {
    var description: String
}

/// Runs `tool` with `arguments` (and `input` on stdin); returns its exit status and its
/// stdout and stderr together. Fails when the tool is not installed: these tests need it.
func runTool(_ tool: String, _ arguments: [String], input: Data? = nil, package: String) throws -> (status: Int32, output: String) {
    guard let path = installedTool(tool) else {
        throw ToolError(description: "\(tool) is not installed; `apt-get install \(package)` (.ci/run does)")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(input) }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A python3 that can import `module`: the first on PATH, or Debian's `/usr/bin/python3` (where
/// `apt-get install PACKAGE` puts it).
func python(with module: String, package: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let candidates = path.split(separator: ":").map { "\($0)/python3" } + ["/usr/bin/python3"]
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: candidate)
        probe.arguments = ["-c", "import \(module)"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        if probe.terminationStatus == 0 { return candidate }
    }
    throw ToolError(description: "no python3 with \(module): `apt-get install \(package)` (.ci/run and scripts/test do)")
}
