import BallastConfig
import BallastProxy
import Foundation
import Testing

/// Early answers are read: a 413, 431 or 400 sent before the request was read to its end is
/// followed by a lingering close, so a client still sending reads its answer instead of a reset.
@Suite struct LingeringCloseTests {
    /// Sends `head` then `body` bytes in 64 KiB pieces from another thread (as curl uploads while
    /// it reads), and reads everything the balancer answers on this one.
    func upload(port: Int, head: String, bodyBytes: Int) throws -> (answer: [UInt8], sent: Int) {
        let socket = try RawSocket(port: port, timeout: 5)
        defer { socket.close() }
        let sent = Tally()
        let done = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { done.signal() }
            guard socket.send(head) else { return }
            let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 65_536)
            var left = bodyBytes
            while left > 0 {
                let bytes = Array(piece.prefix(left))
                guard socket.send(bytes) else { return }
                left -= bytes.count
                for _ in 0..<bytes.count / 65_536 { sent.add() }
            }
            _ = shutdown(socket.descriptor, Int32(SHUT_WR))  // all sent, as a client that then waits for the answer
        }
        writer.start()
        let answer = socket.readAll()
        // The writer ends when everything was sent, or when the balancer reset the connection.
        done.wait()
        return (answer, sent.count * 65_536)
    }

    @Test func aClientSendingALargeBodyReadsIts413EveryTime() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_body_bytes: 1048576 }")
        }
        for attempt in 1...10 {
            let declared = try upload(port: proxy.port, head: "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n", bodyBytes: 3_000_000)
            #expect(RawSocket.statuses(declared.answer) == [413], "attempt \(attempt): \(String(decoding: declared.answer.prefix(200), as: UTF8.self))")
            // The 413 was answered from the head, and the rest of the body was read, not reset.
            #expect(declared.sent >= 3_000_000 - 65_536, "attempt \(attempt): only \(declared.sent) bytes were taken")
        }
        for attempt in 1...5 {
            let chunked = try upload(port: proxy.port, head: "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n",
                                     bodyBytes: 3_000_000)
            #expect(RawSocket.statuses(chunked.answer) == [413], "chunked attempt \(attempt): \(String(decoding: chunked.answer.prefix(300), as: UTF8.self))")
            #expect(chunked.sent >= 3_000_000 - 65_536, "chunked attempt \(attempt): only \(chunked.sent) bytes were taken")
        }
        await proxy.stop()
        await a.stop()
    }

    /// The measurement with a real client: curl uploading 3 MB read its 413 in 2 tries of 10.
    @Test func curlUploadingThreeMegabytesReadsIts413() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString)").path
        try Data(repeating: UInt8(ascii: "x"), count: 3_000_000).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        var statuses: [String] = []
        for _ in 1...10 {
            let result = try runTool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Expect:",
                                              "--data-binary", "@\(file)", "http://127.0.0.1:\(proxy.port)/register"], package: "curl")
            statuses.append(result.output)
        }
        #expect(statuses == Array(repeating: "413", count: 10))
        await proxy.stop()
        await a.stop()
    }

    @Test func aRefusedHeadIsReadWhileTheClientKeepsSending() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_header_bytes: 2048 }")
        }
        // A head beyond the limit, then more bytes: 431, read whole.
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + String(repeating: "y", count: 4096) + "\r\n\r\n"
        let refused = try upload(port: proxy.port, head: big, bodyBytes: 2_000_000)
        #expect(RawSocket.statuses(refused.answer) == [431])
        #expect(refused.sent >= 2_000_000 - 65_536, "only \(refused.sent) bytes were taken")
        // Bad framing: 400, read whole.
        let bad = try upload(port: proxy.port, head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", bodyBytes: 2_000_000)
        #expect(RawSocket.statuses(bad.answer) == [400])
        #expect(bad.sent >= 2_000_000 - 65_536, "only \(bad.sent) bytes were taken")
        await proxy.stop()
        await a.stop()
    }

    /// Lingering is bounded: a client that goes on sending forever is cut off after the
    /// policy's byte cap (32 MiB), not drained without end.
    @Test func lingeringEndsAtItsByteCap() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_body_bytes: 1024 }")
        }
        let endless = try upload(port: proxy.port, head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 900000000\r\n\r\n", bodyBytes: 900_000_000)
        #expect(RawSocket.statuses(endless.answer) == [413])
        #expect(endless.sent < 200_000_000, "\(endless.sent) bytes were drained")
        await proxy.stop()
        await a.stop()
    }
}
