import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

/// The incident view links the requests that failed (issue 24, part 2): through a real
/// balancer, the 5xx answers a client got appear in the postmortem of their window with the
/// request id the client got back and the trace id it sent.
@Suite struct FailedRequestsTests {
    @Test func thePostmortemOfAWindowListsItsFailedRequestsByTheirIds() async throws {
        _ = TestMetrics.registry
        let backend = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [backend.address], route: "failing") }
        defer { Task { await proxy.stop(); await backend.stop() } }
        let from = Date().addingTimeInterval(-1)
        let trace = "0af7651916cd43dd8448eb211c80319c"
        let failed = try await fetch(port: proxy.port, .GET, "/status/503", headers: [("traceparent", "00-\(trace)-b7ad6b7169203331-01")])
        #expect(failed.status == 503)
        let other = try await fetch(port: proxy.port, .POST, "/status/500")
        #expect(other.status == 500)
        #expect(try await fetch(port: proxy.port, .GET, "/").status == 200)  // a success is not listed
        let ids = [failed, other].compactMap { $0.headers["X-Request-Id"].first }
        #expect(ids.count == 2)
        let kept = await proxy.balancer.failedRequests(from: from, to: Date())
        #expect(kept.map(\.status) == [503, 500] && kept.map(\.requestID) == ids && kept.first?.traceID == trace)
        #expect(kept.allSatisfy { $0.route == "failing" && $0.server == backend.address })

        let api = AdminAPI(balancer: proxy.balancer, history: ConfigHistory(), registry: TestMetrics.registry)
        let router = Router()
        api.addRoutes(to: router)
        try await Application(router: router).test(.router) { client async throws in
            let window = "from=\(ISOTime.format(from))&to=\(ISOTime.format(Date().addingTimeInterval(1)))"
            let draft = String(buffer: try await client.execute(uri: "/api/v1/postmortem?\(window)", method: .get).body)
            #expect(draft.contains("2 requests answered with a 5xx: 1 × 500, 1 × 503"), "\(draft)")
            for id in ids { #expect(draft.contains("`\(id)`")) }
            #expect(draft.contains("`\(trace)`"))
        }
    }
}
