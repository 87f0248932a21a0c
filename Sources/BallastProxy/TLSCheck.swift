import BallastConfig
import Foundation
import NIOSSL

/// Reads the TLS files a config names and checks them as the balancer will use them.
public enum TLSCheck {
    public static let warningWindow: TimeInterval = 14 * 86_400

    /// Findings for every listener with `tls:` (BL036-BL039).
    public static func check(_ config: Config, now: Date = Date()) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            let at = config.location(of: "listeners[\(l)].tls")
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMFile(tls.certificate)
                guard !chain.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
            } catch {
                findings.append(Finding(rule: .tlsFileUnusable, message: "listener '\(listener.name)': certificate '\(tls.certificate)' \(reason(tls.certificate))", at: at))
                continue
            }
            do {
                key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
            } catch {
                findings.append(Finding(rule: .tlsFileUnusable, message: "listener '\(listener.name)': key '\(tls.key)' \(reason(tls.key))", at: at))
                continue
            }
            do {
                _ = try context(chain: chain, key: key)
            } catch {
                findings.append(Finding(rule: .tlsKeyMismatch, message: "listener '\(listener.name)': key '\(tls.key)' does not match certificate '\(tls.certificate)'", at: at))
            }
            let leaf = chain[0]
            let notAfter = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
            let notBefore = Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))
            if notAfter <= now || notBefore > now {
                findings.append(Finding(rule: .tlsExpired,
                                        message: "listener '\(listener.name)': certificate is valid \(notBefore.formatted(.iso8601)) to \(notAfter.formatted(.iso8601)), not now", at: at))
            } else if notAfter.timeIntervalSince(now) < warningWindow {
                let days = Int(notAfter.timeIntervalSince(now) / 86_400)
                findings.append(Finding(rule: .tlsExpiringSoon,
                                        message: "listener '\(listener.name)': certificate expires in \(days) day(s) (\(notAfter.formatted(.iso8601)))", at: at))
            }
        }
        return findings
    }

    private static func reason(_ path: String) -> String {
        FileManager.default.fileExists(atPath: path)
            ? (FileManager.default.isReadableFile(atPath: path) ? "is not valid PEM" : "cannot be read") : "does not exist"
    }

    /// The server context for a listener; fails when the key does not match the certificate.
    static func context(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        return try NIOSSLContext(configuration: configuration)
    }

    static func context(for files: TLSFiles) throws -> NIOSSLContext {
        try context(chain: NIOSSLCertificate.fromPEMFile(files.certificate), key: NIOSSLPrivateKey(file: files.key, format: .pem))
    }
}
