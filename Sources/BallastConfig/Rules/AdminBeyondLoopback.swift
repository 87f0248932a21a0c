/// The admin API can change the whole balancer; beyond loopback it needs its token.
struct AdminBeyondLoopback: LintRule {
    static let rule = Rule(id: "BL030", severity: .warning, title: "admin API beyond loopback",
                           fix: "keep `admin.listen` on 127.0.0.1, or make sure the token variable is set where it runs")

    static func check(_ config: Config) -> [Finding] {
        guard !config.admin.listen.isLoopback else { return [] }
        return [finding(
            "the admin API listens on \(config.admin.listen); ballast refuses to start it unless $\(config.admin.tokenEnv) holds a token",
            at: "admin.listen", in: config)]
    }
}
