import CoreMetrics
import Foundation
import NIOConcurrencyHelpers

/// Access log lines, written off the event loops: a loop appends a line to a bounded buffer
/// (a lock held for a copy) and a thread of the sink's own writes the buffer out. A writer
/// that cannot keep up (a full disk, a pipe nobody reads) costs the loops nothing: past
/// `capacity` bytes waiting, lines are dropped and counted, never waited for. At most twice
/// `capacity` is held: the buffer filling and the one the writer is writing.
final class AccessLogSink: Sendable {
    /// Bytes waiting to be written at most.
    static let capacity = 4 << 20
    /// The writer is woken once this much waits (else every `interval`).
    static let wakeAt = 64 << 10
    static let interval = DispatchTimeInterval.milliseconds(200)

    /// Nil: standard error.
    let path: String?
    private struct State {
        var pending: [UInt8] = []
        var reopen = false
        var stopped = false
        var descriptor: Int32 = -1
    }
    private let state: NIOLockedValueBox<State>
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// Opens `path` for appending (created 0640 if missing); throws with the reason when it cannot.
    init(path: String?) throws {
        // A log written to a pipe whose reader went away must fail the write, not kill the
        // process (nginx ignores SIGPIPE the same way; NIO's sockets never raise it).
        signal(SIGPIPE, SIG_IGN)
        self.path = path
        var initial = State()
        initial.descriptor = try Self.open(path)
        state = NIOLockedValueBox(initial)
        let thread = Thread { [self] in run() }
        thread.name = "ballast-access-log"
        thread.start()
    }

    private static func open(_ path: String?) throws -> Int32 {
        guard let path else { return STDERR_FILENO }
        let descriptor = Foundation.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw AccessLogError(description: "cannot open access log \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    /// Queues one line (a newline is added); false when it was dropped.
    @discardableResult
    func append(_ line: String, dropped: Counter) -> Bool {
        var wakeWriter = false
        let kept = state.withLockedValue { state -> Bool in
            guard !state.stopped, state.pending.count + line.utf8.count < Self.capacity else { return false }
            state.pending.append(contentsOf: line.utf8)
            state.pending.append(0x0A)
            wakeWriter = state.pending.count >= Self.wakeAt && state.pending.count - line.utf8.count - 1 < Self.wakeAt
            return true
        }
        if !kept { dropped.increment() }
        if wakeWriter { wake.signal() }
        return kept
    }

    /// The file is opened again before the next write (logrotate moved it: SIGUSR1, a reload).
    func reopen() {
        state.withLockedValue { $0.reopen = true }
        wake.signal()
    }

    /// Writes what waits now (tests, shutdown); returns once it is written or `timeout` passed.
    func flush(timeout: Duration = .seconds(2)) {
        let deadline = ContinuousClock.now + timeout
        wake.signal()
        while ContinuousClock.now < deadline, state.withLockedValue({ !$0.pending.isEmpty }) {
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Writes what waits and closes the file; later lines are dropped.
    func stop() {
        state.withLockedValue { $0.stopped = true }
        wake.signal()
        _ = done.wait(timeout: .now() + .seconds(2))
    }

    private func run() {
        while true {
            _ = wake.wait(timeout: .now() + Self.interval)
            let (chunk, reopen, stopped, descriptor) = state.withLockedValue { state in
                defer {
                    state.pending = []
                    state.reopen = false
                }
                return (state.pending, state.reopen, state.stopped, state.descriptor)
            }
            var target = descriptor
            if reopen, let path, let fresh = try? Self.open(path) {
                // Lines already queued go to the new file: logrotate has moved the old one.
                if descriptor != STDERR_FILENO { Foundation.close(descriptor) }
                target = fresh
                state.withLockedValue { $0.descriptor = fresh }
            }
            Self.writeAll(chunk, to: target)
            if stopped {
                if target != STDERR_FILENO { Foundation.close(target) }
                done.signal()
                return
            }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

struct AccessLogError: Error, CustomStringConvertible {
    var description: String
}

/// The sinks of every config compiled, by path, so a reload keeps writing to the same open
/// file and two listeners may share one.
final class AccessLogSinks: Sendable {
    private let sinks = NIOLockedValueBox<[String: AccessLogSink]>([:])

    /// The sink for `path` (nil: standard error), opened on first use.
    func sink(_ path: String?) throws -> AccessLogSink {
        let key = path ?? ""
        return try sinks.withLockedValue { sinks in
            if let sink = sinks[key] { return sink }
            let sink = try AccessLogSink(path: path)
            sinks[key] = sink
            return sink
        }
    }

    /// Every file opened again (SIGUSR1, after a reload): logrotate's `postrotate`.
    func reopenAll() {
        for sink in sinks.withLockedValue({ Array($0.values) }) { sink.reopen() }
    }

    /// Closes the sinks no runtime in `keeping` writes to.
    func prune(keeping paths: Set<String>) {
        let gone = sinks.withLockedValue { sinks -> [AccessLogSink] in
            let gone = sinks.filter { !paths.contains($0.key) }
            for key in gone.keys { sinks[key] = nil }
            return Array(gone.values)
        }
        for sink in gone { sink.stop() }
    }

    func flushAll() {
        for sink in sinks.withLockedValue({ Array($0.values) }) { sink.flush() }
    }
}
