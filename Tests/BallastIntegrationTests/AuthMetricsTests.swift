import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

/// Auth metrics as Prometheus exposes them (the registry is shared by the whole test process,
/// so the checks compare before and after rather than expect exact totals).
@Suite struct AuthMetricsTests {
    func value(_ series: String) -> Double {
        for line in TestMetrics.text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }

    @Test func failedRequestsAndLoginsAreCounted() async throws {
        let registry = TestMetrics.registry
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-metrics-\(UUID().uuidString)/a.sqlite").path
        let store = try SQLiteAuthStore(path: path)
        try await store.migrate()
        let service = try await AuthService(store: store, hasher: PasswordHasher(cost: 4))
        let app = Application(router: AuthAPI(service: service, metricsText: { registry.emitToBuffer() }).router())
        let unauthorized = #"ballast_auth_requests_total{method="POST",path="/auth/login",code="401"}"#
        let failures = #"ballast_auth_logins_total{result="failure"}"#
        let before = (value(unauthorized), value(failures))
        try await app.test(.router) { client async throws in
            let response = try await client.execute(uri: "/auth/login", method: .post, headers: [.contentType: "application/json"],
                                                    body: ByteBuffer(string: #"{"username":"nobody","password":"wrong password!"}"#))
            #expect(response.status == .unauthorized)
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains("ballast_auth_request_duration_seconds_bucket"))
        }
        #expect(value(unauthorized) >= before.0 + 1)
        #expect(value(failures) >= before.1 + 1)
    }
}
