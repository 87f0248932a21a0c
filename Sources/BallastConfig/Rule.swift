/// A validation rule of the catalogue: a stable id, a severity and a default fix hint.
///
/// The loader's own rules (syntax, schema, references) are below; docs/rules.md has one
/// section per rule with a bad and a good example.
package struct Rule: Sendable, Hashable {
    package let id: String
    package let severity: Severity
    package let title: String
    package let fix: String?

    package init(id: String, severity: Severity, title: String, fix: String? = nil) {
        self.id = id
        self.severity = severity
        self.title = title
        self.fix = fix
    }
}

extension Rule {
    package static let yamlSyntax = Rule(
        id: "BL001", severity: .error, title: "YAML syntax error",
        fix: "correct the YAML at the position shown (indentation, quotes, colons)")
    package static let unknownKey = Rule(
        id: "BL002", severity: .error, title: "unknown key")
    package static let wrongType = Rule(
        id: "BL003", severity: .error, title: "wrong type")
    package static let badDuration = Rule(
        id: "BL004", severity: .error, title: "invalid duration",
        fix: "write a number with a unit: 250ms, 2s, 1m, 1h, 90d")
    package static let badAddress = Rule(
        id: "BL005", severity: .error, title: "invalid address or port",
        fix: "write HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080 or [::1]:8080")
    package static let duplicateName = Rule(
        id: "BL006", severity: .error, title: "duplicate name",
        fix: "give each listener, route and upstream a unique name")
    package static let missingUpstream = Rule(
        id: "BL007", severity: .error, title: "route to a missing upstream")
    package static let missingKey = Rule(
        id: "BL008", severity: .error, title: "required key missing")
    package static let badVersion = Rule(
        id: "BL009", severity: .error, title: "unsupported config version",
        fix: "set `version: 1`")
    package static let badValue = Rule(
        id: "BL010", severity: .error, title: "value out of range or not allowed")
    package static let duplicateListen = Rule(
        id: "BL011", severity: .error, title: "two listeners on one address",
        fix: "give every listener (and the admin API) its own HOST:PORT")
    package static let emptyUpstream = Rule(
        id: "BL012", severity: .error, title: "upstream without servers",
        fix: "list at least one server under `servers:`")
    package static let duplicateServer = Rule(
        id: "BL013", severity: .error, title: "the same server twice in one upstream",
        fix: "list each address once; use `weight` to give it more traffic")
    package static let allWeightsZero = Rule(
        id: "BL014", severity: .error, title: "every weight of an upstream is zero",
        fix: "give at least one server a weight above 0")
    package static let hashKeyMismatch = Rule(
        id: "BL015", severity: .error, title: "hash settings do not fit the balancer")
    package static let unreadableFile = Rule(
        id: "BL016", severity: .error, title: "config file cannot be read")

    package static let preflightServer = Rule(
        id: "BL034", severity: .warning, title: "server fails its preflight probe",
        fix: "start the server, fix its address, or fix the health path and expected status")
    package static let preflightUpstream = Rule(
        id: "BL035", severity: .error, title: "upstream with no healthy server at preflight",
        fix: "do not apply this config until at least one server of the upstream answers its health check")

    package static let tlsFileUnusable = Rule(
        id: "BL036", severity: .error, title: "TLS file missing or unreadable",
        fix: "point `tls.cert` and `tls.key` at readable PEM files")
    package static let tlsKeyMismatch = Rule(
        id: "BL037", severity: .error, title: "TLS key does not match the certificate",
        fix: "use the private key the certificate was issued for")
    package static let tlsExpiringSoon = Rule(
        id: "BL038", severity: .warning, title: "TLS certificate expires within 14 days",
        fix: "renew the certificate")
    package static let certificateCoversNoHost = Rule(
        id: "BL067", severity: .warning, title: "TLS certificate that covers no host its listener routes",
        fix: "add the routes' hosts to the certificate (subjectAltName), or list a certificate for them under `certificates:`")
    package static let caFileNotCA = Rule(
        id: "BL068", severity: .error, title: "CA file that holds no CA certificate",
        fix: "point `client_ca` or `ca` at the certificate of the authority that signs the peers' certificates (basicConstraints CA:TRUE)")
    package static let certificateWithoutKey = Rule(
        id: "BL069", severity: .error, title: "TLS certificate without its key",
        fix: "write `cert` and `key` together: the certificate's private key is needed to use it")
    package static let tlsExpired = Rule(
        id: "BL039", severity: .error, title: "TLS certificate expired or not yet valid",
        fix: "install a currently valid certificate")

    package static let runbookMissing = Rule(
        id: "BL042", severity: .error, title: "alert without an existing runbook",
        fix: "write the runbook there (relative paths are relative to the config file), point at an existing one, or use a shipped one (`builtin:NAME`)")
    package static let alertTargetMissing = Rule(
        id: "BL043", severity: .error, title: "alert on a missing route, upstream or scrape target")

    package static let runbookFrontMatter = Rule(
        id: "BL044", severity: .warning, title: "runbook without complete front matter",
        fix: "start it with ---, alerts: [NAMES], owner: TEAM, reviewed: YYYY-MM-DD, ---")
    package static let runbookNotForAlert = Rule(
        id: "BL045", severity: .warning, title: "alert pointing at a runbook that does not serve it")
    package static let runbookForMissingAlert = Rule(
        id: "BL046", severity: .warning, title: "runbook for an alert that no longer exists")
    package static let runbookNamesMissingTarget = Rule(
        id: "BL047", severity: .warning, title: "runbook naming a route, upstream or server the config does not have")
    package static let runbookReviewOverdue = Rule(
        id: "BL048", severity: .warning, title: "runbook not reviewed within the review interval")

    package static let configTooLarge = Rule(
        id: "BL051", severity: .error, title: "config beyond the loader's bounds",
        fix: "write the config out without aliases that multiply; a config is at most 4 MiB, 200,000 nodes and 64 levels deep")
    package static let badSuppression = Rule(
        id: "BL049", severity: .warning, title: "suppression that cannot apply",
        fix: "write `# ballast: ignore BL0NN REASON` for a warning")
    package static let staleSuppression = Rule(
        id: "BL050", severity: .warning, title: "suppression that matches no finding",
        fix: "remove the comment")

    /// Rules about the suppression comments themselves.
    package static let suppressionRules: [Rule] = [.badSuppression, .staleSuppression]

    /// Rules that review runbooks as protocols (they read files).
    package static let runbookRules: [Rule] = [.runbookFrontMatter, .runbookNotForAlert, .runbookForMissingAlert,
                                              .runbookNamesMissingTarget, .runbookReviewOverdue]

    /// Rules that read the TLS files a config names (run by `ballast check` and at start/apply).
    package static let tlsRules: [Rule] = [.tlsFileUnusable, .tlsKeyMismatch, .tlsExpiringSoon, .tlsExpired,
                                          .certificateCoversNoHost, .caFileNotCA]

    /// Rules that need the live servers (`ballast check --preflight`).
    package static let preflightRules: [Rule] = [.preflightServer, .preflightUpstream]

    /// The loader's rules, in id order.
    package static let loaderRules: [Rule] = [
        .yamlSyntax, .unknownKey, .wrongType, .badDuration, .badAddress, .duplicateName,
        .missingUpstream, .missingKey, .badVersion, .badValue, .duplicateListen,
        .emptyUpstream, .duplicateServer, .allWeightsZero, .hashKeyMismatch, .unreadableFile,
        .alertTargetMissing, .configTooLarge, .certificateWithoutKey,
    ]
}
