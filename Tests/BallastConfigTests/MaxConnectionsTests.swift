import Foundation
import Testing
@testable import BallastConfig

/// `max_connections` left out is derived from the open-file limit, as HAProxy derives `maxconn`,
/// so the default never trips BL032 on the machine it runs on.
@Suite struct MaxConnectionsTests {
    func listeners(_ written: [Int?]) -> Config {
        var config = Config()
        for (index, limit) in written.enumerated() {
            var listener = Listener(name: "l\(index)", listen: Address(host: "127.0.0.1", port: 8000 + index))
            if let limit { listener.limits.maxConnections = limit }
            config.listeners.append(listener)
        }
        return config
    }

    func derive(_ written: [Int?], hard: Int) -> [Int] {
        var config = listeners(written)
        FileDescriptorLimit.deriveMaxConnections(&config, written: { written[$0] != nil }, hardLimit: hard)
        return config.listeners.map(\.limits.maxConnections)
    }

    @Test func theLimitIsShared() {
        #expect(derive([nil], hard: 20_000) == [9_872])
        #expect(derive([nil, nil], hard: 20_000) == [4_936, 4_936])
        #expect(derive([nil], hard: 1_024) == [384])
        #expect(derive([nil], hard: 1 << 20) == [10_000])
        // Written limits are kept and taken off the budget of the derived ones.
        #expect(derive([2_000, nil], hard: 20_000) == [2_000, 7_872])
        #expect(derive([nil], hard: 100) == [1])
    }

    @Test func aDerivedLimitPassesTheFileLimitRule() throws {
        let text = """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - { name: app, servers: [127.0.0.1:9101, 127.0.0.1:9102], health: { path: /healthz } }
            """
        let loaded = try ConfigLoader.load(text: text, file: "m.yaml").get()
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.config.listeners[0].limits.maxConnectionsDerived)
        #expect(loaded.config.listeners[0].limits.maxConnections == min(10_000, (FileDescriptorLimit.hard - 256) / 2))
        let written = try ConfigLoader.load(text: text.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:8080\n    limits: { max_connections: 500 }"),
                                            file: "m.yaml").get().config
        #expect(!written.listeners[0].limits.maxConnectionsDerived && written.listeners[0].limits.maxConnections == 500)
    }
}
