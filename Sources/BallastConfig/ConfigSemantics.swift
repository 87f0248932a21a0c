/// Checks that need the whole config: names, references and addresses that must agree.
enum ConfigSemantics {
    static func check(_ config: Config, reader: NodeReader) {
        func at(_ path: String) -> SourceLocation? { reader.sourceMap[path] }

        var listenerNames: Set<String> = []
        var listenAddresses: [Address: String] = [config.admin.listen: "the admin API"]
        for (i, listener) in config.listeners.enumerated() {
            let path = "listeners[\(i)]"
            if !listenerNames.insert(listener.name).inserted {
                reader.report(.duplicateName, "listener name '\(listener.name)' is used twice", at: at("\(path).name"))
            }
            if let other = listenAddresses[listener.listen] {
                reader.report(.duplicateListen, "listener '\(listener.name)' listens on \(listener.listen), as \(other) does",
                              at: at("\(path).listen"))
            } else {
                listenAddresses[listener.listen] = "listener '\(listener.name)'"
            }
            var routeNames: Set<String> = []
            for (j, route) in listener.routes.enumerated() {
                let routePath = "\(path).routes[\(j)]"
                if !routeNames.insert(route.name).inserted {
                    reader.report(.duplicateName, "route name '\(route.name)' is used twice in listener '\(listener.name)'",
                                  at: at("\(routePath).name"))
                }
                if config.upstream(named: route.upstream) == nil {
                    reader.report(.missingUpstream,
                                  "route '\(route.name)' points at upstream '\(route.upstream)', which does not exist",
                                  at: at("\(routePath).upstream"),
                                  fix: referenceHint(route.upstream, in: config.upstreams.map(\.name), ifNone: "define it under `upstreams:`"))
                }
            }
        }

        var upstreamNames: Set<String> = []
        for (i, upstream) in config.upstreams.enumerated() {
            let path = "upstreams[\(i)]"
            if !upstreamNames.insert(upstream.name).inserted {
                reader.report(.duplicateName, "upstream name '\(upstream.name)' is used twice", at: at("\(path).name"))
            }
            if upstream.servers.isEmpty, reader.sourceMap["\(path).servers"] != nil {
                reader.report(.emptyUpstream, "upstream '\(upstream.name)' has no servers", at: at("\(path).servers"))
            }
            var seen: Set<Address> = []
            for (j, server) in upstream.servers.enumerated() where !seen.insert(server.address).inserted {
                reader.report(.duplicateServer, "server \(server.address) is listed twice in upstream '\(upstream.name)'",
                              at: at("\(path).servers[\(j)]"))
            }
            if !upstream.servers.isEmpty, upstream.servers.allSatisfy({ $0.weight == 0 }) {
                reader.report(.allWeightsZero, "every server of upstream '\(upstream.name)' has weight 0, so it gets no traffic",
                              at: at("\(path).servers"))
            }
            if upstream.balance == .consistentHash, upstream.hashOn == nil {
                reader.report(.hashKeyMismatch, "upstream '\(upstream.name)' balances by consistent_hash but has no 'hash_on'",
                              at: at("\(path).balance"), fix: "add `hash_on: cookie:ballast_session` (or header:NAME, client_ip)")
            }
            if upstream.balance != .consistentHash, upstream.hashOn != nil {
                reader.findings.append(Finding(
                    rule: Rule(id: Rule.hashKeyMismatch.id, severity: .warning, title: Rule.hashKeyMismatch.title),
                    message: "'hash_on' of upstream '\(upstream.name)' has no effect with balance \(upstream.balance.rawValue)",
                    at: at("\(path).hash_on"), fix: "remove 'hash_on' or set `balance: consistent_hash`"))
            }
        }
    }
}
