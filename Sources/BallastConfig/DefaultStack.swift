extension Config {
    /// The stack `ballast up` runs when no `--config` is given (also examples/ballast.yaml):
    /// the balancer on :8080 in front of three auth replicas on :9101-9103, admin on :9900.
    public static let defaultStackYAML = """
# The stack of design.md: one public listener in front of three auth replicas.
version: 1
admin: { listen: 127.0.0.1:9900, token_env: BALLAST_ADMIN_TOKEN }
listeners:
  - name: public
    listen: 127.0.0.1:8080
    limits: { max_header_bytes: 16384, max_body_bytes: 1048576, max_connections: 10000 }
    timeouts: { client_header: 10s, idle: 60s }
    routes:
      - name: auth
        match: { path_prefix: /auth/ }
        upstream: auth
        timeouts: { connect: 1s, response: 10s }
        retries: { attempts: 2, on: [connect-failure, "503"], budget_percent: 20 }
        rate_limit: { per_client: 20/s, burst: 40 }
upstreams:
  - name: auth
    balance: least_request
    servers:
      - { address: 127.0.0.1:9101, weight: 1 }
      - { address: 127.0.0.1:9102, weight: 1 }
      - { address: 127.0.0.1:9103, weight: 1 }
    health: { path: /healthz, interval: 2s, timeout: 1s, healthy_after: 2, unhealthy_after: 3, expect_status: 200 }
    outlier: { consecutive_failures: 5, eject_for: 30s, max_ejected_percent: 50 }
    keepalive: { max_idle_per_server: 64, idle_timeout: 50s, server_idle_timeout: 60s }
    panic_threshold_percent: 50
rollout: { canary_percent: 10, watch: 20s, rollback_when: { error_rate_above: 2%, healthy_below: 50%, p99_above: 500ms } }
"""
}
