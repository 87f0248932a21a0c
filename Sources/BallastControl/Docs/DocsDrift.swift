import Foundation

/// What a committed topology document says that the live configuration no longer does, in
/// the reader's words, with the config version that changed it when the history is known.
package struct DocsDrift: Sendable {
    /// One applied config version, for "removed in version 7 by alice".
    package struct Version: Sendable {
        package var version: Int
        package var author: String
        package var appliedAt: Date
        package var facts: TopologyFacts

        package init(version: Int, author: String, appliedAt: Date, facts: TopologyFacts) {
            self.version = version
            self.author = author
            self.appliedAt = appliedAt
            self.facts = facts
        }
    }

    package var document: TopologyFacts
    package var live: TopologyFacts
    /// Applied versions, oldest first.
    package var history: [Version]

    package init(document: TopologyFacts, live: TopologyFacts, history: [Version] = []) {
        self.document = document
        self.live = live
        self.history = history.sorted { $0.version < $1.version }
    }

    /// " in version 7 by alice (2026-11-26 10:00 UTC)" for the newest version at which `key`
    /// took its live value; "" when the history cannot tell.
    func when(_ key: (TopologyFacts) -> String) -> String {
        let target = key(live)
        for index in history.indices.reversed() where key(history[index].facts) == target {
            if index > 0, key(history[index - 1].facts) != target {
                let entry = history[index]
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = "yyyy-MM-dd HH:mm"
                return " in version \(entry.version) by \(entry.author) (\(formatter.string(from: entry.appliedAt)) UTC)"
            }
            if index == 0 { return "" }
        }
        return ""
    }

    package func findings() -> [String] {
        var out: [String] = []
        if document.admin != live.admin {
            out.append("the document puts the admin API on \(document.admin); the live config has \(live.admin)" + when { $0.admin })
        }
        out += listenerDrift() + routeDrift() + upstreamDrift()
        if document.rollout != live.rollout {
            out.append("rollout policy: the document says \(document.rollout); the live config says \(live.rollout)" + when { $0.rollout })
        }
        out += alertDrift()
        return out
    }

    /// Items only the document has (removed since) and items only the live config has (added
    /// since), each with the version that removed or added it when the history tells.
    private func presence<T>(_ documented: [T], _ current: [T], id: @escaping (T) -> String, in list: @escaping (TopologyFacts) -> [T],
                             removed: (T) -> String, added: (T) -> String) -> [String] {
        let documentedIDs = Set(documented.map(id)), currentIDs = Set(current.map(id))
        func change(_ key: String, _ verb: String) -> String {
            when { list($0).contains { id($0) == key } ? "yes" : "no" }.replacingOccurrences(of: " in version", with: ": \(verb) in version")
        }
        return documented.filter { !currentIDs.contains(id($0)) }.map { removed($0) + change(id($0), "removed") }
            + current.filter { !documentedIDs.contains(id($0)) }.map { added($0) + change(id($0), "added") }
    }

    /// Changed fields of an item present in both, as "WHAT: the document says A; the live config has B".
    private func fields(_ what: String, _ pairs: [(String, String, String)], key: @escaping (TopologyFacts, String) -> String) -> [String] {
        pairs.compactMap { name, old, new in
            old == new ? nil : "\(what): the document says \(name) \(old); the live config has \(new)" + when { key($0, name) }
        }
    }

    private func listenerDrift() -> [String] {
        var out: [String] = []
        let new = Dictionary(live.listeners.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        out += presence(document.listeners, live.listeners, id: \.name, in: \.listeners,
                        removed: { "the document lists listener '\($0.name)' on \($0.listen); the live config has no such listener" },
                        added: { "the live config has listener '\($0.name)' on \($0.listen), which the document does not list" })
        for l in document.listeners {
            guard let n = new[l.name] else { continue }
            func field(_ f: TopologyFacts, _ k: String) -> String {
                guard let x = f.listeners.first(where: { $0.name == l.name }) else { return "" }
                switch k {
                case "address": return x.listen
                case "TLS": return x.tls ? "on" : "off"
                case "limits": return x.limits
                case "timeouts": return x.timeouts
                default: return x.trustedProxies.joined(separator: ", ")
                }
            }
            out += fields("listener '\(l.name)'", [
                ("address", l.listen, n.listen), ("TLS", l.tls ? "on" : "off", n.tls ? "on" : "off"), ("limits", l.limits, n.limits),
                ("timeouts", l.timeouts, n.timeouts),
                ("trusted proxies", l.trustedProxies.joined(separator: ", "), n.trustedProxies.joined(separator: ", ")),
            ], key: field)
        }
        return out
    }

    private func routeDrift() -> [String] {
        var out: [String] = []
        func id(_ r: TopologyFacts.Route) -> String { "\(r.listener)/\(r.name)" }
        let new = Dictionary(live.routes.map { (id($0), $0) }, uniquingKeysWith: { a, _ in a })
        let old = Dictionary(document.routes.map { (id($0), $0) }, uniquingKeysWith: { a, _ in a })
        out += presence(document.routes, live.routes, id: id, in: \.routes,
                        removed: { "the document routes \($0.match) to upstream \($0.upstream) (route '\($0.name)' of listener '\($0.listener)'); the live config has no such route" },
                        added: { "the live config has route '\($0.name)' of listener '\($0.listener)' (\($0.match) → upstream \($0.upstream)), which the document does not list" })
        for r in document.routes {
            guard let n = new[id(r)] else { continue }
            func field(_ f: TopologyFacts, _ k: String) -> String {
                guard let x = f.routes.first(where: { id($0) == id(r) }) else { return "" }
                switch k {
                case "it matches": return x.match
                case "it goes to upstream": return x.upstream
                case "timeouts": return x.timeouts
                case "retries": return x.retries
                default: return x.rateLimit
                }
            }
            out += fields("route '\(r.name)'", [
                ("it matches", r.match, n.match), ("it goes to upstream", r.upstream, n.upstream), ("timeouts", r.timeouts, n.timeouts),
                ("retries", r.retries, n.retries), ("rate limit", r.rateLimit, n.rateLimit),
            ], key: field)
        }
        for listener in Set(document.routes.map(\.listener)).sorted() {
            let before = document.routes.filter { $0.listener == listener && new[id($0)] != nil }.map(\.name)
            let after = live.routes.filter { $0.listener == listener && old[id($0)] != nil }.map(\.name)
            if before != after {
                out.append("listener '\(listener)' tries its routes in another order: the document has \(before.joined(separator: ", ")); the live config has \(after.joined(separator: ", "))"
                           + when { f in f.routes.filter { $0.listener == listener }.map(\.name).joined(separator: ",") })
            }
        }
        return out
    }

    private func upstreamDrift() -> [String] {
        var out: [String] = []
        let new = Dictionary(live.upstreams.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        out += presence(document.upstreams, live.upstreams, id: \.name, in: \.upstreams,
                        removed: { "the document lists upstream \($0.name) with \($0.servers.count) server\($0.servers.count == 1 ? "" : "s"); the live config has no such upstream" },
                        added: { "the live config has upstream \($0.name) (\($0.servers.map(\.address).joined(separator: ", "))), which the document does not list" })
        for u in document.upstreams {
            guard let n = new[u.name] else { continue }
            let servers = { (f: TopologyFacts) in f.upstreams.first { $0.name == u.name }?.servers ?? [] }
            let oldAddresses = u.servers.map(\.address), newAddresses = n.servers.map(\.address)
            if Set(oldAddresses) != Set(newAddresses) {
                var why: [String] = []
                for address in oldAddresses where !newAddresses.contains(address) {
                    why.append("\(address) was removed" + when { servers($0).contains { $0.address == address } ? "yes" : "no" })
                }
                for address in newAddresses where !oldAddresses.contains(address) {
                    why.append("\(address) was added" + when { servers($0).contains { $0.address == address } ? "yes" : "no" })
                }
                out.append("the document lists \(u.servers.count) server\(u.servers.count == 1 ? "" : "s") for upstream \(u.name); the live config has \(n.servers.count): "
                           + why.joined(separator: "; "))
            }
            for server in u.servers {
                guard let now = n.servers.first(where: { $0.address == server.address }), now.weight != server.weight else { continue }
                out.append("upstream \(u.name): server \(server.address) has weight \(server.weight) in the document (\(TopologyFacts.number(server.share))% of traffic); "
                           + "the live config gives it \(now.weight) (\(TopologyFacts.number(now.share))%)"
                           + when { f in servers(f).first { $0.address == server.address }.map { String($0.weight) } ?? "" })
            }
            func field(_ f: TopologyFacts, _ k: String) -> String {
                guard let x = f.upstreams.first(where: { $0.name == u.name }) else { return "" }
                switch k {
                case "balancing": return x.balance
                case "health check": return x.health
                case "outlier detection": return x.outlier
                case "keep-alive": return x.keepalive
                default: return x.panicThreshold
                }
            }
            out += fields("upstream \(u.name)", [
                ("balancing", u.balance, n.balance), ("health check", u.health, n.health), ("outlier detection", u.outlier, n.outlier),
                ("keep-alive", u.keepalive, n.keepalive), ("panic threshold", u.panicThreshold, n.panicThreshold),
            ], key: field)
        }
        return out
    }

    private func alertDrift() -> [String] {
        var out: [String] = []
        func id(_ a: TopologyFacts.Alert) -> String { "\(a.name) on \(a.scope)" }
        let new = Dictionary(live.alerts.map { (id($0), $0) }, uniquingKeysWith: { a, _ in a })
        out += presence(document.alerts, live.alerts, id: id, in: \.alerts,
                        removed: { "the document lists alert \($0.name) on \($0.scope) (\($0.condition)); the live config has no such alert" },
                        added: { "the live config has alert \($0.name) on \($0.scope) (\($0.condition)), which the document does not list" })
        for a in document.alerts {
            guard let n = new[id(a)] else { continue }
            func field(_ f: TopologyFacts, _ k: String) -> String {
                guard let x = f.alerts.first(where: { id($0) == id(a) }) else { return "" }
                return k == "severity" ? x.severity : k == "it fires when" ? x.condition : x.runbook
            }
            out += fields("alert \(a.name) on \(a.scope)", [("severity", a.severity, n.severity), ("it fires when", a.condition, n.condition),
                                                             ("runbook", a.runbook, n.runbook)], key: field)
        }
        return out
    }
}
