import Testing
@testable import BallastAuth

/// What the auth service logs as a request's trace and request ids: only well-formed values.
@Suite struct RequestLogTests {
    @Test func aTraceparentsTraceIdIsLoggedOnlyWhenWellFormed() {
        #expect(RequestLogMiddleware.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(RequestLogMiddleware.traceID("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later") == "4bf92f3577b34da6a3ce929d0e0e4736")
        for invalid in ["", "garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                        "00-4bf92f3577b34da6a3ce929d0e0e4736\n-00f067aa0ba902b7-01"] {
            #expect(RequestLogMiddleware.traceID(invalid) == nil, "\(invalid)")
        }
    }

    @Test func aRequestIdIsLoggedOnlyWhenItIsHexOrAUUID() {
        #expect(RequestLogMiddleware.requestID("5f3a9c0d2e1b4a67") == "5f3a9c0d2e1b4a67")
        #expect(RequestLogMiddleware.requestID("0F8FAD5B-D9CB-469F-A165-70867728950E") == "0F8FAD5B-D9CB-469F-A165-70867728950E")
        for invalid in ["", "x\ny", "not hex", String(repeating: "a", count: 65)] {
            #expect(RequestLogMiddleware.requestID(invalid) == nil)
        }
    }
}
