import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// `sslmode` and `sslrootcert` as PostgresNIO's TLS settings.
extension PostgresURL {
    /// What the mode verifies: nothing (`prefer`, `require`), the issuer (`verify-ca`), the
    /// issuer and the name (`verify-full`: the URL's host, or its IP address).
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch sslMode {
        case .disable, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let sslRootCert { configuration.trustRoots = .file(sslRootCert) }
        return configuration
    }

    /// For the pool.
    var clientTLS: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration)
        case .require, .verifyCA, .verifyFull: .require(tlsConfiguration)
        }
    }

    /// For a single connection (the reachability probe).
    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require, .verifyCA, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
    }
}

extension PostgresURL {
    /// Why a connection failed, in words that name the setting to check when TLS is the cause;
    /// nil when it is not about TLS.
    package func describeTLSFailure(_ error: any Error) -> String? {
        let underlying = (error as? PSQLError)?.underlying ?? error
        if let psql = error as? PSQLError, psql.code == .sslUnsupported {
            return "the server does not offer TLS, and sslmode=\(sslMode.rawValue) requires it"
        }
        let text = String(describing: underlying)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS: the server's certificate is not signed by \(sslRootCert.map { "the CA in sslrootcert (\($0))" } ?? "a CA this system trusts")"
        }
        if let extra = underlying as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS: the server's certificate does not name \(host) (sslmode=verify-full)"
        }
        if underlying is NIOSSLError { return "TLS: \(text)" }
        return nil
    }

    /// One connection of its own, with the URL's TLS settings (the reachability probe's).
    package func connectOnce(id: Int = 0, timeout: Duration, logger: Logger) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                             database: database, tls: try connectionTLS())
        configuration.options.connectTimeout = .init(timeout)
        return try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
    }
}
