/// The routes of one listener compiled for lookup: the first route (in config order) whose
/// match a request meets, at a cost that follows the request's path length, not the number of
/// routes (pure; `RouteTableTests` check it against the ordered scan on generated tables).
///
/// Routes are grouped by host (one group for routes without `host`), and each group is a trie
/// over the bytes of the paths: a `path_prefix` route sits on the node where its prefix ends, a
/// `path` route on its own list there, a route without either on the root. A lookup walks the
/// request's path once through the trie of its host and of the any-host group, and among the
/// routes on the nodes passed takes the lowest index whose methods allow the request. Methods
/// are a bit set for the common ones.
package struct RouteTable: Sendable {
    private struct Node: Sendable {
        /// Children by next byte, kept sorted by byte.
        var bytes: [UInt8] = []
        var children: [Int32] = []
        /// `path_prefix` routes (and, on the root, routes without a path) ending here, ascending.
        var prefixRoutes: [Int32] = []
        /// `path` routes equal to the path up to here, ascending.
        var exactRoutes: [Int32] = []
    }

    private struct Trie: Sendable {
        var nodes: [Node] = [Node()]

        mutating func insert(_ path: some Collection<UInt8>, route: Int32, exact: Bool) {
            var node = 0
            for byte in path {
                let n = nodes[node]
                if let i = n.bytes.firstIndex(of: byte) {
                    node = Int(n.children[i])
                } else {
                    let child = Int32(nodes.count)
                    nodes.append(Node())
                    let at = n.bytes.firstIndex { $0 > byte } ?? n.bytes.count
                    nodes[node].bytes.insert(byte, at: at)
                    nodes[node].children.insert(child, at: at)
                    node = Int(child)
                }
            }
            if exact { nodes[node].exactRoutes.append(route) } else { nodes[node].prefixRoutes.append(route) }
        }

        /// The lowest route below `bound` on the path through `path` whose methods allow `method`.
        func first(path: String.UTF8View, method: MethodSet.Bit, methods: [MethodSet], below bound: Int32) -> Int32? {
            var best = bound
            var node = 0
            var index = path.startIndex
            while true {
                let n = nodes[node]
                for route in n.prefixRoutes {
                    if route >= best { break }
                    if methods[Int(route)].allows(method) { best = route; break }
                }
                guard index != path.endIndex else {
                    for route in n.exactRoutes {
                        if route >= best { break }
                        if methods[Int(route)].allows(method) { best = route; break }
                    }
                    break
                }
                let byte = path[index]
                path.formIndex(after: &index)
                guard let i = n.bytes.firstIndex(of: byte) else { break }
                node = Int(n.children[i])
            }
            return best < bound ? best : nil
        }

        /// Routes whose prefix is a prefix of `path` (and the exact routes equal to it).
        func along(_ path: some Collection<UInt8>) -> [Int32] {
            var found: [Int32] = []
            var node = 0
            found += nodes[0].prefixRoutes
            for byte in path {
                guard let i = nodes[node].bytes.firstIndex(of: byte) else { return found }
                node = Int(nodes[node].children[i])
                found += nodes[node].prefixRoutes
            }
            return found + nodes[node].exactRoutes
        }
    }

    /// The methods a route allows: a bit per common method, the others by name.
    package struct MethodSet: Sendable {
        package typealias Bit = UInt16
        static let known = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
        /// Any method (no `methods` in the match).
        var any = true
        var bits: Bit = 0
        var others: [String] = []

        init(_ methods: [String]?) {
            guard let methods else { return }
            any = false
            for method in methods {
                if let i = Self.known.firstIndex(of: method) { bits |= 1 << Bit(i) } else { others.append(method) }
            }
        }

        /// The bit of `method`, or 0 for one that is not among the common ones.
        package static func bit(_ method: String) -> Bit {
            switch method {
            case "GET": 1 << 0
            case "HEAD": 1 << 1
            case "POST": 1 << 2
            case "PUT": 1 << 3
            case "DELETE": 1 << 4
            case "PATCH": 1 << 5
            case "OPTIONS": 1 << 6
            case "TRACE": 1 << 7
            case "CONNECT": 1 << 8
            default: 0
            }
        }

        func allows(_ bit: Bit) -> Bool { any || bits & bit != 0 }
        func allows(_ bit: Bit, name: String) -> Bool { any || (bit != 0 ? bits & bit != 0 : others.contains(name)) }
    }

    private let methods: [MethodSet]
    /// Routes with a method outside the common ones: such a request is checked by name.
    private let hasOtherMethods: Bool
    private var anyHost = Trie()
    private var byHost: [String: Trie] = [:]
    package let count: Int

    package init(_ matches: [Match]) {
        count = matches.count
        methods = matches.map { MethodSet($0.methods) }
        hasOtherMethods = methods.contains { !$0.others.isEmpty }
        for (i, match) in matches.enumerated() {
            let route = Int32(i)
            let exact = match.path != nil
            let path = match.path ?? match.pathPrefix ?? ""
            // Both `path` and `path_prefix`: the exact path decides, or nothing ever matches.
            if let full = match.path, let prefix = match.pathPrefix, !full.utf8.starts(with: prefix.utf8) { continue }
            if let host = match.host {
                byHost[host, default: Trie()].insert(path.utf8, route: route, exact: exact)
            } else {
                anyHost.insert(path.utf8, route: route, exact: exact)
            }
        }
    }

    /// The index of the first route whose match `method`, `path` and `host` (as the client sent
    /// it: any case, with or without a port) meet, as the ordered scan would find it.
    package func first(method: String, path: String, host: String) -> Int? {
        let bit = MethodSet.bit(method)
        if bit == 0, hasOtherMethods { return slowFirst(method: method, path: path, host: host) }
        var bound = Int32(count)
        if !byHost.isEmpty, let trie = byHost[Self.normalized(host)],
           let found = trie.first(path: path.utf8, method: bit, methods: methods, below: bound) {
            bound = found
        }
        if let found = anyHost.first(path: path.utf8, method: bit, methods: methods, below: bound) { bound = found }
        return bound < Int32(count) ? Int(bound) : nil
    }

    /// With a method outside the common ones, routes are compared by name along the same tries.
    private func slowFirst(method: String, path: String, host: String) -> Int? {
        var candidates = anyHost.along(path.utf8)
        if let trie = byHost[Self.normalized(host)] { candidates += trie.along(path.utf8) }
        return candidates.filter { methods[Int($0)].allows(0, name: method) }.min().map(Int.init)
    }

    /// Routes that could shadow a route matching `path` exactly or by prefix: the routes whose
    /// prefix is a prefix of it, and the exact routes equal to it, of its host and of any host
    /// (for `ShadowedRoute`, which then compares each with the route below it).
    package func candidates(path: String, host: String?) -> [Int] {
        var found = anyHost.along(path.utf8)
        if let host, let trie = byHost[host] { found += trie.along(path.utf8) }
        return found.map(Int.init)
    }

    /// The host without its port, lower-cased, as `match.host` is written.
    package static func normalized(_ host: String) -> String {
        var h = Substring(host)
        if let colon = h.lastIndex(of: ":"), !h.hasSuffix("]") { h = h[..<colon] }
        return h.lowercased()
    }
}
