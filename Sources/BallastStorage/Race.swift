import Synchronization

/// The first of `operation` and `watch` to finish, without waiting for the other. A task group
/// would wait for both: a query in flight on a connection whose host hangs does not end when it
/// is cancelled, and would hold its caller until the host answers. The loser is cancelled and
/// left to finish on its own (the pool's connection is given back or closed then).
func race<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T,
                       against watch: @escaping @Sendable () async throws -> T) async throws -> T {
    let racer = Racer<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            racer.wait(continuation)
            racer.start([operation, watch])
        }
    } onCancel: {
        racer.finish(.failure(CancellationError()))
    }
}

private final class Racer<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, tasks: [Task<Void, Never>], done: Bool)>((nil, [], false))

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let late = state.withLock { state -> Bool in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        if late { continuation.resume(throwing: CancellationError()) }
    }

    func start(_ bodies: [@Sendable () async throws -> T]) {
        let tasks = bodies.map { body in
            Task {
                do { self.finish(.success(try await body())) } catch { self.finish(.failure(error)) }
            }
        }
        let done = state.withLock { state -> Bool in
            state.tasks = tasks
            return state.done
        }
        if done { for task in tasks { task.cancel() } }
    }

    func finish(_ result: Result<T, any Error>) {
        let (won, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            if state.done { return (nil, []) }
            state.done = true
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        won?.resume(with: result)
    }
}
