import Foundation
import Testing
@testable import BallastConfig

@Suite struct DefaultStackTests {
    @Test func theDefaultStackIsValidAndMatchesTheExample() throws {
        let loaded = try ConfigLoader.load(text: Config.defaultStackYAML, file: "default").get()
        // Only the auth routes are served: other paths get the balancer's 404, as BL019 says.
        // (BL032 depends on this machine's file limit, so it is left out here.)
        #expect(loaded.warnings.map(\.ruleID).filter { $0 != "BL032" } == ["BL019"])
        #expect(loaded.config.upstream(named: "auth")?.servers.map(\.address.port) == [9101, 9102, 9103])
        #expect(loaded.config.listeners.first?.listen.port == 8080)
        #expect(loaded.config.admin.listen.port == 9900)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent("examples/ballast.yaml"), encoding: .utf8)
        #expect(example.trimmingCharacters(in: .newlines) == Config.defaultStackYAML)
    }
}
