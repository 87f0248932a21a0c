import BallastAPI
import BallastConfig
import BallastStorage
import Foundation
import Testing
@testable import BallastControl

/// The stores a balancer keeps state in, each kind through the same tests: memory, a SQLite
/// file, and PostgreSQL when `BALLAST_TEST_POSTGRES` names a server (scripts/test starts one).
enum StateKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, postgres

    static var durable: [StateKind] {
        ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"] == nil ? [.sqlite] : [.sqlite, .postgres]
    }
    static var available: [StateKind] { [.memory] + durable }

    var testDescription: String { rawValue }

    /// A fresh state URL: a new SQLite file, or a new schema in the test PostgreSQL.
    func freshURL() -> String? {
        switch self {
        case .memory: return nil
        case .sqlite:
            return "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("ballast-state-\(UUID().uuidString)/s.sqlite").path
        case .postgres:
            let base = ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"]!
            return base + (base.contains("?") ? "&" : "?") + "schema=s_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        }
    }
}

@Suite struct StateStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: StateKind.available) func timelineFiltersBySinceUntilKindsAndLimit(kind: StateKind) async throws {
        let store = try await StateStores.open(kind.freshURL()).timeline
        let kinds = ["config.applied", "server.down", "server_down", "alert.firing", "rollout.rolled_back"]
        for (index, name) in kinds.enumerated() {
            try await store.append(TimelineEvent(at: t0.addingTimeInterval(Double(index)), source: "test", kind: name,
                                                 subject: index == 0 ? "v1" : nil, message: "event \(index)",
                                                 details: index == 3 ? ["severity": "page"] : nil))
        }
        let all = try await store.events(EventQuery())
        #expect(all.map(\.message) == (0..<5).map { "event \($0)" })
        #expect(all[0].subject == "v1" && all[3].details == ["severity": "page"])
        #expect(Set(all.compactMap(\.id)).count == 5)
        // Prefixes end in a dot and are not patterns: `server.` does not match `server_down`.
        #expect(try await store.events(EventQuery(kinds: ["server."])).map(\.kind) == ["server.down"])
        #expect(try await store.events(EventQuery(kinds: ["server_down", "alert."])).map(\.kind) == ["server_down", "alert.firing"])
        #expect(try await store.events(EventQuery(kinds: [])).isEmpty)
        #expect(try await store.events(EventQuery(since: t0.addingTimeInterval(1), until: t0.addingTimeInterval(3))).count == 3)
        #expect(try await store.events(EventQuery(limit: 2, newestFirst: true)).map(\.message) == ["event 4", "event 3"])
    }

    /// Pages of events, oldest or newest first, cover everything exactly once in order, even
    /// when many events share an instant and a page ends in the middle of them.
    @Test(arguments: StateKind.available) func pagesCoverEveryEventOnceInOrder(kind: StateKind) async throws {
        let store = try await StateStores.open(kind.freshURL()).timeline
        // 57 events in 12 instants: runs of equal times that page boundaries cut through.
        var expected: [String] = []
        for index in 0..<57 {
            let at = t0.addingTimeInterval(Double(index / 5) * 0.123_457)
            try await store.append(TimelineEvent(at: at, source: "test", kind: "k", message: "e\(index)"))
            expected.append("e\(index)")
        }
        for newestFirst in [false, true] {
            var seen: [String] = []
            var cursor: EventCursor?
            var pages = 0
            repeat {
                let query = EventQuery(since: t0, limit: 7, newestFirst: newestFirst, after: cursor)
                let page = try await store.events(query)
                seen += page.map(\.message)
                // Through its text, as the admin API hands it out and gets it back.
                cursor = query.next(after: page).flatMap { EventCursor(text: $0.text) }
                pages += 1
                if page.count < 7 { break }
            } while pages < 100
            #expect(seen == (newestFirst ? expected.reversed() : expected), "newest first: \(newestFirst)")
            #expect(pages == 9)  // 8 full pages and a last one of 1
        }
        // A cursor reads back from its text exactly.
        let cursor = EventCursor(at: t0.addingTimeInterval(0.123_457), id: 42)
        #expect(EventCursor(text: cursor.text) == cursor)
        #expect(EventCursor(text: "nan_1") == nil && EventCursor(text: "1_x") == nil && EventCursor(text: "") == nil)
    }

    @Test(arguments: StateKind.available) func vitalsComeBackInTheirRange(kind: StateKind) async throws {
        let store = try await StateStores.open(kind.freshURL()).timeline
        for second in 0..<5 {
            try await store.appendVitals(Vitals(at: t0.addingTimeInterval(Double(second)),
                                                upstreams: ["auth": .init(requests: Double(second * 10), errors: 0, healthyServers: 3, servers: 3)],
                                                activeSessions: 42))
        }
        let read = try await store.vitals(from: t0.addingTimeInterval(1), to: t0.addingTimeInterval(3))
        #expect(read.map(\.at) == [1, 2, 3].map { t0.addingTimeInterval($0) })
        #expect(read.first?.upstreams["auth"]?.requests == 10 && read.first?.activeSessions == 42)
    }

    @Test(arguments: StateKind.durable) func aSecondConnectionSeesTheSameState(kind: StateKind) async throws {
        let url = try #require(kind.freshURL())
        let first = try await StateStores.open(url)
        try await first.timeline.append(TimelineEvent(at: t0, source: "test", kind: "config.applied", message: "kept"))
        try await first.versions.record(ConfigVersion(version: try await first.versions.reserveVersion(), author: "alice", outcome: "applied", source: "a: 1"))
        let second = try await StateStores.open(url)  // another process, as a restart or another balancer is
        #expect(try await second.timeline.events(EventQuery()).map(\.message) == ["kept"])
        #expect(try await second.versions.latestApplied()?.author == "alice")
        #expect(try await second.versions.reserveVersion() == 2)
    }

    @Test(arguments: StateKind.available) func versionNumbersAreUniqueAcrossBalancers(kind: StateKind) async throws {
        let url = kind.freshURL()
        let a = try await StateStores.open(url).versions
        let b = url == nil ? a : try await StateStores.open(url).versions
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 { group.addTask { try await (index % 2 == 0 ? a : b).reserveVersion() } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(Set(numbers).count == 20)
        #expect(numbers.min() == 1)
    }

    @Test(arguments: StateKind.available) func historyKeepsOutcomesAndOnlyAppliedVersionsAreLatest(kind: StateKind) async throws {
        let store = try await StateStores.open(kind.freshURL()).versions
        let v1 = try await store.reserveVersion()
        try await store.record(ConfigVersion(version: v1, author: "boot", outcome: "applied", source: "one", changes: [], origin: "lb1"))
        try await store.record(ConfigVersion(version: 0, author: "bob", outcome: "refused: preflight", source: "bad"))
        let v2 = try await store.reserveVersion()
        try await store.record(ConfigVersion(version: v2, author: "carol", outcome: "rolled back: error rate", source: "worse",
                                             changes: ["upstream auth: weight 1 → 0"], origin: "lb2"))
        let history = try await store.history(limit: 10)
        #expect(history.map(\.author) == ["boot", "bob", "carol"])
        #expect(history[2].changes == ["upstream auth: weight 1 → 0"] && history[2].origin == "lb2")
        #expect(try await store.latestApplied()?.version == v1)
        #expect(try await store.history(limit: 1).map(\.author) == ["carol"])
        // A version number is stored once.
        await #expect(throws: (any Error).self) {
            try await store.record(ConfigVersion(version: v1, author: "mallory", outcome: "applied", source: "again"))
        }
        #expect(try await store.latestApplied()?.author == "boot")
    }

    @Test(arguments: StateKind.available) func balancersReportWhatTheyRunAndGoQuietWhenTheyStop(kind: StateKind) async throws {
        let store = try await StateStores.open(kind.freshURL()).versions
        // "Recent" is ten minutes here and "quiet" an hour ago: a loaded machine takes seconds per step.
        try await store.report(BalancerInstance(id: "lb1", admin: "http://10.0.0.21:9900", version: 3, configHash: "abc"))
        try await store.report(BalancerInstance(id: "lb2", admin: "http://10.0.0.22:9900", version: 2, configHash: "def",
                                                seenAt: Date().addingTimeInterval(-3_600), note: "refused v3: bad"))
        #expect(try await store.instances(within: 600).map(\.id) == ["lb1"])
        let both = try await store.instances(within: 7_200)
        #expect(both.map(\.id) == ["lb1", "lb2"] && both[1].note == "refused v3: bad")
        try await store.report(BalancerInstance(id: "lb2", admin: "http://10.0.0.22:9900", version: 3, configHash: "abc"))
        #expect(try await store.instances(within: 600).map(\.version) == [3, 3])
    }

    @Test(.enabled(if: StateKind.durable.contains(.postgres))) func anAppliedVersionIsNotifiedToOtherBalancersAfterCommit() async throws {
        let url = try #require(StateKind.postgres.freshURL())
        let writer = try await StateStores.open(url).versions
        let listener = try await StateStores.open(url).versions
        let heard = Task {
            var versions: [Int] = []
            for await version in listener.notifications() where version != 0 {
                versions.append(version)
                if versions.count == 2 { break }
            }
            return versions
        }
        try await Task.sleep(for: .milliseconds(500))  // LISTEN is in place
        try await writer.record(ConfigVersion(version: 0, author: "bob", outcome: "refused: preflight", source: "x"))  // not announced
        try await writer.record(ConfigVersion(version: 7, author: "alice", outcome: "applied", source: "y"))
        try await writer.record(ConfigVersion(version: 8, author: "alice", outcome: "applied", source: "z"))
        let result = try await withThrowingTaskGroup(of: [Int]?.self) { group in
            group.addTask { await heard.value }
            group.addTask { try await Task.sleep(for: .seconds(10)); return nil }
            defer { group.cancelAll(); heard.cancel() }
            return try await group.next() ?? nil
        }
        #expect(result == [7, 8])
    }

    @Test func anUnreachableDatabaseIsUnavailableQuicklyNotAHang() async throws {
        // A port where nothing listens: the pool keeps trying; callers get an answer in time.
        let database = SharedDatabase(url: try PostgresURL("postgres://ballast:secret@127.0.0.1:1/ballast"), operationTimeout: .seconds(1))
        defer { database.close() }
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: StorageUnavailable.self) { try await database.ping() }
        // The operation timeout is 1 s; the bound leaves room for a loaded 2-core machine (3.37 s
        // was seen against 3 s) and still tells an answer from the pool's endless retrying.
        #expect(clock.now - start < .seconds(8))
        do { try await database.ping() } catch { #expect(!"\(error)".contains("secret")) }
    }

    @Test func postgresURLsAreCheckedAndNeverPrintTheirPassword() throws {
        let url = try PostgresURL("postgres://ballast:s%40cret@db.example:6543/ballast?schema=team_a&pool=4")
        #expect(url.host == "db.example" && url.port == 6543 && url.password == "s@cret" && url.schema == "team_a" && url.maximumConnections == 4)
        #expect(url.redacted == "postgres://ballast:***@db.example:6543/ballast?schema=team_a")
        #expect(StateStores.redact("postgres://u:hunter2@h/d") == "postgres://u:***@h:5432/d")
        for bad in ["postgres://h/d", "postgres://u@/d", "postgres://u@h", "postgres://u@h/d?schema=a;drop", "postgres://u@h/d?pool=0",
                    "postgres://u@h/d?sslmode=require&x=1", "mysql://u@h/d", "postgres://u@h/d?sslmode=allow",
                    "postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "postgres://u@h/d?sslmode=prefer&sslrootcert=/etc/hostname"] {
            #expect(throws: PostgresURL.Invalid.self, "\(bad)") { try PostgresURL(bad) }
        }
    }
}

@Suite struct StartupConfigTests {
    func loaded(_ weight: Int) throws -> ConfigLoader.Loaded {
        try ConfigLoader.load(text: """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:18080
                routes: [ { name: all, match: { path_prefix: / }, upstream: app } ]
            upstreams:
              - name: app
                servers: [ { address: 127.0.0.1:18081, weight: \(weight) } ]
            """, file: "test.yaml").get()
    }

    @Test(arguments: StateKind.available) func theFirstBalancerSeedsTheStoreAndTheSameFileKeepsItsVersion(kind: StateKind) async throws {
        let stores = try await StateStores.open(kind.freshURL())
        let history = ConfigHistory(store: stores.versions, instance: "lb1")
        let first = try await StartupConfig.decide(file: try loaded(1), path: "a.yaml", history: history, shared: stores.shared)
        #expect(first.version == 1 && first.notes.isEmpty)
        let again = try await StartupConfig.decide(file: try loaded(1), path: "a.yaml", history: history, shared: stores.shared)
        #expect(again.version == 1)
        #expect(try await stores.versions.history(limit: 10).count == 1)
    }

    @Test(arguments: StateKind.durable) func sharedStateOutranksAStaleFileButOneHostTakesTheFile(kind: StateKind) async throws {
        let stores = try await StateStores.open(kind.freshURL())
        let history = ConfigHistory(store: stores.versions, instance: "lb1")
        _ = try await StartupConfig.decide(file: try loaded(1), path: "a.yaml", history: history, shared: stores.shared)
        let restarted = try await StartupConfig.decide(file: try loaded(5), path: "old.yaml", history: history, shared: stores.shared)
        let (one, five) = (try loaded(1).config.sourceText, try loaded(5).config.sourceText)
        if stores.shared {
            // A balancer restarted with another file runs the shared version and says so.
            #expect(restarted.version == 1 && restarted.loaded.config.sourceText == one)
            #expect(restarted.notes.first?.contains("differs from the shared config v1") == true)
        } else {
            #expect(restarted.version == 2 && restarted.loaded.config.sourceText == five)
            #expect(try await stores.versions.history(limit: 10).last?.changes.isEmpty == false)
        }
    }

    @Test(.enabled(if: StateKind.durable.contains(.postgres))) func aSharedVersionInvalidHereLeavesTheFileInForceAsVersionZero() async throws {
        let stores = try await StateStores.open(StateKind.postgres.freshURL())
        try await stores.versions.record(ConfigVersion(version: try await stores.versions.reserveVersion(), author: "alice",
                                                       outcome: "applied", source: "version: 1\nlisteners: []\nbogus: true\n"))
        let history = ConfigHistory(store: stores.versions, instance: "lb2")
        let started = try await StartupConfig.decide(file: try loaded(1), path: "a.yaml", history: history, shared: true)
        #expect(started.version == 0)
        #expect(started.notes.first?.contains("does not validate on this host") == true)
    }
}
