import Foundation

/// A request the balancer answered with a 5xx (its own or a server's), as the incident view
/// lists it: enough to find its line in the access log (`request_id`) and its trace
/// (`trace_id`) and to see which server answered.
package struct FailedRequest: Sendable, Codable, Equatable {
    package var at: Date
    package var listener: String
    package var route: String
    package var upstream: String
    /// The last server asked, when one was.
    package var server: String?
    package var method: String
    package var path: String
    package var status: Int
    package var requestID: String
    package var traceID: String?
    package var retries: Int
    package var durationMs: Double

    package init(at: Date, listener: String, route: String, upstream: String, server: String?, method: String, path: String,
                 status: Int, requestID: String, traceID: String?, retries: Int, durationMs: Double) {
        self.at = at
        self.listener = listener
        self.route = route
        self.upstream = upstream
        self.server = server
        self.method = method
        self.path = path
        self.status = status
        self.requestID = requestID
        self.traceID = traceID
        self.retries = retries
        self.durationMs = durationMs
    }
}

/// The newest failed requests of one event loop, at most `capacity`: a fixed ring, so a flood
/// of 5xx costs a slot overwrite each and never grows memory.
package struct FailedRequestRing {
    package static let capacity = 512
    private var slots: [FailedRequest] = []
    private var next = 0

    mutating func append(_ request: FailedRequest) {
        if slots.count < Self.capacity {
            slots.append(request)
        } else {
            slots[next] = request
        }
        next = (next + 1) % Self.capacity
    }

    /// Those between `from` and `to`, oldest first.
    func between(_ from: Date, _ to: Date) -> [FailedRequest] {
        let ordered = slots.count < Self.capacity ? slots : Array(slots[next...] + slots[..<next])
        return ordered.filter { $0.at >= from && $0.at <= to }
    }
}
