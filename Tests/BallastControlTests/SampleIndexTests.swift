import Testing
@testable import BallastControl

/// `SampleIndex` hands each selector every sample it matches (and may hand more, never fewer).
@Suite struct SampleIndexTests {
    static let samples: [MetricSample] = {
        var out: [MetricSample] = []
        for route in ["a", "b", "c"] {
            for code in ["200", "503"] {
                out.append(MetricSample(name: "ballast_requests_total", labels: ["route": route, "code": code], value: 1))
            }
            for le in ["0.1", "+Inf"] {
                out.append(MetricSample(name: "ballast_request_duration_seconds_bucket", labels: ["route": route, "le": le], value: 2))
            }
        }
        out.append(MetricSample(name: "ballast_requests_total", labels: ["code": "200"], value: 5))  // no route label
        out.append(MetricSample(name: "ballast_requests_total", labels: ["route": "", "code": "200"], value: 6))
        out.append(MetricSample(name: "other", labels: ["route": "a"], value: 7))
        return out
    }()

    static let selectors: [Selector] = [
        Selector(name: "ballast_requests_total"),
        Selector(name: "ballast_requests_total", matchers: ["route": .equals("a")]),
        Selector(name: "ballast_requests_total", matchers: ["route": .equals("b"), "code": .equals("503")]),
        Selector(name: "ballast_requests_total", matchers: ["route": .equals("")]),
        Selector(name: "ballast_requests_total", matchers: ["code": .prefix("5")]),
        Selector(name: "ballast_request_duration_seconds_bucket", matchers: ["route": .oneOf(.init(["a", "c"]))]),
        Selector(name: "ballast_request_duration_seconds_bucket", matchers: ["route": .equals("c"), "le": .equals("+Inf")]),
        Selector(name: "missing"),
    ]

    @Test func everySelectorGetsEveryMatchingSampleAndOnlyItsMetric() {
        var index = SampleIndex(Self.samples)
        for selector in Self.selectors {
            let candidates = index.candidates(selector)
            let wanted = Self.samples.filter(selector.matches)
            #expect(wanted.allSatisfy(candidates.contains), "\(selector) lost a sample")
            #expect(candidates.allSatisfy { $0.name == selector.name })
            // Asked again, the same answer from the index built the first time.
            #expect(index.candidates(selector) == candidates)
        }
        #expect(index.candidates(Self.selectors[1]).count == 2, "a required label narrows the scan to its series")
    }

    @Test func choicesAreOneKeyWhateverTheirSetsOrder() {
        let a = Selector.Choices(["r1", "r2", "r3"]), b = Selector.Choices(["r1", "r2", "r3"])
        #expect(a == b && a.description == b.description && a.set.contains("r2") && !a.set.contains("r4"))
    }
}
