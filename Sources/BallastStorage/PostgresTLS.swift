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
