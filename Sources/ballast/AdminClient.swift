import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to a running balancer's admin API (`--admin`, else $BALLAST_ADMIN, else loopback),
/// with the bearer token from $BALLAST_ADMIN_TOKEN when it is set.
struct AdminClient {
    let base: String

    init(admin: String?) {
        base = (admin ?? ProcessInfo.processInfo.environment["BALLAST_ADMIN"] ?? "http://127.0.0.1:9900")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    struct Reply {
        var status: Int
        var body: Data
        var headers: [String: String] = [:]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    func send(_ method: HTTPMethod, _ path: String, body: String? = nil, timeout: TimeAmount = .seconds(30)) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token = ProcessInfo.processInfo.environment["BALLAST_ADMIN_TOKEN"], !token.isEmpty {
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
        if response.status == .unauthorized {
            printError("error: the admin API at \(base) refused the token; set BALLAST_ADMIN_TOKEN")
            throw ExitCode(2)
        }
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), body: Data(buffer: bytes), headers: headers)
    }
}

/// Prints findings the admin API returned (`{"findings": [...]}`) in the compiler style.
func printFindings(_ json: [String: Any]) {
    for finding in json["findings"] as? [[String: Any]] ?? [] {
        let place = (finding["file"] as? String).map { "\($0):\(finding["line"] ?? 0):\(finding["column"] ?? 0): " } ?? ""
        let fix = (finding["fix"] as? String).map { "; fix: \($0)" } ?? ""
        printError("\(place)\(finding["severity"] ?? "error"): [\(finding["id"] ?? "")] \(finding["message"] ?? "")\(fix)")
    }
}
