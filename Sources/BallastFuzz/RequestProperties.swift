import BallastConfig
import BallastProxy
import Synchronization

/// Properties of the request path, for any byte stream a client may send.
///
/// - The verdict does not depend on how the stream is split into reads (whole, in uneven
///   pieces, one byte at a time): a proxy whose framing depends on TCP segmentation can be
///   desynchronised from its servers. Two things may differ and are compared without: how much
///   of a body went on before its framing turned out invalid (it is streamed; the request is
///   then aborted and both connections closed), and which server a request without a hash key
///   went to (it is balanced like any other).
/// - Every head forwarded is unambiguous: it ends in CRLF CRLF, has no NUL, no bare CR or LF,
///   no obsolete line folding, tokens for its method and header names, a visible-ASCII target,
///   at most one Content-Length, never Content-Length with Transfer-Encoding, and a chunked
///   framing exactly when it has Transfer-Encoding.
/// - A body forwarded is exactly as long as its framing says, and the bytes forwarded never
///   exceed the bytes received.
/// - A refusal has one of the statuses the proxy answers with, and a refusal that closes the
///   connection is the last thing on it.
enum RequestProperties {
    static let yaml = """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:8080
            limits: { max_header_bytes: 2048, max_body_bytes: 4096 }
            routes:
              - name: api
                match: { host: api.example, path_prefix: /api, methods: [GET, POST, PUT] }
                upstream: users
              - name: static
                match: { path_prefix: /static }
                upstream: assets
        upstreams:
          - name: users
            balance: consistent_hash
            hash_on: header:x-user
            servers: [127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.1:9003]
          - name: assets
            balance: consistent_hash
            hash_on: cookie:sid
            servers: [127.0.0.1:9004, 127.0.0.1:9005]
        """

    /// Compiled once: the balancers are consistent-hash, so a pick depends only on the request.
    /// A balancer belongs to one event loop; `exclusive` keeps parallel tests off it at once.
    static let exclusive = Mutex(())
    static let runtime: ProxyRuntime = {
        guard case .success(let loaded) = ConfigLoader.load(text: yaml, file: "request-fuzz.yaml") else {
            fatalError("the request fuzzer's own config does not load")
        }
        do {
            return try RuntimeCompiler(loopCount: 1).compile(loaded.config, version: 1)
        } catch {
            fatalError("the request fuzzer's own config does not compile: \(error)")
        }
    }()

    static let statuses: Set<Int> = [400, 404, 408, 413, 431, 501, 505]

    static func check(_ input: [UInt8]) -> String? {
        SplitReads.check(input, largestPiece: 17, run: run, check: { checkEvents($0, input: input) }, comparable: comparable)
    }

    /// Events as compared across reads: without the body bytes streamed before a refusal, and
    /// with every server reduced to "some server".
    static func comparable(_ events: [RequestStream.Event]) -> [RequestStream.Event] {
        var out: [RequestStream.Event] = []
        for event in events {
            switch event {
            case .refused:
                if case .body = out.last { out.removeLast() }
                out.append(event)
            case .request(let head, let method, let target, let framing, let close, let route, let server):
                out.append(.request(head: head, method: method, target: target, framing: framing, close: close,
                                    route: route, server: server.map { _ in "some server" }))
            default:
                out.append(event)
            }
        }
        return out
    }

    static func run(_ input: [UInt8], pieces: [Int]) -> [RequestStream.Event] {
        exclusive.withLock { _ in feed(input, pieces: pieces) }
    }

    private static func feed(_ input: [UInt8], pieces: [Int]) -> [RequestStream.Event] {
        var stream = RequestStream(runtime: runtime, listener: "public")!
        var offset = 0
        for size in pieces where offset < input.count {
            let end = min(input.count, offset + size)
            stream.feed(input[offset..<end])
            offset = end
        }
        return stream.events
    }

    static func checkEvents(_ events: [RequestStream.Event], input: [UInt8]) -> String? {
        var forwarded = 0
        var expectedBody: Int?   // nil: chunked or no request open
        var bodySoFar = 0
        var open = false
        for (index, event) in events.enumerated() {
            switch event {
            case .request(let head, _, _, let framing, _, let route, let server):
                if open { return "event \(index): a request began before the previous one ended" }
                if let broken = checkHead(head, framing: framing) { return "event \(index): \(broken)" }
                if route == nil || server == nil { return "event \(index): forwarded without a route and a server" }
                forwarded += head.count
                open = true
                bodySoFar = 0
                expectedBody = framing == "none" ? 0 : framing.hasPrefix("length ") ? Int(framing.dropFirst(7)) : nil
            case .body(let n):
                guard open else { return "event \(index): body bytes outside a request" }
                bodySoFar += n
                forwarded += n
                if let expected = expectedBody, bodySoFar > expected {
                    return "event \(index): \(bodySoFar) body bytes forwarded for a body of \(expected)"
                }
            case .end:
                guard open else { return "event \(index): a request ended that never began" }
                if let expected = expectedBody, bodySoFar != expected {
                    return "event \(index): body ended after \(bodySoFar) bytes, framing said \(expected)"
                }
                open = false
            case .refused(let status, _, let close):
                if !statuses.contains(status) { return "event \(index): refused with status \(status)" }
                if close, index != events.count - 1 { return "event \(index): events after a refusal that closed the connection" }
                open = false
            }
        }
        if forwarded > input.count { return "forwarded \(forwarded) bytes of \(input.count) received" }
        return nil
    }

    static func checkHead(_ head: [UInt8], framing: String) -> String? {
        let cr: UInt8 = 13, lf: UInt8 = 10
        guard head.count >= 4, head.suffix(4).elementsEqual([cr, lf, cr, lf]) else { return "a head that does not end in CRLF CRLF" }
        for (i, b) in head.enumerated() {
            if b == 0 { return "a NUL byte in a forwarded head" }
            if b == cr, i + 1 >= head.count || head[i + 1] != lf { return "a bare CR in a forwarded head" }
            if b == lf, i == 0 || head[i - 1] != cr { return "a bare LF in a forwarded head" }
        }
        var lines = head.split(separator: lf, omittingEmptySubsequences: false).map { $0.dropLast() }  // drop each CR
        lines.removeLast(2)   // the empty line and what follows the final LF
        guard let requestLine = lines.first else { return "a head without a request line" }
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return "a request line of \(parts.count) parts" }
        if parts[0].isEmpty || !parts[0].allSatisfy(isTchar) { return "a method that is not a token" }
        if parts[1].isEmpty || !parts[1].allSatisfy({ $0 > 32 && $0 < 127 }) { return "a target that is not visible ASCII" }
        if !(parts[2].elementsEqual("HTTP/1.1".utf8) || parts[2].elementsEqual("HTTP/1.0".utf8)) { return "a version other than HTTP/1.x" }
        var contentLengths = 0
        var transferEncodings = 0
        for line in lines.dropFirst() {
            guard let first = line.first else { return "an empty header line inside the head" }
            if first == 32 || first == 9 { return "obsolete line folding forwarded" }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy(isTchar) else { return "a header name that is not a token" }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            if name == "content-length" { contentLengths += 1 }
            if name == "transfer-encoding" { transferEncodings += 1 }
        }
        if contentLengths > 1 { return "\(contentLengths) Content-Length headers forwarded" }
        if contentLengths > 0 && transferEncodings > 0 { return "Content-Length and Transfer-Encoding forwarded together" }
        if (transferEncodings > 0) != (framing == "chunked") { return "framing \(framing) with \(transferEncodings) Transfer-Encoding headers" }
        return nil
    }

    /// RFC 9110's token characters, written out here rather than taken from the parser: the
    /// property must not share the code it judges.
    static func isTchar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
