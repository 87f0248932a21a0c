/// A canary that is not one: watched too briefly to see the requests a verdict needs, or given
/// so much of the traffic that a bad change reaches most users before it is judged.
struct CanaryCannotBeJudged: LintRule {
    static let rule = Rule(id: "BL055", severity: .warning, title: "a canary that cannot do its job",
                           fix: "watch at least 10s and send the canary between 1% and 25% of requests (the default: 10% for 20s)")

    /// Canary requests the rollout judge needs before error rates and latencies count
    /// (RolloutJudge.minimumRequests).
    static let requestsForVerdict = 10
    /// Traffic the canary must see for that many requests within the watch.
    static let busiest = 10.0
    static let largestShare = 25.0

    static func check(_ config: Config) -> [Finding] {
        let rollout = config.rollout
        var findings: [Finding] = []
        if rollout.canaryPercent > largestShare {
            findings.append(finding(
                "the canary gets \(plain(rollout.canaryPercent))% of requests: a bad change fails that share of all users for the whole watch before it is rolled back",
                at: "rollout.canary_percent", in: config))
        }
        let share = rollout.canaryPercent / 100
        let needed = share > 0 && rollout.watch > .zero ? Double(requestsForVerdict) / (share * rollout.watch.seconds) : .infinity
        if needed > busiest {
            let defaults = Rollout()
            let key = config.wrote("rollout.watch") && rollout.watch < defaults.watch ? "watch"
                : config.wrote("rollout.canary_percent") && rollout.canaryPercent < defaults.canaryPercent ? "canary_percent" : "watch"
            findings.append(finding(
                share == 0
                    ? "the canary gets 0% of requests: every change is promoted after \(rollout.watch.spoken) without a single request judged"
                    : "the canary is judged on \(rollout.watch.spoken) of \(plain(rollout.canaryPercent))% of the traffic: it sees the \(requestsForVerdict) requests a verdict needs only at \(plain(needed.rounded(.up))) req/s or more; with less traffic a change is promoted unjudged",
                at: "rollout.\(key)", in: config))
        }
        return findings
    }
}
