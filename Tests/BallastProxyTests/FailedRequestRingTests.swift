import Foundation
import Testing
@testable import BallastProxy

/// The incident view's memory of failed requests: the newest of each loop, in order, bounded.
@Suite struct FailedRequestRingTests {
    func request(_ second: Int) -> FailedRequest {
        FailedRequest(at: Date(timeIntervalSince1970: Double(second)), listener: "l", route: "r", upstream: "u", server: nil,
                      method: "GET", path: "/", status: 502, requestID: String(second), traceID: nil, retries: 0, durationMs: 1)
    }

    @Test func itKeepsTheNewestInOrderAndNeverGrowsPastItsCapacity() {
        var ring = FailedRequestRing()
        for second in 0..<10 { ring.append(request(second)) }
        #expect(ring.between(.distantPast, .distantFuture).map(\.requestID) == (0..<10).map(String.init))
        let flood = FailedRequestRing.capacity * 3 + 7
        for second in 10..<flood { ring.append(request(second)) }
        let kept = ring.between(.distantPast, .distantFuture)
        #expect(kept.count == FailedRequestRing.capacity)
        #expect(kept.map(\.requestID) == ((flood - FailedRequestRing.capacity)..<flood).map(String.init))
        // A window: only those inside it.
        let window = ring.between(Date(timeIntervalSince1970: Double(flood - 5)), Date(timeIntervalSince1970: Double(flood - 3)))
        #expect(window.map(\.requestID) == [flood - 5, flood - 4, flood - 3].map(String.init))
    }
}
