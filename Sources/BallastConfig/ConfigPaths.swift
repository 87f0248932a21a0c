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
        func resolved(_ files: TLSFiles) -> TLSFiles {
            var files = files
            files.certificatePath = Self.resolve(files.certificate, against: base)
            files.keyPath = Self.resolve(files.key, against: base)
            return files
        }
        for index in listeners.indices {
            if var log = listeners[index].accessLog, let path = log.path {
                log.resolvedPath = Self.resolve(path, against: base)
                listeners[index].accessLog = log
            }
            guard var tls = listeners[index].tls else { continue }
            tls.certificates = tls.certificates.map(resolved)
            tls.clientCAPath = tls.clientCA.map { Self.resolve($0, against: base) }
            listeners[index].tls = tls
        }
        for index in upstreams.indices {
            guard var tls = upstreams[index].tls else { continue }
            tls.client = tls.client.map(resolved)
            tls.caPath = tls.ca.map { Self.resolve($0, against: base) }
            upstreams[index].tls = tls
        }
    }

    /// The absolute directory of a config file's path.
    package static func directory(ofFile path: String) -> String {
        let absolute = resolve(path, against: FileManager.default.currentDirectoryPath)
        return URL(fileURLWithPath: absolute).standardizedFileURL.deletingLastPathComponent().path
    }
}
