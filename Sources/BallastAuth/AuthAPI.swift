import BallastAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOFoundationEssentialsCompat
import Tracing

/// The HTTP API of one auth replica (design.md, "Auth service API").
package struct AuthAPI: Sendable {
    package let service: AuthService
    /// Peers whose `X-Forwarded-For` names the client (the load balancer); nobody else's counts.
    package let trustedProxies: Set<String>
    /// Sets `Secure` on the cookie even without `X-Forwarded-Proto: https` from a trusted proxy.
    package let secureCookies: Bool
    package let metricsText: @Sendable () -> [UInt8]
    /// Whether requests are traced (a server span each, in the balancer's trace): `ballast auth --otlp-endpoint`.
    package var tracing = false

    package init(service: AuthService, trustedProxies: Set<String> = ["127.0.0.1", "::1"], secureCookies: Bool = false,
                metricsText: @escaping @Sendable () -> [UInt8] = { [] }) {
        self.service = service
        self.trustedProxies = trustedProxies
        self.secureCookies = secureCookies
        self.metricsText = metricsText
    }

    package static let cookieName = "ballast_session"
    /// The device cookie (OWASP): proof that this client logged in as the user before.
    package static let deviceCookieName = "ballast_device"

    package func router() -> Router<AuthRequestContext> {
        let router = Router(context: AuthRequestContext.self)
        // The request log and metrics outermost, so they see the responses the error middleware makes from errors too.
        router.add(middleware: RequestLogMiddleware())
        if tracing { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: AuthErrorMiddleware())
        router.get("/healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/readyz") { _, _ in
            do {
                try await service.store.ping()
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return errorResponse(.serviceUnavailable, "database_unreachable", "the database cannot be reached")
            }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metricsText())))
        }
        let auth = router.group("auth")
        auth.post("register") { request, context in
            let body = try await Credentials.decode(request, context: context)
            let user = try await withSpan("auth.register") { _ in
                try await service.register(username: body.username, password: body.password, clientIP: clientIP(request, context))
            }
            return try json(.created, ["id": user.id, "username": user.username])
        }
        auth.post("login") { request, context in
            let body = try await Credentials.decode(request, context: context)
            let new = try await withSpan("auth.login") { _ in
                try await service.login(username: body.username, password: body.password, clientIP: clientIP(request, context),
                                        deviceToken: request.cookies[Self.deviceCookieName]?.value)
            }
            var response = try json(.ok, AuthReplies.Login(token: new.token, expires_at: iso(new.session.expiresAt)))
            response.headers[.setCookie] = cookie(value: new.token, maxAge: Int(service.settings.lifetime), request: request, context: context)
            response.headers.append(HTTPField(name: .setCookie, value: cookie(
                name: Self.deviceCookieName, value: new.deviceToken, maxAge: Int(service.settings.deviceLifetime),
                path: "/auth/", sameSite: "Strict", request: request, context: context)))
            response.headers[.cacheControl] = "no-store"
            return response
        }
        auth.post("logout") { request, context in
            try await service.logout(token: try token(request), clientIP: clientIP(request, context))
            var response = Response(status: .noContent)
            response.headers[.setCookie] = cookie(value: "", maxAge: 0, request: request, context: context)
            return response
        }
        auth.get("me") { request, _ in
            let (session, user) = try await service.authenticate(token: try token(request))
            return try json(.ok, MeBody(user: .init(id: user.id, username: user.username),
                                        session: .init(id: session.id, created_at: iso(session.createdAt), expires_at: iso(session.expiresAt))))
        }
        auth.get("sessions") { request, _ in
            let (current, user) = try await service.authenticate(token: try token(request))
            let sessions = try await service.sessions(of: user).map {
                SessionsBody.Item(id: $0.id, created_at: iso($0.createdAt), last_seen_at: iso($0.lastSeenAt),
                                  expires_at: iso($0.expiresAt), current: $0.id == current.id)
            }
            return try json(.ok, SessionsBody(sessions: sessions))
        }
        auth.delete("sessions/:id") { request, context in
            let (_, user) = try await service.authenticate(token: try token(request))
            let id = try context.parameters.require("id")
            try await service.revoke(sessionID: id, of: user, clientIP: clientIP(request, context))
            return Response(status: .noContent)
        }
        auth.post("password") { request, context in
            let (session, user) = try await service.authenticate(token: try token(request))
            let body = try await PasswordChange.decode(request, context: context)
            try await service.changePassword(user: user, session: session, current: body.current_password,
                                             new: body.new_password, clientIP: clientIP(request, context))
            return Response(status: .noContent)
        }
        return router
    }

    // MARK: Helpers

    /// The session token: `Authorization: Bearer TOKEN`, else the session cookie.
    func token(_ request: Request) throws -> String {
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer "), header.count > 7 else { throw AuthError.unauthenticated }
            return String(header.dropFirst(7))
        }
        if let cookie = request.cookies[Self.cookieName]?.value, !cookie.isEmpty { return cookie }
        throw AuthError.unauthenticated
    }

    /// The client's address: the peer, unless the peer is a trusted proxy, whose last
    /// `X-Forwarded-For` entry (the address it saw) is used instead.
    func clientIP(_ request: Request, _ context: AuthRequestContext) -> String {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        guard trustedProxies.contains(peer), let forwarded = request.headers[.xForwardedFor],
              let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        else { return peer }
        return last
    }

    func cookie(name: String = Self.cookieName, value: String, maxAge: Int, path: String = "/", sameSite: String = "Lax",
                request: Request, context: AuthRequestContext) -> String {
        let peer = context.remoteAddress?.ipAddress ?? ""
        let behindTLS = trustedProxies.contains(peer) && request.headers[.xForwardedProto]?.lowercased() == "https"
        var parts = ["\(name)=\(value)", "Path=\(path)", "Max-Age=\(maxAge)", "HttpOnly", "SameSite=\(sameSite)"]
        if secureCookies || behindTLS { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}

struct Credentials: Decodable {
    var username: String
    var password: String
}

struct PasswordChange: Decodable {
    var current_password: String
    var new_password: String
}

extension Decodable {
    /// Decodes a JSON body: 415 for another content type, 413 when too large, 400 when malformed.
    static func decode(_ request: Request, context: AuthRequestContext) async throws -> Self {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/json") else {
            throw HTTPError(.unsupportedMediaType, message: "send the body as application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "the body is larger than \(context.maxUploadSize) bytes")
        }
        do {
            return try JSONDecoder().decode(Self.self, from: Data(buffer: buffer))
        } catch DecodingError.keyNotFound(let key, _) {
            throw AuthError.invalidInput("missing field '\(key.stringValue)'")
        } catch DecodingError.typeMismatch(_, let context) {
            throw AuthError.invalidInput("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw AuthError.invalidInput("the body is not valid JSON")
        }
    }
}


struct MeBody: Encodable {
    struct User: Encodable { var id: String; var username: String }
    struct Session: Encodable { var id: String; var created_at: String; var expires_at: String }
    var user: User
    var session: Session
}

struct SessionsBody: Encodable {
    struct Item: Encodable {
        var id: String
        var created_at: String
        var last_seen_at: String
        var expires_at: String
        var current: Bool
    }
    var sessions: [Item]
}

func iso(_ date: Date) -> String {
    date.formatted(.iso8601)
}

func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}

/// `{"error": CODE, "message": TEXT}`, byte for byte the same for the same error (a dictionary
/// would not be: its key order varies between instances, which a client could tell apart).
struct ErrorBody: Encodable {
    var error: String
    var message: String
}

func errorResponse(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys  // swift-foundation keeps no field order without it
    let body = (try? encoder.encode(ErrorBody(error: code, message: message))) ?? Data()
    var response = Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
    return response
}

/// Every error leaves as `{"error": CODE, "message": TEXT}` with its status; nothing else leaks.
struct AuthErrorMiddleware: RouterMiddleware {
    typealias Context = AuthRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AuthError {
            var retryAfter: Int?
            switch error {
            case .throttled(let seconds), .overloaded(let seconds): retryAfter = seconds
            default: break
            }
            return errorResponse(.init(code: error.status), error.code, error.message, retryAfter: retryAfter)
        } catch AuthStoreError.unavailable(let why) {
            context.logger.warning("database unavailable", metadata: ["error": "\(why)"])
            return errorResponse(.serviceUnavailable, "unavailable", "the service is briefly unavailable; try again", retryAfter: 1)
        } catch let error as HTTPError {
            let code = switch error.status {
            case .contentTooLarge: "too_large"
            case .unsupportedMediaType: "unsupported_media_type"
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            default: "bad_request"
            }
            return errorResponse(error.status, code, error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return errorResponse(.internalServerError, "internal", "the request could not be completed")
        }
    }
}

/// RED metrics per route pattern: `ballast_auth_requests_total` and its duration histogram.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = AuthRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let path = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        Counter(label: "ballast_auth_requests_total", dimensions: [("method", method), ("path", path), ("code", String(response.status.code))])
            .increment()
        Metrics.Timer(label: "ballast_auth_request_duration_seconds", dimensions: [("method", method), ("path", path)],
                      preferredDisplayUnit: .seconds)
            .recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        return response
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}
