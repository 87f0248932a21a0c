import BallastConfig
import BallastProxy
import Hummingbird
import Logging

/// Builds the admin listener: the API behind the token middleware, on `admin.listen`.
package enum AdminServer {
    package static func application(api: AdminAPI, admin: Admin, credentials: AdminCredentials, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: AdminGuardMiddleware(guardian: AdminRequestGuard(admin: admin)))
        router.add(middleware: AdminAuthMiddleware(credentials: credentials))
        api.addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(admin.listen.host, port: admin.listen.port), serverName: "ballast-admin"),
            logger: logger)
    }
}
