import BallastConfig
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer TOKEN` on every admin request when any token is configured,
/// and the write role for anything but GET and HEAD.
///
/// The admin API may only run without a token on loopback (see `AdminCredentials.load`). The
/// authenticated principal is passed on as `X-Ballast-Identity` (a client's own copy is removed
/// first), which is what the history and timeline record as a change's author.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let credentials: AdminCredentials
    static var open: Set<String> { ["/", "/healthz", "/readyz"] }
    static var identity: HTTPField.Name { HTTPField.Name("X-Ballast-Identity")! }
    static var claimedAuthor: HTTPField.Name { HTTPField.Name("X-Ballast-Author")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A client's own identity header never reaches a handler; what does is set below.
        var head = request.head
        head.headerFields[Self.identity] = nil
        let reads = request.method == .get || request.method == .head
        // The dashboard page holds no data; its scripts ask for the token and send it.
        // Probes for systemd, Kubernetes and load balancers in front: they say only alive or ready.
        if reads, Self.open.contains(request.uri.path) { return try await next(Request(head: head, body: request.body), context) }
        let principal: AdminCredentials.Principal
        if credentials.isEmpty {
            principal = .init(name: "unauthenticated", role: .write)
        } else {
            let presented = request.headers[.authorization].flatMap { value -> String? in
                value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
            }
            guard let presented, let found = credentials.principal(presenting: presented) else {
                return jsonError(.unauthorized, "unauthorized", "a valid admin token is required (Authorization: Bearer TOKEN)")
            }
            principal = found
        }
        if !reads, principal.role < .write {
            return jsonError(.forbidden, "forbidden", "the token of '\(principal.name)' may only read; changes need a token with the write role")
        }
        head.headerFields[Self.identity] = Self.author(principal.name, claimed: request.headers[Self.claimedAuthor])
        return try await next(Request(head: head, body: request.body), context)
    }

    /// `admin`, or `admin (as alice@host)` when the client says who is at the keyboard: the
    /// claim is kept for the reader, printable and bounded, but never stands alone.
    static func author(_ name: String, claimed: String?) -> String {
        guard let claimed else { return name }
        let clean = String(claimed.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7f }.prefix(80).map(Character.init))
            .trimmingCharacters(in: .whitespaces)
        return clean.isEmpty || clean == name ? name : "\(name) (as \(clean))"
    }
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
