import BallastConfig
import BallastProxy
import Hummingbird
import Logging

/// Builds the admin listener: the API behind the token middleware, on `admin.listen`.
public enum AdminServer {
    public struct InsecureAdmin: Error, CustomStringConvertible {
        public var description: String
    }

    /// Refuses a non-loopback admin listener without a token: that would hand the balancer to
    /// anyone who can reach the port.
    public static func token(for admin: Admin, environment: [String: String]) throws -> String? {
        let token = environment[admin.tokenEnv].flatMap { $0.isEmpty ? nil : $0 }
        if token == nil, !admin.listen.isLoopback {
            throw InsecureAdmin(description:
                "admin listens on \(admin.listen), beyond loopback, but $\(admin.tokenEnv) is not set; set it or listen on 127.0.0.1")
        }
        return token
    }

    public static func application(api: AdminAPI, admin: Admin, token: String?, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: AdminGuardMiddleware(guardian: AdminRequestGuard(admin: admin)))
        router.add(middleware: AdminAuthMiddleware(token: token))
        api.addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(admin.listen.host, port: admin.listen.port), serverName: "ballast-admin"),
            logger: logger)
    }
}
