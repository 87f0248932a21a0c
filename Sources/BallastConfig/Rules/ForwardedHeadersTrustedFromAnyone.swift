/// Trusting `X-Forwarded-For` from everyone lets any client pick its address: rate limits,
/// login throttling and logs all believe it.
struct ForwardedHeadersTrustedFromAnyone: LintRule {
    static let rule = Rule(id: "BL031", severity: .error, title: "forwarded headers trusted from everyone",
                           fix: "list only the addresses of your own proxies in `trusted_proxies`")

    static let everyone: Set<String> = ["0.0.0.0/0", "::/0", "*", "0.0.0.0"]

    static func check(_ config: Config) -> [Finding] {
        config.listeners.enumerated().compactMap { l, listener in
            listener.trustedProxies.contains(where: everyone.contains)
                ? finding("listener '\(listener.name)' trusts X-Forwarded-* from every client", at: "listeners[\(l)].trusted_proxies", in: config)
                : nil
        }
    }
}
