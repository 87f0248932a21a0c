import Foundation
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
