import CoreMetrics
import Foundation
import Testing
@testable import BallastProxy

/// The access log's writer, alone: lines reach the file in order, a writer that cannot write
/// (a pipe nobody reads) makes the loops drop and count lines instead of waiting, and a
/// reopen follows logrotate's move.
@Suite struct AccessLogSinkTests {
    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func linesArriveInOrderAndAReopenFollowsTheRotation() throws {
        let dir = try directory()
        let path = dir.appendingPathComponent("access.log").path
        let sink = try AccessLogSink(path: path)
        let dropped = Counter(label: "test_access_dropped_total")
        for i in 0..<100 { #expect(sink.append("line \(i)", dropped: dropped)) }
        sink.flush()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        sink.reopen()
        for i in 100..<150 { sink.append("line \(i)", dropped: dropped) }
        sink.stop()
        let rotated = try String(contentsOfFile: path + ".1", encoding: .utf8).split(separator: "\n")
        let fresh = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(rotated == (0..<100).map { "line \($0)"[...] })
        #expect(fresh == (100..<150).map { "line \($0)"[...] })
    }

    @Test func aWriterThatCannotWriteDropsAndCountsInsteadOfWaiting() throws {
        let dir = try directory()
        let fifo = dir.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // A reader that never reads: the pipe fills (64 KiB), then the writer thread blocks.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let sink = try AccessLogSink(path: fifo)
        let line = String(repeating: "x", count: 1000)
        let started = ContinuousClock.now
        var kept = 0, lost = 0
        for _ in 0..<10_000 {
            if sink.append(line, dropped: Counter(label: "test_access_dropped_total")) { kept += 1 } else { lost += 1 }
        }
        // Ten megabytes offered: at most twice the capacity kept (one buffer waiting, one the
        // blocked writer holds) plus what the pipe took; the rest dropped, at once.
        #expect(kept * 1001 <= 2 * AccessLogSink.capacity + (1 << 20), "\(kept) lines kept")
        #expect(lost >= 1_000, "\(lost) lines dropped")
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
