import Testing
@testable import BallastProxy

/// `ConnectionLifecycle` without a socket: phases, deadlines, expiry and read gating.
@Suite struct ConnectionLifecycleTests {
    static let timeouts = ConnectionLifecycle.Timeouts(idle: 60_000, header: 10_000, stall: 30_000)

    @Test func eachPhaseHasItsOwnDeadlineAndMeaning() {
        var life = ConnectionLifecycle()
        life.enter(.idle, now: 0, timeouts: Self.timeouts)
        #expect(life.deadline == 60_000 && life.expiry(now: 59_999) == .none && life.expiry(now: 60_000) == .close)
        life.enter(.readingHead, now: 100, timeouts: Self.timeouts)
        #expect(life.deadline == 10_100 && life.expiry(now: 10_100) == .headTimedOut)
        life.enter(.handling, now: 200, timeouts: Self.timeouts)
        #expect(life.deadline == .max && life.expiry(now: .max - 1) == .none)  // a connect has its own timeout
        life.enter(.awaitingResponse, now: 300, timeouts: Self.timeouts, responseTimeout: 5_000)
        #expect(life.deadline == 5_300 && life.expiry(now: 5_300) == .responseTimedOut)
        life.enter(.streaming, now: 400, timeouts: Self.timeouts)
        #expect(life.deadline == 30_400 && life.expiry(now: 30_400) == .responseStalled)
    }

    @Test func progressRestartsOnlyAStreamingResponsesStallDeadline() {
        var life = ConnectionLifecycle()
        life.enter(.streaming, now: 0, timeouts: Self.timeouts)
        life.progressed(now: 20_000, timeouts: Self.timeouts)
        #expect(life.deadline == 50_000 && life.expiry(now: 40_000) == .none)
        life.enter(.awaitingResponse, now: 0, timeouts: Self.timeouts, responseTimeout: 1_000)
        life.progressed(now: 900, timeouts: Self.timeouts)
        #expect(life.deadline == 1_000, "a response that has not started is not kept alive by progress")
    }

    @Test func lingeringDropsBytesUntilQuietOrTheCapAndNothingMovesItBack() {
        var life = ConnectionLifecycle()
        life.enter(.readingHead, now: 0, timeouts: Self.timeouts)
        life.startLingering(now: 1_000)
        #expect(life.isClosing && life.phase == .lingering)
        #expect(life.deadline == 1_000 + LingeringClose.Policy.standard.quiet)
        let closesEarly = life.lingerReceived(1_024, now: 2_000)
        #expect(!closesEarly)
        #expect(life.deadline == 2_000 + LingeringClose.Policy.standard.quiet)
        // No phase change reaches a lingering connection (a late retry must not re-arm it).
        life.enter(.handling, now: 3_000, timeouts: Self.timeouts)
        #expect(life.phase == .lingering && life.deadline == 2_000 + LingeringClose.Policy.standard.quiet)
        #expect(life.expiry(now: life.deadline) == .close)
        let closesAtCap = life.lingerReceived(LingeringClose.Policy.standard.maxBytes, now: 4_000)
        #expect(closesAtCap, "past the byte cap it closes")
    }

    @Test func aClosedConnectionHasNoDeadlineAndTakesNoPhase() {
        var life = ConnectionLifecycle()
        life.enter(.streaming, now: 0, timeouts: Self.timeouts)
        life.close()
        #expect(life.isClosing && life.deadline == .max && life.expiry(now: .max - 1) == .none)
        life.enter(.idle, now: 0, timeouts: Self.timeouts)
        #expect(life.phase == .closed)
    }

    @Test func readsFollowWhatTheConnectionWaitsOn() {
        var life = ConnectionLifecycle()
        #expect(life.wantsInput(.nextRequest))
        // Pipelined requests may queue up to the head limit while a response is awaited.
        #expect(life.wantsInput(.response(buffered: 8_192, limit: 8_192)))
        #expect(!life.wantsInput(.response(buffered: 8_193, limit: 8_192)))
        // A body goes as fast as the server connection takes it, or waits up to 64 KiB.
        #expect(life.wantsInput(.body(serverWritable: true, pending: 1 << 20)))
        #expect(!life.wantsInput(.body(serverWritable: false, pending: 0)))
        #expect(life.wantsInput(.body(serverWritable: nil, pending: 65_535)))
        #expect(!life.wantsInput(.body(serverWritable: nil, pending: 65_536)))
        life.inputClosed = true
        #expect(!life.wantsInput(.nextRequest), "nothing more comes after the client's EOF")
        var lingering = ConnectionLifecycle()
        lingering.startLingering(now: 0)
        #expect(lingering.wantsInput(.nextRequest), "a lingering connection reads to drop")
        lingering.inputClosed = true
        #expect(!lingering.wantsInput(.nextRequest))
        var closed = ConnectionLifecycle()
        closed.close()
        #expect(!closed.wantsInput(.nextRequest))
    }

    @Test func drainingIsRemembered() {
        var life = ConnectionLifecycle()
        #expect(!life.draining)
        life.drain()
        #expect(life.draining && !life.isClosing)
    }
}
