import Foundation

/// Relative paths in a config (runbooks, TLS files) are relative to the directory of the config
/// file, as Prometheus resolves `rule_files`, so every command reads the same files from any
/// working directory. A config that came from no file (the admin API, shared state) is given the
/// directory of the config the balancer was started with.
extension Config {
    /// `written` as an absolute path: unchanged when absolute, else under `baseDirectory`.
    package func resolvePath(_ written: String) -> String {
        Self.resolve(written, against: baseDirectory)
    }

    static func resolve(_ written: String, against base: String) -> String {
        if written.hasPrefix("/") { return written }
        var relative = Substring(written)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        return (base.hasSuffix("/") ? base : base + "/") + relative
    }

    /// `'certs/a.pem' (/etc/ballast/certs/a.pem)` for a relative path, `'/abs/a.pem'` for an absolute one:
    /// a finding names the path as the user wrote it and as it was resolved.
    package func describePath(_ written: String) -> String {
        Self.describe(written, against: baseDirectory)
    }

    static func describe(_ written: String, against base: String) -> String {
        let resolved = URL(fileURLWithPath: resolve(written, against: base)).standardizedFileURL.path
        return resolved == written ? "'\(written)'" : "'\(written)' (\(resolved))"
    }

    /// Fills in the resolved paths of everything the config names on disk.
    mutating func resolvePaths() {
        let base = baseDirectory
        for index in listeners.indices {
            guard var tls = listeners[index].tls else { continue }
            tls.certificatePath = Self.resolve(tls.certificate, against: base)
            tls.keyPath = Self.resolve(tls.key, against: base)
            listeners[index].tls = tls
        }
    }

    /// The absolute directory of a config file's path.
    package static func directory(ofFile path: String) -> String {
        let absolute = resolve(path, against: FileManager.default.currentDirectoryPath)
        return URL(fileURLWithPath: absolute).standardizedFileURL.deletingLastPathComponent().path
    }
}
