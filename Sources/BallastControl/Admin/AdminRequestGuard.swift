import BallastConfig
import Foundation

/// What the admin API checks before any handler runs, so that a web page in the operator's
/// browser can neither read it (DNS rebinding: the page's own name made to resolve to
/// 127.0.0.1) nor change it (a cross-site form or `fetch` with a "simple" `text/plain` body):
///
/// - `Host` must be an IP literal, `localhost`, or one of `admin.hosts`: names an attacker
///   cannot point at this machine from a page of theirs. Anything else is refused with 421.
/// - A state-changing request (POST, PUT, PATCH, DELETE) that a browser sent from another origin
///   (`Origin` other than this `Host`, or `Sec-Fetch-Site` other than `same-origin`/`none`) is
///   refused with 403; the CLI and curl send neither header.
/// - A state-changing request with a body must say it is YAML or JSON, else 415: a cross-site
///   page cannot send those without a CORS preflight, which the API never grants.
package struct AdminRequestGuard: Sendable {
    package enum Verdict: Equatable, Sendable {
        case allow
        case refuse(status: Int, error: String, message: String)
    }

    let names: Set<String>

    package init(admin: Admin) {
        var names = Set(admin.hosts.map { Self.hostName(of: $0) })
        names.insert("localhost")
        let own = admin.listen.host.lowercased()
        if !["0.0.0.0", "::", "[::]"].contains(own) { names.insert(own) }
        self.names = names
    }

    package func verdict(method: String, host: String?, origin: String?, fetchSite: String?, contentType: String?, hasBody: Bool) -> Verdict {
        if let host, !accepts(host: host) {
            return .refuse(status: 421, error: "misdirected_request",
                           message: "this admin API does not answer to the host '\(host.prefix(100))'; add the name to admin.hosts if it is yours")
        }
        guard ["POST", "PUT", "PATCH", "DELETE"].contains(method) else { return .allow }
        if let fetchSite, !["same-origin", "none"].contains(fetchSite.lowercased()) {
            return .refuse(status: 403, error: "cross_site_request",
                           message: "the admin API takes no change from another site (Sec-Fetch-Site: \(fetchSite.prefix(40)))")
        }
        if let origin, !sameOrigin(origin, host: host) {
            return .refuse(status: 403, error: "cross_site_request", message: "the admin API takes no change from another origin (\(origin.prefix(100)))")
        }
        if hasBody {
            let type = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard Self.bodyTypes.contains(type) else {
                return .refuse(status: 415, error: "unsupported_media_type",
                               message: "send the body as application/yaml or application/json (Content-Type: \(type.isEmpty ? "none" : String(type.prefix(60))))")
            }
        }
        return .allow
    }

    static let bodyTypes: Set<String> = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json"]

    func accepts(host: String) -> Bool {
        let name = Self.hostName(of: host)
        return names.contains(name) || Self.isIPLiteral(name)
    }

    /// `http://H` or `https://H` where H is the request's own Host, and an acceptable one.
    func sameOrigin(_ origin: String, host: String?) -> Bool {
        let origin = origin.lowercased()
        for scheme in ["http://", "https://"] where origin.hasPrefix(scheme) {
            let authority = String(origin.dropFirst(scheme.count))
            guard accepts(host: authority) else { return false }
            return host.map { $0.lowercased() == authority } ?? true
        }
        return false  // "null" (a sandboxed page, a local file) and anything else
    }

    /// `name` of `name:port`, `[v6]` of `[v6]:port`, lowercased.
    static func hostName(of authority: String) -> String {
        let text = authority.lowercased()
        if text.hasPrefix("[") { return text.firstIndex(of: "]").map { String(text[...$0]) } ?? text }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon { return String(text[..<colon]) }
        return text
    }

    static func isIPLiteral(_ name: String) -> Bool {
        if name.hasPrefix("[") && name.hasSuffix("]") {
            let inner = name.dropFirst().dropLast()
            return !inner.isEmpty && inner.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}
