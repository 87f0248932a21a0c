import BallastConfig
import Crypto
import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer TOKEN` on every admin request when a token is configured.
///
/// The admin API may only run without a token on loopback (see `AdminServer`); comparison is in
/// constant time so the token cannot be guessed byte by byte.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    static var open: Set<String> { ["/", "/healthz", "/readyz"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The dashboard page holds no data; its scripts ask for the token and send it.
        // Probes for systemd, Kubernetes and load balancers in front: they say only alive or ready.
        guard let token, !(request.method == .get && Self.open.contains(request.uri.path)) else { return try await next(request, context) }
        let presented = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
        }
        guard let presented, constantTimeEquals(Array(presented.utf8), Array(token.utf8)) else {
            return jsonError(.unauthorized, "unauthorized", "a valid admin token is required (Authorization: Bearer TOKEN)")
        }
        return try await next(request, context)
    }
}

func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    // Compare digests so the lengths leak nothing either.
    let da = Array(SHA256.hash(data: a)), db = Array(SHA256.hash(data: b))
    var difference: UInt8 = 0
    for i in 0..<da.count { difference |= da[i] ^ db[i] }
    return difference == 0
}

/// Applies `AdminRequestGuard` to every admin request, before the token is looked at.
struct AdminGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let guardian: AdminRequestGuard
    static var fetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let length = request.headers[.contentLength].flatMap { Int($0) } ?? 0
        let verdict = guardian.verdict(method: request.method.rawValue, host: request.head.authority, origin: request.headers[.origin],
                                       fetchSite: request.headers[Self.fetchSite], contentType: request.headers[.contentType],
                                       hasBody: length > 0 || request.headers[.transferEncoding] != nil)
        switch verdict {
        case .allow:
            return try await next(request, context)
        case .refuse(let status, let error, let message):
            return jsonError(HTTPResponse.Status(code: status), error, message)
        }
    }
}
