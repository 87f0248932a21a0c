import BallastConfig
import Foundation
import NIOCore
import NIOSSL
import NIOTLS
import SwiftASN1
import X509

/// One certificate chain and key as read from their files, with what the checks and the
/// metrics need to know about the leaf.
struct CertificateFile: Sendable {
    var chain: [NIOSSLCertificate]
    var key: NIOSSLPrivateKey
    var leaf: LeafFacts

    /// Reads `files` anew (a renewal written over the same paths is picked up).
    static func load(_ files: TLSFiles) throws -> CertificateFile {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        guard let first = chain.first else { throw NIOSSLError.failedToLoadCertificate }
        let key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        return CertificateFile(chain: chain, key: key, leaf: try LeafFacts(first))
    }
}

/// What Ballast reads from a certificate: the names it covers, its subject, its validity, and
/// whether it may sign others.
struct LeafFacts: Sendable {
    /// DNS names from subjectAltName, lower-cased (`*.example.com` kept as written); the
    /// common name when there is no subjectAltName, as old clients read it.
    var dnsNames: [String]
    var subject: String
    /// The whole subject (RFC 4514, `CN=alice,O=Example`), without control characters: what
    /// an upstream gets in `X-Client-Cert-Subject`.
    var distinguishedName: String
    var notBefore: Date
    var notAfter: Date
    var isCA: Bool
    /// The DER bytes: equal when the file did not change.
    var der: [UInt8]

    init(_ certificate: NIOSSLCertificate) throws {
        der = try certificate.toDERBytes()
        let parsed = try Certificate(derEncoded: der)
        var names: [String] = []
        var commonName: String?
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                commonName = String(describing: attribute.value)
            }
        }
        if let alternatives = try? parsed.extensions.subjectAlternativeNames {
            for name in alternatives {
                if case .dnsName(let dns) = name { names.append(dns.lowercased()) }
            }
        }
        if names.isEmpty, let commonName, !commonName.contains(" ") { names.append(commonName.lowercased()) }
        dnsNames = names
        subject = commonName.map { "CN=" + $0 } ?? parsed.subject.description
        distinguishedName = String(parsed.subject.description.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        notBefore = parsed.notValidBefore
        notAfter = parsed.notValidAfter
        if case .isCertificateAuthority = try? parsed.extensions.basicConstraints { isCA = true } else { isCA = false }
    }

    /// RFC 6125: an exact name, or `*.example.com` for one label in front of `example.com`.
    func covers(_ host: String) -> Bool {
        let host = host.lowercased()
        for name in dnsNames {
            if name == host { return true }
            if name.hasPrefix("*."), let dot = host.firstIndex(of: "."), host[host.index(after: dot)...] == name.dropFirst(2),
               dot != host.startIndex {
                return true
            }
        }
        return false
    }
}

/// The TLS policy every listener context shares: TLS 1.2 or newer with forward-secret AEAD
/// suites only, as Mozilla's "intermediate" profile.
package enum TLSPolicy {
    /// No static RSA key exchange, no CBC (Lucky13, POODLE-style padding oracles), no 3DES or
    /// RC4. TLS 1.3 suites are all AEAD and stay as BoringSSL offers them.
    package static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The wait for the client's close_notify after ours. NIOSSLHandler keeps the whole
    /// connection (its buffers, the pipeline) alive until this timer fires when the client drops
    /// TCP without one, which most clients do: at the default 5 s, 3,000 handshakes a second
    /// held 600 MiB of dead connections. HAProxy and nginx do not wait at all; the response is
    /// already written when the connection closes.
    static let shutdownTimeout = TimeAmount.milliseconds(250)

    static func version(_ minimum: TLSMinimumVersion) -> TLSVersion {
        switch minimum {
        case .v1_0: .tlsv1
        case .v1_1: .tlsv11
        case .v1_2: .tlsv12
        case .v1_3: .tlsv13
        }
    }

    /// ALPN names for a listener's `protocols` (h2 before HTTP/1.1 when both).
    static func alpn(_ protocols: [String]) -> [String] {
        protocols.compactMap { $0 == "h2" ? "h2" : $0 == "http1" ? "http/1.1" : nil }
    }
}

/// A listener's certificates as loaded from their files, each with its server context: the
/// one a handshake gets is chosen by the name the client asks for (SNI).
struct ListenerCertificates: Sendable {
    struct Served: Sendable {
        var context: NIOSSLContext
        var leaf: LeafFacts
    }

    /// In config order; the first is the default.
    var served: [Served]
    /// The client CA's certificates, when the listener requires client certificates.
    var clientCA: [NIOSSLCertificate]
    /// Every file's bytes: equal when nothing changed on disk.
    var fingerprint: [[UInt8]]

    static func load(_ tls: ListenerTLS, protocols: [String]) throws -> ListenerCertificates {
        var clientCA: [NIOSSLCertificate] = []
        var fingerprint: [[UInt8]] = []
        if let path = tls.clientCAPath {
            clientCA = try NIOSSLCertificate.fromPEMFile(path)
            guard !clientCA.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
            fingerprint += try clientCA.map { try $0.toDERBytes() }
        }
        var served: [Served] = []
        for files in tls.certificates {
            let file = try CertificateFile.load(files)
            served.append(Served(context: try context(file, tls: tls, clientCA: clientCA, protocols: protocols), leaf: file.leaf))
            fingerprint.append(file.leaf.der)
        }
        return ListenerCertificates(served: served, clientCA: clientCA, fingerprint: fingerprint)
    }

    /// The server context of one certificate under the listener's policy; fails when the key
    /// does not match the certificate.
    static func context(_ file: CertificateFile, tls: ListenerTLS, clientCA: [NIOSSLCertificate], protocols: [String]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: file.chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(file.key))
        configuration.minimumTLSVersion = TLSPolicy.version(tls.minVersion)
        configuration.cipherSuites = TLSPolicy.tls12CipherSuites
        configuration.shutdownTimeout = TLSPolicy.shutdownTimeout
        configuration.applicationProtocols = TLSPolicy.alpn(protocols)
        if !clientCA.isEmpty {
            // A client without a certificate signed by the CA fails the handshake.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(clientCA)
            configuration.sendCANameList = true
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The certificate for `serverName` (SNI): the first that covers it, else the default.
    /// `covered` is false when a name was asked for and no certificate covers it.
    func pick(_ serverName: String?) -> (served: Served, covered: Bool) {
        guard let serverName, !serverName.isEmpty else { return (served[0], true) }
        if let match = served.first(where: { $0.leaf.covers(serverName) }) { return (match, true) }
        return (served[0], false)
    }
}

/// The client context for an upstream's `tls:`: the server's certificate verified against the
/// CA (the system's roots without one) and the name; an optional client certificate. One
/// context per upstream, shared by its servers and every event loop.
struct UpstreamTLSContext: Sendable {
    var context: NIOSSLContext
    /// `server_name`: sent by SNI and verified; without it, each server's host when it is a name.
    var serverName: String?
    var clientLeaf: LeafFacts?

    static func load(_ tls: UpstreamTLS) throws -> UpstreamTLSContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = TLSPolicy.tls12CipherSuites
        configuration.shutdownTimeout = TLSPolicy.shutdownTimeout
        configuration.applicationProtocols = ["http/1.1"]
        if let path = tls.caPath {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
        }
        configuration.certificateVerification = tls.verify ? .fullVerification : .none
        var clientLeaf: LeafFacts?
        if let files = tls.client {
            let file = try CertificateFile.load(files)
            configuration.certificateChain = file.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(file.key)
            clientLeaf = file.leaf
        }
        return UpstreamTLSContext(context: try NIOSSLContext(configuration: configuration), serverName: tls.serverName, clientLeaf: clientLeaf)
    }

    /// The name sent to and verified for a server at `host`; nil for an IP address without
    /// `server_name` (then the certificate must name the address itself).
    func name(forHost host: String) -> String? {
        serverName ?? (Address(host: host, port: 0).isIPLiteral ? nil : host)
    }

    /// The TLS handler of a new connection to a server at `host` (requests, health checks).
    func clientHandler(host: String) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: name(forHost: host))
    }

    /// Starts TLS on `channel`, a new connection to a server at `host`: the returned future
    /// completes when the handshake has, so a wrong CA or name is a failure to connect (retried
    /// elsewhere, and said in words by `describeConnectError`). A handshake that takes longer
    /// than `timeout` closes the channel and fails; a failed one closes it too.
    /// `before`: the handler TLS goes in front of (nil: the end of the pipeline).
    func start(on channel: any Channel, host: String, timeout: TimeAmount, before: (any ChannelHandler)? = nil) throws -> EventLoopFuture<Void> {
        let sync = channel.pipeline.syncOperations
        let done = channel.eventLoop.makePromise(of: Void.self)
        let tls = try clientHandler(host: host)
        let waiter = HandshakeDone(promise: done)
        if let before {
            try sync.addHandler(tls, position: .before(before))
            try sync.addHandler(waiter, position: .before(before))
        } else {
            try sync.addHandler(tls)
            try sync.addHandler(waiter)
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        return done.futureResult.always { result in
            deadline.cancel()
            if case .failure = result { channel.close(promise: nil) }
        }
    }
}

/// Completes a promise with the TLS handshake of an outgoing connection, then leaves.
final class HandshakeDone: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private var promise: EventLoopPromise<Void>?

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, let promise {
            self.promise = nil
            promise.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let promise {
            self.promise = nil
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let promise {
            self.promise = nil
            promise.fail(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }
}
