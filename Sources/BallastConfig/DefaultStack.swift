extension Config {
    /// The stack `ballast up` runs when no `--config` is given (also examples/ballast.yaml):
    /// the balancer on :8080 in front of three auth replicas on :9101-9103, admin on :9900.
    package static let defaultStackYAML = """
# The stack of design.md: one public listener in front of three auth replicas.
version: 1
admin: { listen: 127.0.0.1:9900, token_env: BALLAST_ADMIN_TOKEN }
listeners:
  - name: public  # ballast: ignore BL019 only the auth API is served; any other path gets the balancer's 404
    listen: 127.0.0.1:8080
    # max_connections is left to its default, derived from the open-file limit (docs/config.md).
    limits: { max_header_bytes: 16384, max_body_bytes: 1048576 }
    timeouts: { client_header: 10s, idle: 60s }
    routes:
      # Sign-in, sign-up and password changes are throttled per client address (password
      # guessing, sign-up spam). POST is never retried on a status, only on a failed connect.
      - name: auth-credentials
        match: { path_prefix: /auth/, methods: [POST] }
        upstream: auth
        timeouts: { connect: 1s, response: 10s }
        retries: { attempts: 2, on: [connect-failure], budget_percent: 20 }
        rate_limit: { per_client: 20/s, burst: 40 }
      # Session checks and the rest of the API are not: an app checks the session on every page,
      # often for many users behind one NAT address.
      - name: auth
        match: { path_prefix: /auth/ }
        upstream: auth
        timeouts: { connect: 1s, response: 10s }
        retries: { attempts: 2, on: [connect-failure, "503"], budget_percent: 20 }
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
# The alert engine, evaluated every second. These are also the rules a config without
# `alerts:` gets (with the runbooks built into ballast); docs/monitoring.md explains each kind.
# The runbooks are editable copies that `ballast up` wrote beside this file.
alerts:
  scrape: { upstreams: [auth], path: /metrics, interval: 1s }
  notify: { log: true, webhooks: [], group_by: [alertname], repeat_interval: 4h }
  rules:
    - name: UpstreamUnhealthy
      signal: healthy_share
      upstream: auth
      below: 50%
      for: 1s
      severity: page
      summary: Fewer than half of the servers of upstream 'auth' are healthy
      runbook: runbooks/upstream-unhealthy.md
    - name: HealthyShareFell
      signal: healthy_share
      upstream: auth
      anomaly: { drop: 30%, baseline: 1m, warmup: 1m }
      for: 5s
      severity: ticket
      summary: The healthy share of upstream 'auth' fell 30% or more below its baseline
      runbook: runbooks/upstream-unhealthy.md
    - name: ErrorRateHigh
      signal: error_ratio
      route: auth-credentials
      window: 5s
      above: 5%
      for: 1s
      severity: page
      summary: More than 5% of requests on route 'auth-credentials' fail with 5xx
      runbook: runbooks/error-rate-high.md
    - name: ErrorBudgetBurn
      route: auth-credentials
      slo: { objective: 99.9%, windows: [{ long: 1h, short: 5m, burn_rate: 14.4 }, { long: 6h, short: 30m, burn_rate: 6 }] }
      severity: page
      summary: Route 'auth-credentials' burns its 99.9% error budget too fast
      runbook: runbooks/error-budget-burn.md
    - name: LatencyHigh
      signal: latency_p99
      route: auth-credentials
      window: 1m
      above: 500ms
      for: 30s
      severity: ticket
      summary: p99 latency of route 'auth-credentials' is above 500ms
      runbook: runbooks/latency-high.md
    - name: ErrorRateHigh
      signal: error_ratio
      route: auth
      window: 5s
      above: 5%
      for: 1s
      severity: page
      summary: More than 5% of requests on route 'auth' fail with 5xx
      runbook: runbooks/error-rate-high.md
    - name: ErrorBudgetBurn
      route: auth
      slo: { objective: 99.9%, windows: [{ long: 1h, short: 5m, burn_rate: 14.4 }, { long: 6h, short: 30m, burn_rate: 6 }] }
      severity: page
      summary: Route 'auth' burns its 99.9% error budget too fast
      runbook: runbooks/error-budget-burn.md
    - name: LatencyHigh
      signal: latency_p99
      route: auth
      window: 1m
      above: 500ms
      for: 30s
      severity: ticket
      summary: p99 latency of route 'auth' is above 500ms
      runbook: runbooks/latency-high.md
    - name: ActiveSessionsDrop
      signal: active_sessions
      anomaly: { drop: 20%, min_change: 5, baseline: 1m, warmup: 1m }
      for: 3s
      severity: page
      summary: Active sessions fell 20% or more below their baseline
      runbook: runbooks/active-sessions-drop.md
    - name: LoginFailuresRising
      signal: login_failure_ratio
      window: 5s
      anomaly: { rise: 50%, min_change: 20%, baseline: 1m, warmup: 1m }
      for: 1s
      severity: page
      summary: The share of failed logins rose well above its baseline
      runbook: runbooks/login-failures-rising.md
"""
}
