import BallastProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Hostile HTTP over raw sockets through a real balancer to a real, strict HTTP server
/// (NIOHTTP1) on one kept-alive upstream connection. Each case is refused with its status, or
/// forwarded as exactly the requests the balancer answered, and after each one a plain request
/// must reach the server as itself: nothing smuggled stays behind on the upstream connection.
@Suite(.serialized) struct HTTPCorpusTests {
    /// What a case must do: be refused with `status` (nothing reaches the server), or be
    /// answered with `statuses` after the server saw exactly `forwarded` request lines.
    enum Expect: Sendable {
        case refused(Int)
        case forwarded(statuses: [Int], seen: [String])
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: String
        var expect: Expect
        var testDescription: String { name }
    }

    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"

    static let corpus: [Case] = [
        // CL.TE, TE.CL and their obfuscations
        Case(name: "CL+TE", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, expect: .refused(400)),
        Case(name: "TE+CL", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, expect: .refused(400)),
        Case(name: "CL.CL differing", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n" + smuggled, expect: .refused(400)),
        Case(name: "CL.CL equal", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", expect: .refused(400)),
        Case(name: "CL list", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc", expect: .refused(400)),
        Case(name: "CL plus sign", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", expect: .refused(400)),
        Case(name: "CL negative", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", expect: .refused(400)),
        Case(name: "CL hex", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\nabc", expect: .refused(400)),
        Case(name: "CL overflow", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551617\r\n\r\n", expect: .refused(400)),
        Case(name: "CL empty", bytes: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n", expect: .refused(400)),
        Case(name: "TE twice", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE chunked, chunked", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE gzip, chunked", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE xchunked", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, expect: .refused(501)),
        Case(name: "TE chunked, identity", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", expect: .refused(501)),
        Case(name: "TE space before colon", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, expect: .refused(400)),
        Case(name: "TE obs-fold", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE vertical tab", bytes: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\u{0B}chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE on HTTP/1.0", bytes: "POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "TE tab is allowed", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
             expect: .forwarded(statuses: [200], seen: ["POST /upload"])),
        // Chunked bodies
        Case(name: "chunk size not hex", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "chunk size negative", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "chunk size 0x prefix", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "chunk size overflow", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "chunk size bare LF", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        Case(name: "chunk data too long", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n" + smuggled, expect: .refused(400)),
        Case(name: "chunk extension", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
             expect: .forwarded(statuses: [200], seen: ["POST /upload"])),
        Case(name: "chunk extension with CR", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\rb\r\nabc\r\n0\r\n\r\n", expect: .refused(400)),
        // Line endings, folding, control characters, header injection
        Case(name: "bare LF request line", bytes: "GET / HTTP/1.1\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "bare LF in headers", bytes: "GET / HTTP/1.1\r\nHost: t\nX-Smuggle: 1\r\n\r\n", expect: .refused(400)),
        Case(name: "bare CR in header", bytes: "GET / HTTP/1.1\r\nHost: t\rX-Smuggle: 1\r\n\r\n", expect: .refused(400)),
        Case(name: "obs-fold", bytes: "GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", expect: .refused(400)),
        Case(name: "NUL in value", bytes: "GET / HTTP/1.1\r\nHost: t\r\nX-A: b\0c\r\n\r\n", expect: .refused(400)),
        Case(name: "escape in value", bytes: "GET / HTTP/1.1\r\nHost: t\r\nX-A: \u{1B}[31m\r\n\r\n", expect: .refused(400)),
        Case(name: "space in name", bytes: "GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", expect: .refused(400)),
        Case(name: "empty name", bytes: "GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", expect: .refused(400)),
        Case(name: "CR LF in target", bytes: "GET /a\r\nX-Injected: 1 HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        // Sizes
        Case(name: "header too large", bytes: "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "a", count: 9000) + "\r\n\r\n", expect: .refused(431)),
        Case(name: "too many headers", bytes: "GET / HTTP/1.1\r\nHost: t\r\n" + (0..<1000).map { "X-\($0): y\r\n" }.joined() + "\r\n", expect: .refused(431)),
        Case(name: "body too large", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "a", count: 5000), expect: .refused(413)),
        // Request lines, methods, targets, versions
        Case(name: "invalid method", bytes: "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "two spaces", bytes: "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "space in target", bytes: "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "DEL in target", bytes: "GET /a\u{7F}b HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "absolute-form", bytes: "GET http://evil.example/ HTTP/1.1\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "authority-form CONNECT", bytes: "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", expect: .refused(400)),
        Case(name: "HTTP/0.9", bytes: "GET /\r\n\r\n", expect: .refused(400)),
        Case(name: "HTTP/2.0 line", bytes: "GET / HTTP/2.0\r\nHost: t\r\n\r\n", expect: .refused(505)),
        Case(name: "version garbage", bytes: "GET / HTTP/1.1x\r\nHost: t\r\n\r\n", expect: .refused(400)),
        Case(name: "no Host on 1.1", bytes: "GET / HTTP/1.1\r\n\r\n", expect: .refused(400)),
        Case(name: "two Hosts", bytes: "GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", expect: .refused(400)),
        Case(name: "HTTP/1.0 without Host", bytes: "GET / HTTP/1.0\r\n\r\n", expect: .forwarded(statuses: [200], seen: ["GET /"])),
        Case(name: "HTTP/1.0 keep-alive then smuggled", bytes: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + smuggled,
             expect: .forwarded(statuses: [200, 200], seen: ["GET /", "GET /smuggled"])),
        // Pipelining: forwarded one by one, answered in order.
        Case(name: "pipelined three", bytes: "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /status/503 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             expect: .forwarded(statuses: [200, 503, 200], seen: ["GET /", "GET /status/503", "GET /"])),
        Case(name: "pipelined after a body", bytes: "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             expect: .forwarded(statuses: [200, 200], seen: ["POST /upload", "GET /"])),
        Case(name: "valid request then garbage", bytes: "GET / HTTP/1.1\r\nHost: t\r\n\r\nGARBAGE\r\n\r\n",
             expect: .forwarded(statuses: [200, 400], seen: ["GET /"])),
    ]

    @Test func everyCaseIsRefusedOrForwardedUnambiguouslyAndNothingDesynchronises() async throws {
        let backend = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start({ port in
            simpleConfig(port: port, servers: ["{ address: \(backend.address) }"],
                         extraUpstream: "    keepalive: { max_idle_per_server: 4, idle_timeout: 60s }",
                         listenerExtra: "    limits: { max_header_bytes: 8192, max_body_bytes: 1024 }")
        }, threads: 1)
        var tried = 0, refused = 0, forwarded = 0
        for item in Self.corpus {
            let before = backend.seen.withLockedValue { $0.count }
            let socket = try RawSocket(port: proxy.port, timeout: 1)
            socket.send(item.bytes)
            let reply = socket.readAll()
            socket.close()
            let statuses = RawSocket.statuses(reply)
            let seen = Array(backend.seen.withLockedValue { $0 }[before...])
            switch item.expect {
            case .refused(let status):
                #expect(statuses == [status], "\(item.name): \(String(decoding: reply.prefix(200), as: UTF8.self))")
                #expect(seen.isEmpty, "\(item.name) reached the server: \(seen)")
                refused += 1
            case .forwarded(let expectedStatuses, let expectedSeen):
                #expect(statuses == expectedStatuses, "\(item.name): \(String(decoding: reply.prefix(600), as: UTF8.self).debugDescription)")
                #expect(seen == expectedSeen, "\(item.name)")
                forwarded += 1
            }
            // A plain request reaches the server as itself, on the kept-alive upstream connection.
            let canary = try RawSocket(port: proxy.port, timeout: 2)
            canary.send("GET /status/202 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let canaryReply = canary.readAll()
            canary.close()
            #expect(RawSocket.statuses(canaryReply) == [202], "after \(item.name): \(String(decoding: canaryReply.prefix(200), as: UTF8.self))")
            #expect(backend.seen.withLockedValue { $0.last } == "GET /status/202", "after \(item.name)")
            tried += 1
        }
        #expect(!backend.seen.withLockedValue { $0 }.contains { $0.contains("smuggled") && !$0.hasPrefix("GET /smuggled") })
        // Upstream connections are reused between cases (a request the balancer refused after part
        // of its body went upstream costs that connection: it is closed, never reused).
        #expect(backend.connections.load(ordering: .relaxed) < 20)
        print("HTTP corpus: \(tried) cases, \(refused) refused, \(forwarded) forwarded unambiguously")
        await proxy.balancer.shutdown(drainFor: .milliseconds(100))
        await backend.stop()
    }

    @Test func slowClientsAreCutByTimeoutsWithoutHurtingOthersOrTheServer() async throws {
        let backend = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start({ port in
            simpleConfig(port: port, servers: ["{ address: \(backend.address) }"],
                         extraUpstream: "    outlier: { consecutive_failures: 2, eject_for: 30s, max_ejected_percent: 100 }",
                         extraRoute: "        timeouts: { response: 2s }",
                         listenerExtra: "    timeouts: { client_header: 1s, idle: 5s }")
        }, threads: 1)
        // Slowloris: a header line every 200 ms, never the end of the head.
        let loris = try (0..<20).map { _ in try RawSocket(port: proxy.port, timeout: 4) }
        // Slow body: a byte every 200 ms of a 100-byte body.
        let slowBodies = try (0..<5).map { _ in try RawSocket(port: proxy.port, timeout: 4) }
        let trickle = Task.detached {
            for socket in loris { socket.send("GET / HTTP/1.1\r\nHost: t\r\n") }
            for socket in slowBodies { socket.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n") }
            for _ in 0..<20 {
                try? await Task.sleep(for: .milliseconds(200))
                for socket in loris { socket.send("X-Slow: y\r\n") }
                for socket in slowBodies { socket.send("a") }
            }
        }
        // Everyone else is served meanwhile.
        for _ in 0..<30 {
            #expect(try await fetch(port: proxy.port, .GET, "/").status == 200)
            try await Task.sleep(for: .milliseconds(50))
        }
        await trickle.value
        let lorisStatuses = loris.map { RawSocket.statuses($0.readAll()) }
        let bodyStatuses = slowBodies.map { RawSocket.statuses($0.readAll()) }
        (loris + slowBodies).forEach { $0.close() }
        #expect(lorisStatuses.allSatisfy { $0 == [408] }, "\(lorisStatuses)")
        #expect(bodyStatuses.allSatisfy { $0 == [408] }, "\(bodyStatuses)")
        // The slow clients were not the server's fault: it is not ejected, and serves on.
        let server = try #require(proxy.balancer.runtime.upstreams["app"]?.servers.first)
        #expect(!server.state.isEjected(now: Int64(NIODeadline.now().uptimeNanoseconds)))
        #expect(try await fetch(port: proxy.port, .GET, "/").status == 200)
        await proxy.balancer.shutdown(drainFor: .milliseconds(100))
        await backend.stop()
    }
}
