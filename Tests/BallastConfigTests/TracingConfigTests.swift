import Testing
@testable import BallastConfig

/// `tracing:`: off by default, an http(s) collector URL, a service name and a sample share.
@Suite struct TracingConfigTests {
    @Test func tracingIsOffUnlessAnEndpointIsGiven() throws {
        let config = try load(goodConfig).get().config
        #expect(config.tracing.endpoint == nil)
        let on = try load(goodConfig + "\ntracing: { otlp_endpoint: \"http://127.0.0.1:4318/v1/traces\", service_name: edge, sample_percent: 5% }\n")
            .get().config.tracing
        #expect(on.endpoint == "http://127.0.0.1:4318/v1/traces" && on.serviceName == "edge" && on.samplePercent == 5)
    }

    @Test(arguments: ["ftp://collector/v1/traces", "collector:4318", "http://", "\"\""])
    func aBadEndpointIsAFindingAtItsPlace(_ endpoint: String) {
        let found = findings(goodConfig + "\ntracing: { otlp_endpoint: \(endpoint) }\n")
        #expect(found.contains { $0.ruleID == "BL003" || $0.message.contains("otlp_endpoint") }, "\(found)")
        #expect(found.contains { ($0.message.contains("is not an http(s) URL") || $0.message.contains("is empty")) && $0.location?.line == 24 }, "\(found)")
    }

    @Test func anUnknownKeyOrAShareOverAHundredIsRefused() {
        #expect(!findings(goodConfig + "\ntracing: { otlp_endpoint: \"http://c:4318/v1/traces\", sampling: 5 }\n").isEmpty)
        #expect(!findings(goodConfig + "\ntracing: { otlp_endpoint: \"http://c:4318/v1/traces\", sample_percent: 150% }\n").isEmpty)
    }
}
