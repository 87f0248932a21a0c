import Foundation
import NIOHTTP1
import Testing

/// Framing that parsers disagree on, through a real balancer to a real NIOHTTP1 server:
/// request trailers (which some servers merge into the headers) never reach the server,
/// extensions and trailers are bounded, and so is the number of header fields.
@Suite struct HostileFramingTests {
    /// NIOHTTP1 refuses a `Content-Length` trailer itself; these it takes, as many servers do.
    static let trailered = "POST /trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + "3\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX-User: admin\r\n\r\n"

    func exchange(_ port: Int, _ bytes: String) throws -> String {
        let socket = try RawSocket(port: port, timeout: 3)
        defer { socket.close() }
        #expect(socket.send(bytes))
        return String(decoding: socket.readAll(), as: UTF8.self)
    }

    @Test func requestTrailersAreNotForwarded() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address]) }
        defer { Task { await proxy.stop(); await a.stop() } }
        // The server itself would take the trailers (the control)...
        let direct = try exchange(a.port, Self.trailered)
        #expect(direct.contains("trailers: x-forwarded-for: 6.6.6.6, x-user: admin"), "\(direct)")
        // ...through the balancer they are gone, and the body is whole.
        let through = try exchange(proxy.port, Self.trailered)
        #expect(through.hasPrefix("HTTP/1.1 200"), "\(through)")
        #expect(through.contains("3 bytes; trailers: none"), "\(through)")
    }

    @Test func chunkExtensionsAndTrailersAreBounded() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address]) }
        defer { Task { await proxy.stop(); await a.stop() } }
        let head = "POST /trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        let extensions = String(repeating: "1;\(String(repeating: "e", count: 2000))\r\nx\r\n", count: 9) + "0\r\n\r\n"
        #expect(try exchange(proxy.port, head + extensions).hasPrefix("HTTP/1.1 413"))
        let trailers = "1\r\nx\r\n0\r\n" + String(repeating: "X-T: \(String(repeating: "v", count: 1000))\r\n", count: 17) + "\r\n"
        #expect(try exchange(proxy.port, head + trailers).hasPrefix("HTTP/1.1 413"))
        #expect(a.requestCount == 0, "nothing of a refused body is answered by the server")
    }

    @Test func headerFieldsAreCounted() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address]) }
        defer { Task { await proxy.stop(); await a.stop() } }
        func request(fields: Int) -> String {
            "GET / HTTP/1.1\r\nConnection: close\r\n" + (0..<(fields - 2)).map { "X-F\($0): 1\r\n" }.joined() + "Host: t\r\n\r\n"
        }
        #expect(try exchange(proxy.port, request(fields: 100)).hasPrefix("HTTP/1.1 200"))
        let refused = try exchange(proxy.port, request(fields: 101))
        #expect(refused.hasPrefix("HTTP/1.1 431") && refused.contains("too many request header fields"), "\(refused.prefix(200))")
    }
}

/// Slow readers: a client that never reads its response does not hold two connections for ever.
@Suite struct StalledResponseTests {
    @Test func aClientThatStopsReadingIsCutOffAfterTheStallTimeout() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address], listenerExtra: "    timeouts: { stall: 1s }") }
        defer { Task { await proxy.stop(); await a.stop() } }
        let size = 64 << 20
        let socket = try RawSocket(port: proxy.port, timeout: 5)
        defer { socket.close() }
        #expect(socket.send("GET /stream/\(size) HTTP/1.1\r\nHost: t\r\n\r\n"))
        // Not a byte is read for 3 s: the socket buffers fill, the response stops moving.
        try await Task.sleep(for: .seconds(3))
        let started = ContinuousClock.now
        let received = socket.readAll()
        // What was buffered arrives, then the end: the balancer gave up on this client long
        // before 64 MiB, and did not wait for the read timeout to say so.
        #expect(received.count > 0 && received.count < size, "\(received.count) bytes")
        #expect(ContinuousClock.now - started < .seconds(4), "the connection was not closed")
        // The balancer is fine: the next client gets its answer.
        let next = try await fetch(port: proxy.port, .GET, "/")
        #expect(next.status == 200)
    }

    /// A server that sends half its body and goes silent, the connection open (a hung process,
    /// a lost link): the response is cut off after the stall timeout, the client sees it end
    /// short (fewer bytes than its Content-Length, then the close) instead of waiting for ever.
    @Test func aServerThatStopsMidBodyIsCutOff() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address], listenerExtra: "    timeouts: { stall: 1s }") }
        defer { Task { await proxy.stop(); await a.stop() } }
        let size = 1 << 20
        let socket = try RawSocket(port: proxy.port, timeout: 20)
        defer { socket.close() }
        #expect(socket.send("GET /half/\(size) HTTP/1.1\r\nHost: t\r\n\r\n"))
        let (received, seconds) = await withCheckedContinuation { (continuation: CheckedContinuation<([UInt8], Double), Never>) in
            Thread.detachNewThread {
                let started = Date()
                continuation.resume(returning: (socket.readAll(), Date().timeIntervalSince(started)))
            }
        }
        let text = String(decoding: received.prefix(200), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(60))")
        #expect(text.contains("Content-Length: \(size)"))
        let body = received.count - (text.range(of: "\r\n\r\n").map { text.utf8.distance(from: text.startIndex, to: $0.upperBound) } ?? 0)
        #expect(body == size / 2, "\(body) body bytes")
        // Closed by the balancer well before the client's own 20 s read timeout.
        #expect(seconds < 15, "the silent server's response was not cut off (\(seconds) s)")
        let next = try await fetch(port: proxy.port, .GET, "/")
        #expect(next.status == 200)
    }

    /// A client that reads slowly but steadily is not cut off: each read moves the response
    /// on. The transfer takes longer than the stall timeout, so only that refresh lets it finish.
    /// The reader runs on a thread of its own: under a loaded suite, a Swift concurrency task's
    /// sleeps can stretch past any timeout.
    @Test func aSlowButSteadyReaderGetsItAll() async throws {
        let a = try await TestBackend.start("a")
        // 4 s: a loaded suite once left a 2 s gap in a steady transfer (the reader's thread or
        // an event loop not scheduled), which is not what this test is about.
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address], listenerExtra: "    timeouts: { stall: 4s }") }
        defer { Task { await proxy.stop(); await a.stop() } }
        let size = 16 << 20
        let socket = try RawSocket(port: proxy.port, timeout: 8)
        defer { socket.close() }
        #expect(socket.send("GET /stream/\(size) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
        let (total, seconds) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int, Double), Never>) in
            Thread.detachNewThread {
                let started = Date()
                var total = 0
                while Date().timeIntervalSince(started) < 60 {
                    let piece = socket.read(upTo: 256 << 10)
                    if piece.isEmpty { break }
                    total += piece.count
                    usleep(100_000)
                }
                continuation.resume(returning: (total, Date().timeIntervalSince(started)))
            }
        }
        #expect(total > size, "\(total) bytes of a \(size)-byte body (with its head and chunk framing) in \(seconds) s")
        #expect(seconds > 4, "the transfer must outlast the stall timeout to test anything (\(seconds) s)")
    }
}
