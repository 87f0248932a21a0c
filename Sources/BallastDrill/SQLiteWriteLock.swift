import Dispatch
import Foundation
import GRDB
import Synchronization

/// A stuck transaction: another connection holds SQLite's write lock (`BEGIN IMMEDIATE`) on a
/// database file until `unlock()`. Every write elsewhere waits out its busy timeout, then fails;
/// reads go on (WAL). The drill's database outage and the fault soak test both use it.
package final class SQLiteWriteLock: Sendable {
    private let release = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let released = Mutex(false)

    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        let locked = DispatchSemaphore(value: 0)
        let (release, done) = (release, done)
        // GRDB refuses to leave a transaction open after an access, so one access holds it on
        // its own thread until the release.
        Thread.detachNewThread {
            try? queue.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                locked.signal()
                release.wait()
                try db.execute(sql: "ROLLBACK")
            }
            done.signal()
        }
        guard locked.wait(timeout: .now() + 10) == .success else {
            release.signal()
            throw DrillError("could not take the write lock of \(path)")
        }
    }

    /// Rolls the transaction back and waits until it has; later calls do nothing.
    package func unlock() {
        guard released.withLock({ was in defer { was = true }; return !was }) else { return }
        release.signal()
        done.wait()
    }
}
