import Foundation
import NIOConcurrencyHelpers
import Testing

/// Upstream pipelining (`keepalive.pipeline_depth`): requests that arrive together share one
/// server connection and one write. Checked at the server's socket, with responses that name
/// their request, so a response handed to the wrong client fails the test.
@Suite(.serialized) struct PipeliningTests {
    static func config(port: Int, backend: PipelineBackend, depth: Int?) -> String {
        simpleConfig(port: port, servers: [backend.address], extraUpstream: depth.map { "    keepalive: { pipeline_depth: \($0) }" } ?? "")
    }

    @Test func pipelinedResponsesReachTheirOwnClients() async throws {
        let backend = try await PipelineBackend.start()
        let proxy = try await ProxyHarness.start({ Self.config(port: $0, backend: backend, depth: 8) }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        for round in 0..<12 {
            // GET with a length, HEAD, chunked, and clients that close after their answer.
            let requests = (0..<16).map { index -> Burst.Request in
                switch index % 4 {
                case 0: Burst.Request(method: "GET", path: "/r/\(round)/\(index)")
                case 1: Burst.Request(method: "HEAD", path: "/h/\(round)/\(index)")
                case 2: Burst.Request(method: "GET", path: "/chunked/\(round)/\(index)")
                default: Burst.Request(method: "GET", path: "/c/\(round)/\(index)", close: true)
                }
            }
            let answers = try await Burst.send(requests, port: proxy.port)
            for (request, answer) in zip(requests, answers) {
                #expect(answer.status == 200, "\(request.method) \(request.path)")
                #expect(answer.body == (request.method == "HEAD" ? "" : "\(request.method) \(request.path)"))
            }
        }
        #expect(backend.mostPerRead >= 2, "no two requests ever shared a read: nothing was pipelined")
        #expect(backend.mostPerRead <= 8, "more requests shared a connection than pipeline_depth allows")
    }

    @Test func nothingIsPipelinedUnlessTheUpstreamAllowsIt() async throws {
        let backend = try await PipelineBackend.start()
        let proxy = try await ProxyHarness.start({ Self.config(port: $0, backend: backend, depth: nil) }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        for round in 0..<6 {
            let requests = (0..<16).map { Burst.Request(method: "GET", path: "/r/\(round)/\($0)") }
            let answers = try await Burst.send(requests, port: proxy.port)
            #expect(answers.map(\.body) == requests.map { "GET \($0.path)" })
        }
        #expect(backend.mostPerRead == 1)
    }

    @Test func requestsWithBodiesOrUnsafeMethodsAreNeverPipelined() async throws {
        let backend = try await PipelineBackend.start()
        let proxy = try await ProxyHarness.start({ Self.config(port: $0, backend: backend, depth: 8) }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        for round in 0..<8 {
            let requests = (0..<16).map { index -> Burst.Request in
                switch index % 3 {
                case 0: Burst.Request(method: "POST", path: "/p/\(round)/\(index)", body: "x=\(index)")
                case 1: Burst.Request(method: "PUT", path: "/u/\(round)/\(index)", body: "y")
                default: Burst.Request(method: "GET", path: "/g/\(round)/\(index)")
                }
            }
            let answers = try await Burst.send(requests, port: proxy.port)
            #expect(answers.map(\.body) == requests.map { "\($0.method) \($0.path)" })
        }
        let shared = backend.reads.withLockedValue { $0 }.filter { $0.count > 1 }
        #expect(!shared.isEmpty, "the GETs should still have been pipelined")
        for read in shared {
            #expect(read.allSatisfy { $0.hasPrefix("GET ") }, "a request with a body shared a connection: \(read)")
        }
    }

    @Test(arguments: [PipelineBackend.Misbehaviour.closeAfterFirst, .connectionCloseAfterFirst])
    func aServerThatDropsPipelinedRequestsLosesNone(_ misbehaviour: PipelineBackend.Misbehaviour) async throws {
        let backend = try await PipelineBackend.start()
        backend.misbehaviour.withLockedValue { $0 = misbehaviour }
        let proxy = try await ProxyHarness.start({ Self.config(port: $0, backend: backend, depth: 8) }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        for round in 0..<8 {
            let requests = (0..<16).map { Burst.Request(method: "GET", path: "/r/\(round)/\($0)") }
            let answers = try await Burst.send(requests, port: proxy.port)
            #expect(answers.map(\.status) == Array(repeating: 200, count: 16))
            #expect(answers.map(\.body) == requests.map { "GET \($0.path)" })
        }
        #expect(backend.mostPerRead >= 2, "the server never saw a pipeline to drop")
    }

    @Test func aClientLeavingMidPipelineCostsTheOthersNothing() async throws {
        let backend = try await PipelineBackend.start()
        backend.slowMilliseconds.withLockedValue { $0 = 200 }
        let proxy = try await ProxyHarness.start({ Self.config(port: $0, backend: backend, depth: 8) }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        for round in 0..<6 {
            // Responses wait behind a slow one while clients hang up, some of them in the
            // slow one's pipeline (the balancer accepts four connections per wake-up, so
            // pipelines here are four long).
            let requests = [Burst.Request(method: "GET", path: "/slow/\(round)")] + (1..<16).map {
                Burst.Request(method: "GET", path: "/r/\(round)/\($0)", leaves: $0 % 4 == 2)
            }
            let answers = try await Burst.send(requests, port: proxy.port)
            for (request, answer) in zip(requests, answers) where !request.leaves {
                #expect(answer.body == "GET \(request.path)")
            }
        }
        #expect(backend.mostPerRead >= 2)
        // Nobody was retried: a client that hung up did not cost the others their connection.
        let seen = backend.reads.withLockedValue { $0.flatMap { $0 } }
        let twice = Dictionary(grouping: seen, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(twice.isEmpty, "sent again after a client left: \(twice)")
    }

    @Test func aSlowResponseTimesOutAloneAndTheRequestsBehindItAreRetried() async throws {
        let backend = try await PipelineBackend.start()
        backend.slowMilliseconds.withLockedValue { $0 = 1500 }
        let proxy = try await ProxyHarness.start({
            simpleConfig(port: $0, servers: [backend.address], extraUpstream: "    keepalive: { pipeline_depth: 8 }",
                         extraRoute: "        timeouts: { response: 300ms }")
        }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        var sawQueuedBehindSlow = false
        for round in 0..<4 {
            let requests = [Burst.Request(method: "GET", path: "/slow/\(round)")]
                + (1..<12).map { Burst.Request(method: "GET", path: "/r/\(round)/\($0)") }
            let answers = try await Burst.send(requests, port: proxy.port)
            #expect(answers[0].status == 504)
            #expect(Array(answers.dropFirst().map(\.body)) == requests.dropFirst().map { "GET \($0.path)" })
            sawQueuedBehindSlow = sawQueuedBehindSlow || backend.reads.withLockedValue {
                $0.contains { $0.first == "GET /slow/\(round)" && $0.count > 1 }
            }
        }
        #expect(sawQueuedBehindSlow, "no request was ever pipelined behind the slow one")
    }
}

/// Requests sent at once, one client connection each, so they reach the balancer together.
enum Burst {
    struct Request {
        var method: String
        var path: String
        var body: String? = nil
        var headers: [(String, String)] = []
        var close = false
        /// Hangs up (a reset) 50 ms after sending, without reading the answer.
        var leaves = false
    }

    struct Answer {
        var status: Int
        var body: String
        /// The response head, lowercased.
        var head = ""
    }

    /// Runs on a thread of its own: the sockets block, and a blocked thread of the concurrency
    /// pool (two on this machine) would stall the suites running in parallel.
    static func send(_ requests: [Request], port: Int) async throws -> [Answer] {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try sendBlocking(requests, port: port) }) }.start()
        }
    }

    private static func sendBlocking(_ requests: [Request], port: Int) throws -> [Answer] {
        let sockets = try requests.map { _ in try RawSocket(port: port, timeout: 5) }
        defer { zip(sockets, requests).forEach { socket, request in if !request.leaves { socket.close() } } }
        for (socket, request) in zip(sockets, requests) {
            var text = "\(request.method) \(request.path) HTTP/1.1\r\nHost: test\r\n"
            if let body = request.body { text += "Content-Length: \(body.utf8.count)\r\n" }
            if request.close { text += "Connection: close\r\n" }
            for (name, value) in request.headers { text += "\(name): \(value)\r\n" }
            text += "\r\n" + (request.body ?? "")
            socket.send(text)
        }
        if requests.contains(where: \.leaves) {
            // Hang up with a reset once the requests are on their way, as a client that gives up.
            usleep(50_000)
            var linger = linger(l_onoff: 1, l_linger: 0)
            for (socket, request) in zip(sockets, requests) where request.leaves {
                setsockopt(socket.descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                socket.close()
            }
        }
        return zip(sockets, requests).map { socket, request in
            request.leaves ? Answer(status: 0, body: "left") : read(socket, isHead: request.method == "HEAD")
        }
    }

    /// Reads one response: its head, then the body its framing says (none for HEAD).
    static func read(_ socket: RawSocket, isHead: Bool) -> Answer {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        func more() -> Bool {
            let count = chunk.withUnsafeMutableBytes { recv(socket.descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return false }
            bytes += chunk[0..<count]
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            headEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
            if headEnd == nil, !more() { return Answer(status: 0, body: "no response head") }
        }
        let head = String(decoding: bytes[..<headEnd!], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        if isHead { return Answer(status: status, body: "", head: head) }
        if head.contains("transfer-encoding: chunked") {
            while bytes[headEnd!...].firstRange(of: Array("\r\n0\r\n\r\n".utf8)) == nil {
                if !more() { return Answer(status: status, body: "chunked body cut short") }
            }
            return Answer(status: status, body: dechunk(Array(bytes[headEnd!...])), head: head)
        }
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        while bytes.count - headEnd! < length {
            if !more() { return Answer(status: status, body: "body cut short") }
        }
        let body = String(decoding: bytes[headEnd!..<(headEnd! + length)], as: UTF8.self)
        return Answer(status: status, body: status == 200 ? body : "status \(status): \(body.prefix(120))", head: head)
    }

    private static func dechunk(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var rest = bytes[...]
        while let lineEnd = rest.firstRange(of: Array("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            out += rest[start..<(start + size)]
            rest = rest[(start + size + 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
