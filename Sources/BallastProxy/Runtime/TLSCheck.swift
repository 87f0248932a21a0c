import BallastConfig
import Foundation
import NIOCore
import NIOSSL

/// Reads the TLS files a config names and checks them as the balancer will use them: every
/// listener certificate and client CA, every upstream CA and client certificate.
package enum TLSCheck {
    package static let warningWindow: TimeInterval = 14 * 86_400

    /// Findings for every `tls:` of the config (BL036-BL039, BL067, BL068).
    package static func check(_ config: Config, now: Date = Date()) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            let at = config.location(of: "listeners[\(l)].tls")
            let owner = "listener '\(listener.name)'"
            var loaded: [LeafFacts] = []
            for files in tls.certificates {
                guard let file = certificate(files, owner: owner, config: config, at: at, into: &findings) else { continue }
                do {
                    _ = try ListenerCertificates.context(file, tls: tls, clientCA: [], protocols: listener.protocols)
                } catch {
                    findings.append(Finding(rule: .tlsKeyMismatch, message: "\(owner): key \(config.describePath(files.key)) does not match certificate \(config.describePath(files.certificate))", at: at))
                    continue
                }
                validity(file.leaf, owner: owner, now: now, at: at, into: &findings)
                loaded.append(file.leaf)
            }
            if let ca = tls.clientCA, let path = tls.clientCAPath {
                authority(ca, path: path, owner: owner, key: "client_ca", config: config, at: at, into: &findings)
            }
            // A route that matches a host no certificate covers: its clients get a certificate
            // for another name and refuse it.
            if loaded.count == tls.certificates.count {
                for (r, route) in listener.routes.enumerated() {
                    guard let host = route.match.host?.lowercased(), !Address(host: host, port: 0).isIPLiteral,
                          !loaded.contains(where: { $0.covers(host) }) else { continue }
                    findings.append(Finding(rule: .certificateCoversNoHost,
                                            message: "\(owner): route '\(route.name)' matches host '\(host)', which no certificate covers (they name \(loaded.flatMap(\.dnsNames).joined(separator: ", ")))",
                                            at: config.location(of: "listeners[\(l)].routes[\(r)].match.host") ?? at))
                }
            }
        }
        for (u, upstream) in config.upstreams.enumerated() {
            guard let tls = upstream.tls else { continue }
            let at = config.location(of: "upstreams[\(u)].tls")
            let owner = "upstream '\(upstream.name)'"
            if let ca = tls.ca, let path = tls.caPath {
                authority(ca, path: path, owner: owner, key: "ca", config: config, at: at, into: &findings)
            }
            if let files = tls.client, let file = certificate(files, owner: owner, config: config, at: at, into: &findings) {
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.certificateChain = file.chain.map { .certificate($0) }
                configuration.privateKey = .privateKey(file.key)
                if (try? NIOSSLContext(configuration: configuration)) == nil {
                    findings.append(Finding(rule: .tlsKeyMismatch, message: "\(owner): key \(config.describePath(files.key)) does not match client certificate \(config.describePath(files.certificate))", at: at))
                } else {
                    validity(file.leaf, owner: "\(owner)'s client certificate", now: now, at: at, into: &findings)
                }
            }
        }
        return findings
    }

    /// The chain and key of `files`, or a finding saying which file and why.
    private static func certificate(_ files: TLSFiles, owner: String, config: Config, at: SourceLocation?,
                                    into findings: inout [Finding]) -> CertificateFile? {
        let chain: [NIOSSLCertificate]
        let leaf: LeafFacts
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
            guard let first = chain.first else { throw NIOSSLError.failedToLoadCertificate }
            leaf = try LeafFacts(first)
        } catch {
            findings.append(Finding(rule: .tlsFileUnusable, message: "\(owner): certificate \(config.describePath(files.certificate)) \(reason(files.certificatePath))", at: at))
            return nil
        }
        do {
            return CertificateFile(chain: chain, key: try NIOSSLPrivateKey(file: files.keyPath, format: .pem), leaf: leaf)
        } catch {
            findings.append(Finding(rule: .tlsFileUnusable, message: "\(owner): key \(config.describePath(files.key)) \(reason(files.keyPath))", at: at))
            return nil
        }
    }

    private static func validity(_ leaf: LeafFacts, owner: String, now: Date, at: SourceLocation?, into findings: inout [Finding]) {
        if leaf.notAfter <= now || leaf.notBefore > now {
            findings.append(Finding(rule: .tlsExpired,
                                    message: "\(owner): certificate \(leaf.subject) is valid \(leaf.notBefore.formatted(.iso8601)) to \(leaf.notAfter.formatted(.iso8601)), not now", at: at))
        } else if leaf.notAfter.timeIntervalSince(now) < warningWindow {
            let days = Int(leaf.notAfter.timeIntervalSince(now) / 86_400)
            findings.append(Finding(rule: .tlsExpiringSoon,
                                    message: "\(owner): certificate \(leaf.subject) expires in \(days) day(s) (\(leaf.notAfter.formatted(.iso8601)))", at: at))
        }
    }

    /// A CA file: readable PEM whose certificates may sign others (basicConstraints CA:TRUE).
    private static func authority(_ written: String, path: String, owner: String, key: String, config: Config,
                                  at: SourceLocation?, into findings: inout [Finding]) {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
        } catch {
            findings.append(Finding(rule: .tlsFileUnusable, message: "\(owner): \(key) \(config.describePath(written)) \(reason(path))", at: at,
                                    fix: "point `\(key)` at a readable PEM file of CA certificates"))
            return
        }
        let facts = certificates.compactMap { try? LeafFacts($0) }
        if !facts.contains(where: \.isCA) {
            findings.append(Finding(rule: .caFileNotCA,
                                    message: "\(owner): \(key) \(config.describePath(written)) holds \(facts.map(\.subject).joined(separator: ", ")), not a CA certificate: no peer certificate can be verified against it",
                                    at: at))
        }
    }

    private static func reason(_ path: String) -> String {
        FileManager.default.fileExists(atPath: path)
            ? (FileManager.default.isReadableFile(atPath: path) ? "is not valid PEM" : "cannot be read") : "does not exist"
    }
}
