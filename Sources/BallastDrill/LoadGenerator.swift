import AsyncHTTPClient
import BallastAPI
import BallastConfig
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// Virtual users against the public listener: each registers, logs in, then checks its session
/// again and again, logging out and in again every few rounds. Every answer lands in the
/// bucket of the second its request started (for scores) and of the second it finished (for
/// the live view: a request stuck for ten seconds shows up when it ends, not ten seconds late).
/// A session that stops working without a logout counts as lost.
package final class LoadGenerator: Sendable {
    package struct Second: Sendable, Equatable {
        package var ok = 0
        package var failed = 0
        package var slowest: Double = 0
    }

    package struct Totals: Sendable, Equatable {
        package var requests = 0
        package var failed = 0
        package var sessionsLost = 0
        package var failureRatio: Double { requests > 0 ? Double(failed) / Double(requests) : 0 }
    }

    let baseURL: String
    let users: Int
    let thinkTime: Duration
    let client: HTTPClient
    let started = ContinuousClock.now
    private let state = Mutex<(seconds: [Int: Second], finished: [Int: Second], sessionsLost: Int)>(([:], [:], 0))
    private let stopped = Atomic<Bool>(false)

    package init(baseURL: String, users: Int = 20, thinkTime: Duration = .milliseconds(100), client: HTTPClient) {
        self.baseURL = baseURL
        self.users = users
        self.thinkTime = thinkTime
        self.client = client
    }

    /// Seconds since the generator was made.
    package func now() -> Double { Double((ContinuousClock.now - started).milliseconds) / 1000 }

    package var totals: Totals { totals(from: Int.min) }

    /// Requests that started in second `index`.
    package func second(_ index: Int) -> Second { state.withLock { $0.seconds[index] ?? Second() } }

    /// Requests that finished in second `index`.
    package func finished(_ index: Int) -> Second { state.withLock { $0.finished[index] ?? Second() } }

    /// Totals from second `from` on (after warm-up); sessions lost are counted over the whole run.
    package func totals(from: Int) -> Totals {
        state.withLock { state in
            var totals = Totals(sessionsLost: state.sessionsLost)
            for (second, bucket) in state.seconds where second >= from {
                totals.requests += bucket.ok + bucket.failed
                totals.failed += bucket.failed
            }
            return totals
        }
    }

    package func stop() { stopped.store(true, ordering: .relaxed) }

    /// Runs every virtual user until `stop()`.
    package func run() async {
        let run = UUID().uuidString.prefix(8).lowercased()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<users {
                group.addTask { await self.user("drill-\(run)-\(index)") }
            }
        }
    }

    private enum Outcome { case ok(Data), failed, unauthorized }

    private func user(_ name: String) async {
        let credentials = #"{"username":"\#(name)","password":"correct horse battery staple"}"#
        var token: String?
        var registered = false
        var logoutUnanswered = false
        var round = 0
        while !stopped.load(ordering: .relaxed) {
            round += 1
            if !registered {
                switch await call(.POST, "/auth/register", body: credentials, accept: [201, 409]) {
                case .ok: registered = true
                default: break
                }
            } else if let current = token {
                if round % 5 == 0 {
                    if case .ok = await call(.POST, "/auth/logout", token: current, accept: [204]) {
                        token = nil
                    } else {
                        // The logout may have taken effect with its answer lost (the fault cut
                        // the link after the commit): a 401 now is that logout, not a lost session.
                        logoutUnanswered = true
                    }
                } else {
                    switch await call(.GET, "/auth/me", token: current, accept: [200]) {
                    case .unauthorized:
                        if !logoutUnanswered { state.withLock { $0.sessionsLost += 1 } }
                        token = nil
                        logoutUnanswered = false
                    case .ok:
                        logoutUnanswered = false
                    default: break
                    }
                }
            } else if case .ok(let body) = await call(.POST, "/auth/login", body: credentials, accept: [200]) {
                token = AdminReplies.decode(AuthReplies.Login.self, from: body)?.token
            }
            try? await Task.sleep(for: thinkTime)
        }
        if let token { _ = await call(.POST, "/auth/logout", token: token, accept: [204]) }
    }

    private func call(_ method: HTTPMethod, _ path: String, body: String? = nil, token: String? = nil, accept: Set<Int>) async -> Outcome {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let begin = now()
        let outcome: Outcome
        do {
            let response = try await client.execute(request, timeout: .seconds(15))
            let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
            let code = Int(response.status.code)
            outcome = accept.contains(code) ? .ok(data) : code == 401 && token != nil ? .unauthorized : .failed
        } catch {
            outcome = .failed
        }
        let end = now()
        let second = Int(begin)
        state.withLock { state in
            var bucket = state.seconds[second] ?? Second()
            if case .failed = outcome { bucket.failed += 1 } else { bucket.ok += 1 }
            bucket.slowest = max(bucket.slowest, end - begin)
            state.seconds[second] = bucket
            var done = state.finished[Int(end)] ?? Second()
            if case .failed = outcome { done.failed += 1 } else { done.ok += 1 }
            done.slowest = max(done.slowest, end - begin)
            state.finished[Int(end)] = done
        }
        return outcome
    }
}
