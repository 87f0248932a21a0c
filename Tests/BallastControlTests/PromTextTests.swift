import Testing
@testable import BallastControl

/// `PromText` reads the text format byte by byte: names, escaped label values, special values,
/// CRLF line ends, and skips what it cannot read without losing the lines around it.
@Suite struct PromTextTests {
    @Test func samplesWithLabelsEscapesAndSpecialValues() {
        let samples = PromText.parse("""
        # HELP ballast_requests_total Requests.
        # TYPE ballast_requests_total counter
        ballast_requests_total{listener="public",route="auth",code="200"} 42
        ballast_request_duration_seconds_bucket{route="auth", le="+Inf"} 7 1700000000000
        odd{ path="a \\"quoted\\" \\\\ back\\nline", é="ü" } NaN
        up -Inf
        """, extraLabels: ["instance": "x:1"])
        #expect(samples.count == 4)
        #expect(samples[0] == MetricSample(name: "ballast_requests_total", labels: ["listener": "public", "route": "auth", "code": "200", "instance": "x:1"], value: 42))
        #expect(samples[1].labels["le"] == "+Inf" && samples[1].value == 7, "a timestamp after the value is ignored")
        #expect(samples[2].labels["path"] == "a \"quoted\" \\ back\nline" && samples[2].labels["é"] == "ü" && samples[2].value.isNaN)
        #expect(samples[3].value == -.infinity)
    }

    @Test func badLinesAreSkippedAndCRLFIsRead() {
        let samples = PromText.parse("a 1\r\n9bad 2\r\nb{x=\"unclosed} 3\r\nc{x=y} 4\r\nd five\r\n{x=\"1\"} 6\r\ne 7\r\n")
        #expect(samples.map(\.name) == ["a", "e"])
        #expect(samples.map(\.value) == [1, 7])
    }
}
