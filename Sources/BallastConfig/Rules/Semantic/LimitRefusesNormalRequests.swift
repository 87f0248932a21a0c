/// Listener limits and timeouts inside their valid range that still refuse ordinary traffic:
/// a browser's request head with cookies, a login with a long password, a client on a slow
/// mobile link, more than a handful of visitors at once.
struct LimitRefusesNormalRequests: LintRule {
    static let rule = Rule(id: "BL057", severity: .warning, title: "a limit that refuses normal requests",
                           fix: "keep `max_header_bytes` at 8192 or more, `max_body_bytes` at 8192 or more on routes that take bodies, `timeouts.client_header` at 2s or more, `max_connections` at 100 or more and `max_connections_per_client` at 16 or more")

    /// What browsers send in one head with a few cookies; nginx (large_client_header_buffers
    /// 4 8k) and Apache (LimitRequestFieldSize 8190) accept a line of this size.
    static let browserHead = 8192
    /// The auth tier accepts passwords up to 4,096 bytes; with JSON around it a login needs more.
    static let loginBody = 8192
    static let slowClientHead: Duration = .seconds(2)
    static let fewestConnections = 100
    /// A few browsers behind one NAT address (a household, an office), 6 connections each.
    static let fewestPerClient = 16

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            let path = "listeners[\(l)]"
            let limits = listener.limits
            if limits.maxHeaderBytes < browserHead {
                findings.append(finding(
                    "listener '\(listener.name)' refuses request heads over \(grouped(limits.maxHeaderBytes)) bytes with 431: a browser's request with a few cookies (4 to 8 KiB) is refused",
                    at: "\(path).limits.max_header_bytes", in: config))
            }
            if limits.maxBodyBytes < loginBody, let route = listener.routes.first(where: \.acceptsBodies) {
                findings.append(finding(
                    "listener '\(listener.name)' refuses bodies over \(grouped(limits.maxBodyBytes)) bytes with 413, but route '\(route.name)' takes \(route.match.methods?.joined(separator: ", ") ?? "every method"): a login with a long password (the auth tier accepts 4,096 bytes) or a small form is refused",
                    at: "\(path).limits.max_body_bytes", in: config))
            }
            if listener.timeouts.clientHeader > .zero, listener.timeouts.clientHeader < slowClientHead {
                findings.append(finding(
                    "listener '\(listener.name)' gives a client \(listener.timeouts.clientHeader.spoken) to send its request head: a phone on a slow link (several round trips of 300 ms with TLS) gets 408",
                    at: "\(path).timeouts.client_header", in: config))
            }
            if !limits.maxConnectionsDerived, limits.maxConnections < fewestConnections {
                findings.append(finding(
                    "listener '\(listener.name)' accepts \(limits.maxConnections) connections at once: a browser opens up to 6, so visitor number \(limits.maxConnections / 6 + 1) can already get 503",
                    at: "\(path).limits.max_connections", in: config))
            }
            if let perClient = limits.maxConnectionsPerClientWritten, perClient < fewestPerClient {
                findings.append(finding(
                    "listener '\(listener.name)' lets one address hold \(perClient) connection(s): a browser opens up to 6, so a household or office behind one NAT address gets 429 from its \(perClient / 6 + 1)\(perClient / 6 + 1 == 1 ? "st" : perClient / 6 + 1 == 2 ? "nd" : perClient / 6 + 1 == 3 ? "rd" : "th") browser",
                    at: "\(path).limits.max_connections_per_client", in: config))
            }
        }
        return findings
    }
}
