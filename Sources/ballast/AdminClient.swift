import ArgumentParser
import AsyncHTTPClient
import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1

/// Talks to a running balancer's admin API (`--admin`, else $BALLAST_ADMIN, else loopback),
/// with the bearer token from $BALLAST_ADMIN_TOKEN, else the file $BALLAST_ADMIN_TOKEN_FILE
/// names, else (for an admin API on loopback) the token `ballast up` wrote to
/// `$BALLAST_DATA/admin.token` or `ballast-data/admin.token` here.
struct AdminClient {
    let base: String
    let token: String?

    init(admin: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        base = (admin ?? environment["BALLAST_ADMIN"] ?? "http://127.0.0.1:9900")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        token = Self.token(for: base, environment: environment)
    }

    static func token(for base: String, environment: [String: String]) -> String? {
        if let token = environment["BALLAST_ADMIN_TOKEN"], !token.isEmpty { return token }
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .flatMap { $0.isEmpty ? nil : $0 }
        }
        if let file = environment["BALLAST_ADMIN_TOKEN_FILE"], !file.isEmpty { return read(file) }
        // A token found on disk goes only to an admin API on this machine, never elsewhere.
        let host = URL(string: base)?.host ?? ""
        guard host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" else { return nil }
        return read("\(environment["BALLAST_DATA"] ?? "ballast-data")/admin.token")
    }

    struct Reply {
        var status: Int
        var body: Data
        var headers: [String: String] = [:]
        /// The body as the admin API's reply type `type` (`AdminReplies`), or nil.
        func decode<T: Decodable>(_ type: T.Type) -> T? { AdminReplies.decode(type, from: body) }
        /// A refusal's message, else the body as text.
        var message: String { decode(AdminReplies.Failure.self)?.message ?? String(decoding: body, as: UTF8.self) }
    }

    func send(_ method: HTTPMethod, _ path: String, body: String? = nil, timeout: TimeAmount = .seconds(30)) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let user = ProcessInfo.processInfo.environment["USER"] ?? "someone"
        request.headers.add(name: "X-Ballast-Author", value: "\(user)@\(ProcessInfo.processInfo.hostName)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/yaml")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            printError("error: cannot reach the admin API at \(base): \(error)")
            throw ExitCode(2)
        }
        let bytes = try await response.body.collect(upTo: 16 << 20)
        if response.status == .forbidden, String(buffer: bytes).contains("may only read") {
            printError("error: the admin API at \(base) lets this token only read; a change needs a token with the write role")
            throw ExitCode(2)
        }
        if response.status == .unauthorized {
            printError("error: the admin API at \(base) wants a token it accepts; set BALLAST_ADMIN_TOKEN or BALLAST_ADMIN_TOKEN_FILE (ballast up keeps one in DATA/admin.token)")
            throw ExitCode(2)
        }
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), body: Data(buffer: bytes), headers: headers)
    }
}

/// Prints findings the admin API returned in the compiler style.
func printFindings(_ findings: [Finding]) {
    for finding in findings { printError(finding.description) }
}
