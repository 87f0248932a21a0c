/// Every metric Ballast exposes, with its help text.
///
/// swift-metrics has no place for help text, so `/metrics` handlers pass the registry's output
/// through `withHelp(_:)`, which puts `# HELP` before each `# TYPE` line, as the exposition format
/// and `promtool check metrics` want. docs/metrics.md is generated from the same table.
package enum MetricCatalogue {
    package static let help: [String: String] = [
        "ballast_requests_total": "Requests answered by the balancer, by listener, route, upstream and status code.",
        "ballast_request_duration_seconds": "Time from a request's first byte to its response head, by listener and route.",
        "ballast_upstream_server_up": "1 when the server is healthy and not ejected, else 0.",
        "ballast_upstream_server_ejected": "1 while the server is ejected by outlier detection.",
        "ballast_upstream_healthy_share": "Share of an upstream's servers that are healthy and not ejected.",
        "ballast_upstream_requests_in_flight": "Requests on their way to or from a server of the upstream.",
        "ballast_upstream_pool_connections": "Kept-alive idle connections to the upstream's servers, over all event loops.",
        "ballast_upstream_pipelined_requests_total": "Requests written behind another on one server connection (keepalive.pipeline_depth).",
        "ballast_upstream_server_requests_total": "Attempts sent to each server, by the class of its answer (1xx to 5xx) or failed (refused, reset, timed out).",
        "ballast_upstream_server_response_seconds": "Time from sending an attempt to each server to its response head.",
        "ballast_trace_spans_exported_total": "Spans the collector accepted (tracing.otlp_endpoint).",
        "ballast_trace_spans_dropped_total": "Spans dropped: the queue was full (8192) or the collector refused or did not answer.",
        "ballast_trace_export_failures_total": "Requests to the collector that failed (an error status, a refused connection, 5 s without an answer).",
        "ballast_upstream_overflow_total": "Requests beyond the upstream's limits, by limit.",
        "ballast_tunnels_open": "Upgraded connections (WebSocket tunnels) open on the route.",
        "ballast_tunnel_bytes_total": "Bytes passed through the route's tunnels, by direction (from_client, from_server).",
        "ballast_tunnels_closed_total": "Tunnels ended, by cause (client, server, idle, max_duration, shutdown, error).",
        "ballast_tls_certificate_expiry_seconds": "Unix time at which a certificate in use expires (listener certificates; upstream client certificates as listener=\"upstream:NAME\").",
        "ballast_tls_sni_unmatched_total": "TLS handshakes that asked (SNI) for a name no certificate of the listener covers; they got the default certificate.",
        "ballast_access_log_dropped_total": "Access log lines dropped because the writer could not keep up (a full disk, a pipe nobody reads).",
        "ballast_listener_connections": "Client connections open on the listener.",
        "ballast_listener_connections_limit": "The listener's max_connections.",
        "ballast_config_version": "Version of the config in force.",
        "ballast_build_info": "Always 1; the labels name the version and the commit of the running binary.",
        "ballast_state_up": "1 when the state database (config versions, timeline) answers, else 0.",
        "ballast_config_applies_total": "Config applies by result (applied, refused, promoted, rolled_back).",
        "ballast_rollout_canary_version": "Version under canary, 0 when no rollout is running.",
        "ballast_alerts_firing": "Alerts firing now, by severity.",
        "ballast_alert_notifications_total": "Alert notifications by receiver and result (sent, failed, dropped).",
        "ballast_auth_logins_total": "Login attempts by result (success, failure, throttled).",
        "ballast_auth_registrations_total": "Registrations by result (created, throttled).",
        "ballast_auth_active_sessions": "Sessions alive (not expired, not revoked) in the auth database.",
        "ballast_auth_requests_total": "Requests answered by the auth service, by method, path and status code.",
        "ballast_auth_request_duration_seconds": "Time the auth service took to answer, by method and path.",
    ]

    /// The exposition text with a `# HELP` line before every `# TYPE` line that lacks one.
    package static func withHelp(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + help.count * 80)
        let typePrefix = Array("# TYPE ".utf8)
        var lineStart = 0
        var previousWasHelp = false
        while lineStart < text.count {
            var lineEnd = lineStart
            while lineEnd < text.count, text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = text[lineStart..<lineEnd]
            if line.starts(with: typePrefix), !previousWasHelp {
                let rest = line.dropFirst(typePrefix.count)
                let name = String(decoding: rest.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                let text = help[name] ?? "Ballast metric \(name)."
                out += Array("# HELP \(name) \(text)\n".utf8)
            }
            previousWasHelp = line.starts(with: Array("# HELP ".utf8))
            out += line
            out.append(UInt8(ascii: "\n"))
            lineStart = lineEnd + 1
        }
        return out
    }
}
