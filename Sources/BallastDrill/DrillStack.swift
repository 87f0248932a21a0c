import AsyncHTTPClient
import BallastAPI
import BallastConfig
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A throwaway stack for one drill: `ballast up` as a child process on free loopback ports, in
/// a temporary directory, with the default stack's config (its alerts and rollout policy).
package final class DrillStack: @unchecked Sendable {
    package let directory: URL
    package let executable: URL
    package let listenerPort: Int
    package let adminPort: Int
    /// The auth upstream's servers, as the balancer sees them.
    package internal(set) var servers: [String]
    /// Servers that `up` does not start (a fault proxy stands there).
    package var external: [String] = []
    let client: HTTPClient
    private var process: Process?
    private(set) var extraProcesses: [Process] = []

    package var publicURL: String { "http://127.0.0.1:\(listenerPort)" }
    package var adminURL: String { "http://127.0.0.1:\(adminPort)" }
    package var databasePath: String { directory.appendingPathComponent("data/auth.sqlite").path }
    package var configPath: String { directory.appendingPathComponent("stack.yaml").path }
    /// The replicas' database when not the SQLite file in the data directory (a postgres:// URL,
    /// handed to `up` and the replicas by environment).
    package var database: String?

    /// The environment `up` and the replicas run with: $BALLAST_DATABASE is this stack's.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["BALLAST_DATABASE"] = database
        return environment
    }
    /// The stack's admin token: $BALLAST_ADMIN_TOKEN, which `up` inherits, else the one `up`
    /// generated in its data directory.
    package var adminToken: String? {
        if let token = ProcessInfo.processInfo.environment["BALLAST_ADMIN_TOKEN"], !token.isEmpty { return token }
        return (try? String(contentsOfFile: directory.appendingPathComponent("data/admin.token").path, encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    package init(executable: URL, directory: URL, client: HTTPClient) throws {
        self.executable = executable
        self.directory = directory
        self.client = client
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ports = try FreePorts.take(5)
        listenerPort = ports[0]
        adminPort = ports[1]
        servers = ports[2...].map { "127.0.0.1:\($0)" }
    }

    /// The default stack moved to this stack's ports, without the per-client rate limit (the
    /// virtual users share one address).
    package func configYAML(servers: [String]? = nil, healthPath: String = "/healthz") -> String {
        var yaml = Config.defaultStackYAML
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(listenerPort)")
            .replacingOccurrences(of: "127.0.0.1:9900", with: "127.0.0.1:\(adminPort)")
            .replacingOccurrences(of: "path: /healthz", with: "path: \(healthPath)")
        for (index, server) in (servers ?? self.servers).enumerated() {
            yaml = yaml.replacingOccurrences(of: "127.0.0.1:\(9101 + index)", with: server)
        }
        yaml = yaml.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("rate_limit:") }.joined(separator: "\n")
        return yaml
    }

    /// Writes the stack's config to `configPath`, with the runbooks it names beside it (the
    /// shipped ones, as `ballast up` copies them).
    package func writeConfig() throws {
        try ShippedRunbooks.writeCopies(into: directory.appendingPathComponent("runbooks").path)
        try configYAML().write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    package func start() async throws {
        try writeConfig()
        let log = directory.appendingPathComponent("up.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["up", "--config", configPath, "--data", directory.appendingPathComponent("data").path, "--bcrypt-cost", "4",
                             "--parent-pid", String(getpid())]
            + external.flatMap { ["--external", $0] }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        process.environment = environment
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw DrillError("ballast up exited: see \(log.path)") }
            if let status = try? await upstreamStatus(), status.allHealthy || (!external.isEmpty && status.healthy >= servers.count - external.count) {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DrillError("the stack did not become healthy within 60 s: see \(log.path)")
    }

    /// Waits until every server of every upstream is healthy.
    package func waitAllHealthy(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let status = try? await upstreamStatus(), status.allHealthy { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DrillError("not every server became healthy within \(limit)")
    }

    /// Waits until the replica on `server` answers its health check directly.
    func waitServing(_ server: String, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let response = try? await client.execute(HTTPClientRequest(url: "http://\(server)/healthz"), timeout: .seconds(1)),
               response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DrillError("the replica on \(server) did not answer /healthz within \(limit)")
    }

    struct UpstreamStatus {
        var healthy: Int
        var total: Int
        var allHealthy: Bool { total > 0 && healthy == total }
    }

    /// `healthOnly`: passing the health check is enough (an ejection may still run its course).
    func upstreamStatus(healthOnly: Bool = false) async throws -> UpstreamStatus {
        let servers = (try await adminReply(UpstreamsReport.self, "/api/v1/upstreams"))?.upstreams.flatMap(\.servers) ?? []
        return UpstreamStatus(healthy: servers.count { $0.healthy && (healthOnly || !$0.ejected) }, total: servers.count)
    }

    // MARK: The admin API

    package func admin(_ method: HTTPMethod, _ path: String, body: String? = nil, contentType: String = "application/json",
                      timeout: Duration = .seconds(60)) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: adminURL + path)
        request.method = method
        request.headers.add(name: "X-Ballast-Author", value: "ballast drill")
        if let token = adminToken { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout.milliseconds)))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        return (Int(response.status.code), Data(buffer: bytes))
    }

    /// `GET path` read as the admin API's reply type `type`; nil when the answer is not one.
    func adminReply<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T? {
        let reply = try await admin(.GET, path, timeout: .seconds(5))
        return reply.status == 200 ? AdminReplies.decode(type, from: reply.body) : nil
    }

    /// Records a drill step on the stack's own timeline.
    func record(_ kind: String, _ message: String, subject: String? = nil) async {
        let data = (try? JSONEncoder().encode(PostedEvent(source: "drill", kind: kind, subject: subject, message: message))) ?? Data()
        _ = try? await admin(.POST, "/api/v1/events", body: String(decoding: data, as: UTF8.self), timeout: .seconds(5))
    }

    // MARK: Processes

    /// The pid of the auth replica listening on `server`, found in /proc.
    package func replicaPID(_ server: String) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains("auth"), let index = arguments.firstIndex(of: "--listen"), index + 1 < arguments.count,
               arguments[index + 1] == server {
                return pid
            }
        }
        return nil
    }

    /// Sends `signal` to the replica on `server`; returns its pid.
    func signalReplica(on server: String, _ signal: Int32) throws -> Int32 {
        guard let pid = replicaPID(server) else { throw DrillError("no replica listens on \(server)") }
        kill(pid, signal)
        return pid
    }

    /// Starts an auth replica on `server` outside `up` (the fault proxy's target).
    package func startReplica(on server: String) throws {
        try FileManager.default.createDirectory(atPath: (databasePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["auth", "--listen", server, "--bcrypt-cost", "4", "--parent-pid", String(getpid())]
        process.environment = environment.merging(["BALLAST_DATABASE": database ?? "sqlite:\(databasePath)"]) { $1 }
        let log = directory.appendingPathComponent("replica-\(server.replacingOccurrences(of: ":", with: "-")).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        extraProcesses.append(process)
    }

    /// Stops everything: SIGCONT first (a hung replica must hear SIGINT), then SIGINT, then SIGKILL.
    package func stop() async {
        for server in servers { if let pid = replicaPID(server) { kill(pid, SIGCONT) } }
        for process in extraProcesses where process.isRunning { process.interrupt() }
        guard let process, process.isRunning else { return }
        process.interrupt()
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for server in servers { if let pid = replicaPID(server) { kill(pid, SIGKILL) } }
    }
}

package struct DrillError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Loopback ports nobody listens on now (bound to port 0, read back, released).
enum FreePorts {
    static func take(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw DrillError("no socket for a free port") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            guard bound else { throw DrillError("cannot bind a free loopback port") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}
