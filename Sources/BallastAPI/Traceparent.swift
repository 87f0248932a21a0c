/// A W3C `traceparent` header value as text (`VV-TRACE-PARENT-FLAGS`), for the services that
/// read it from a parsed header (the auth service's log and tracer). The balancer parses raw
/// bytes on its request path (`TraceContext` in BallastProxy).
package struct Traceparent: Sendable, Equatable {
    /// 32 and 16 lower-case hex digits.
    package var traceID: String
    package var parentID: String
    package var sampled: Bool

    /// nil for anything the spec calls invalid: not lower-case hex, the wrong lengths, version
    /// `ff`, version 00 with more fields, an all-zero trace id or parent id.
    package init?(_ value: String) {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        let hex = { (part: Substring) in part.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) } }
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.prefix(4).allSatisfy(hex), parts[0] != "00" || parts.count == 4,
              parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }),
              let flags = UInt8(parts[3], radix: 16) else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        sampled = flags & 1 == 1
    }
}
