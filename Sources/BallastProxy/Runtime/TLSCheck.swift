import BallastConfig
import Foundation
import NIOCore
import NIOSSL

/// Reads the TLS files a config names and checks them as the balancer will use them.
package enum TLSCheck {
    package static let warningWindow: TimeInterval = 14 * 86_400

    /// Findings for every listener with `tls:` (BL036-BL039).
    package static func check(_ config: Config, now: Date = Date()) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            let at = config.location(of: "listeners[\(l)].tls")
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMFile(tls.certificatePath)
                guard !chain.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
            } catch {
                findings.append(Finding(rule: .tlsFileUnusable, message: "listener '\(listener.name)': certificate \(config.describePath(tls.certificate)) \(reason(tls.certificatePath))", at: at))
                continue
            }
            do {
                key = try NIOSSLPrivateKey(file: tls.keyPath, format: .pem)
            } catch {
                findings.append(Finding(rule: .tlsFileUnusable, message: "listener '\(listener.name)': key \(config.describePath(tls.key)) \(reason(tls.keyPath))", at: at))
                continue
            }
            do {
                _ = try context(chain: chain, key: key)
            } catch {
                findings.append(Finding(rule: .tlsKeyMismatch, message: "listener '\(listener.name)': key \(config.describePath(tls.key)) does not match certificate \(config.describePath(tls.certificate))", at: at))
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

    /// TLS 1.2 with forward-secret AEAD suites only, as Mozilla's "intermediate" profile: no
    /// static RSA key exchange, no CBC (Lucky13, POODLE-style padding oracles), no 3DES or RC4.
    /// TLS 1.3 suites are all AEAD and stay as BoringSSL offers them.
    static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The wait for the client's close_notify after ours (see `context`).
    static let shutdownTimeout = TimeAmount.milliseconds(250)

    /// The server context for a listener; fails when the key does not match the certificate.
    /// TLS 1.0 and 1.1 are refused (RFC 8996).
    /// `protocols` are the listener's: with `h2`, ALPN offers h2 before HTTP/1.1.
    static func context(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, protocols: [String] = ["http1"]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = tls12CipherSuites
        // How long a closing connection waits for the client's close_notify. NIOSSLHandler keeps
        // the whole connection (its buffers, the pipeline) alive until this timer fires when the
        // client drops TCP without one, which most clients do: at the default 5 s, 3,000
        // handshakes a second held 600 MiB of dead connections. HAProxy and nginx do not wait
        // at all; the response is already written when the connection closes.
        configuration.shutdownTimeout = shutdownTimeout
        configuration.applicationProtocols = protocols.compactMap { $0 == "h2" ? "h2" : $0 == "http1" ? "http/1.1" : nil }
        return try NIOSSLContext(configuration: configuration)
    }

    /// A listener's certificate as loaded from its files, read anew on every call (a renewal
    /// written over the same paths is picked up on the next reload).
    struct Loaded {
        var context: NIOSSLContext
        /// The leaf certificate's DER bytes: equal when the files did not change.
        var fingerprint: [UInt8]
        var subject: String
        var notAfter: Date
    }

    static func load(_ files: TLSFiles, protocols: [String] = ["http1"]) throws -> Loaded {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        guard let leaf = chain.first else { throw NIOSSLError.failedToLoadCertificate }
        let key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        return Loaded(context: try context(chain: chain, key: key, protocols: protocols), fingerprint: try leaf.toDERBytes(),
                      subject: subjectName(leaf), notAfter: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)))
    }

    /// `CN=NAME` of the certificate's subject, else its first DNS name, else its serial number.
    static func subjectName(_ certificate: NIOSSLCertificate) -> String {
        let text = certificate.description
        if let range = text.range(of: ";common_name=") {
            let rest = text[range.upperBound...]
            return "CN=" + rest.prefix { $0 != ";" && $0 != ">" }
        }
        if let name = certificate._subjectAlternativeNames().first(where: { $0.nameType == .dnsName }) {
            return String(decoding: name.contents, as: UTF8.self)
        }
        return "serial " + (certificate.serialNumber.map { String($0, radix: 16) }.joined())
    }
}
