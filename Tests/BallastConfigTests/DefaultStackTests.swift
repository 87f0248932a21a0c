import Foundation
import Testing
@testable import BallastConfig

@Suite struct DefaultStackTests {
    @Test func theDefaultStackIsValidAndMatchesTheExample() throws {
        let loaded = try ConfigLoader.load(text: Config.defaultStackYAML, file: "default").get()
        // Only the auth routes are served, on purpose: BL019 is suppressed with its reason.
        // max_connections is derived from the file limit, so BL032 cannot fire on any machine.
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.suppressed.map(\.ruleID) == ["BL019"])
        #expect(loaded.config.listeners[0].limits.maxConnectionsDerived)
        #expect(loaded.config.upstream(named: "auth")?.servers.map(\.address.port) == [9101, 9102, 9103])
        #expect(loaded.config.listeners.first?.listen.port == 8080)
        #expect(loaded.config.admin.listen.port == 9900)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent("examples/ballast.yaml"), encoding: .utf8)
        // The example is the same stack; examples/runbooks is a link to docs/runbooks.
        #expect(example.trimmingCharacters(in: .newlines) == Config.defaultStackYAML)
    }
}
