import Foundation
import Testing

/// Several hosts on one machine: network namespaces (iproute2, as root) give PostgreSQL, three
/// auth replicas and two balancers each their own address on a bridge; the test talks to them
/// from the root namespace like any client. Everything is a real process: `ballast auth`,
/// `ballast lb --state postgres://…`, and PostgreSQL from Debian's packages.
@Suite(.serialized, .enabled(if: getuid() == 0, "network namespaces need root (CI runs as root)"))
struct MultiHostTests {
    @Test func sessionsConfigAndThrottlingAreSharedAndACutReplicaIsRoutedAround() async throws {
        let net = try Netns()
        defer { net.tearDown() }
        let pgURL = try net.startPostgres()
        for index in 1...3 { try net.startReplica(index, database: pgURL) }
        let configPath = try net.writeConfig()
        try net.startBalancer(1, config: configPath, state: pgURL)
        try net.startBalancer(2, config: configPath, state: pgURL)
        let (lb1, lb2) = (net.address(21), net.address(22))
        try await waitUntilAsync(timeout: .seconds(60)) {
            net.curl("http://\(lb1):8080/auth/me").status == 401 && net.curl("http://\(lb2):8080/auth/me").status == 401
        }

        // 1. A session made through one balancer is valid through the other.
        // The replicas answer HTTPS only, with a certificate their CA signed for auth.internal.
        let replica = "\(net.address(11)):9101"
        #expect(net.curl("https://auth.internal:9101/readyz", options: ["--resolve", "auth.internal:9101:\(net.address(11))",
                                                                       "--cacert", net.pki.path("replicas.crt")]).status == 200)
        #expect(net.curl("http://\(replica)/readyz").status != 200)

        let credentials = #"{"username":"alice","password":"correct horse battery"}"#
        #expect(net.curl("http://\(lb1):8080/auth/register", post: credentials).status == 201)
        let login = net.curl("http://\(lb1):8080/auth/login", post: credentials)
        #expect(login.status == 200)
        let token = try #require(login.json["token"] as? String)
        for _ in 0..<6 {  // round robin: every replica answers at least once
            #expect(net.curl("http://\(lb2):8080/auth/me", headers: ["Authorization: Bearer \(token)"]).status == 200)
        }

        // 2. A config applied on one balancer reaches both, as the same version.
        let before = try #require(Int(net.curl("http://\(lb2):9900/api/v1/config", admin: true).header("X-Ballast-Config-Version") ?? ""))
        let changed = try String(contentsOfFile: configPath, encoding: .utf8)
            .replacingOccurrences(of: "balance: round_robin", with: "balance: least_request")
        let applied = net.curl("http://\(lb1):9900/api/v1/config", post: changed, admin: true, contentType: "application/yaml")
        #expect(applied.status == 200, "\(applied.body)")
        let version = try #require(applied.json["version"] as? Int)
        #expect(version > before)
        try await waitUntilAsync(timeout: .seconds(10)) {
            let live = net.curl("http://\(lb2):9900/api/v1/config", admin: true)
            return live.header("X-Ballast-Config-Version") == String(version) && live.body.contains("balance: least_request")
        }
        try await waitUntilAsync(timeout: .seconds(10)) {
            let state = net.curl("http://\(lb1):9900/api/v1/status", admin: true).json["state"] as? [String: Any]
            let balancers = state?["balancers"] as? [[String: Any]] ?? []
            return balancers.count == 2 && balancers.allSatisfy { $0["version"] as? Int == version }
        }

        // 3. A balancer that misses a version is shown as disagreeing, then catches up.
        try net.signal(balancer: 2, SIGSTOP)
        let third = changed.replacingOccurrences(of: "budget_percent: 50", with: "budget_percent: 40")
        let appliedThird = net.curl("http://\(lb1):9900/api/v1/config", post: third, admin: true, contentType: "application/yaml")
        #expect(appliedThird.status == 200, "\(appliedThird.body)")
        let newest = try #require(appliedThird.json["version"] as? Int)
        let status = net.ballast(["status", "--admin", "http://\(lb1):9900"])
        #expect(status.status == 1, "\(status.output)")
        #expect(status.output.contains("balancers DISAGREE"), "\(status.output)")
        #expect(status.output.contains("lb2") && status.output.contains("runs v\(version)"), "\(status.output)")
        try net.signal(balancer: 2, SIGCONT)
        try await waitUntilAsync(timeout: .seconds(10)) {
            net.curl("http://\(lb2):9900/api/v1/config", admin: true).header("X-Ballast-Config-Version") == String(newest)
        }
        try await waitUntilAsync(timeout: .seconds(10)) { net.ballast(["status", "--admin", "http://\(lb2):9900"]).status == 0 }

        // 4. Cutting a replica's link is detected and routed around: no client sees an error.
        try net.ip(["link", "set", net.hostSide("a2"), "down"])
        try await waitUntilAsync(timeout: .seconds(15)) {
            let upstreams = net.curl("http://\(lb1):9900/api/v1/upstreams", admin: true).body
            let second = net.curl("http://\(lb2):9900/api/v1/upstreams", admin: true).body
            return [upstreams, second].allSatisfy { Self.unhealthy($0).contains("\(net.address(12)):9101") }
        }
        for index in 0..<20 {
            let lb = index % 2 == 0 ? lb1 : lb2
            #expect(net.curl("http://\(lb):8080/auth/me", headers: ["Authorization: Bearer \(token)"]).status == 200)
        }
        try net.ip(["link", "set", net.hostSide("a2"), "up"])
        // Back in rotation only once it reaches the database again (the balancers check /readyz).
        try await waitUntilAsync(timeout: .seconds(15)) {
            let upstreams = net.curl("http://\(lb1):9900/api/v1/upstreams", admin: true).body
            let second = net.curl("http://\(lb2):9900/api/v1/upstreams", admin: true).body
            return [upstreams, second].allSatisfy { !Self.unhealthy($0).contains("\(net.address(12)):9101") }
        }

        // 5. Throttling is shared: failures through both balancers count together.
        let wrong = #"{"username":"alice","password":"wrong password!!"}"#
        for index in 0..<5 {
            #expect(net.curl("http://\(index % 2 == 0 ? lb1 : lb2):8080/auth/login", post: wrong).status == 401)
        }
        #expect(net.curl("http://\(lb2):8080/auth/login", post: wrong).status == 429)
        #expect(net.curl("http://\(lb1):8080/auth/login", post: credentials).status == 429)

        // 6. PostgreSQL goes away: the balancers keep serving on their config, say they are not
        //    ready, refuse config changes without changing anything, and recover by themselves.
        net.stopPostgres()
        try await waitUntilAsync(timeout: .seconds(15)) { net.curl("http://\(lb1):9900/api/v1/ready", admin: true).status == 503 }
        #expect(net.curl("http://\(lb1):8080/healthz-not-routed").status == 404)  // the data plane still answers
        let refused = net.curl("http://\(lb1):9900/api/v1/config", post: changed, admin: true, contentType: "application/yaml")
        #expect(refused.status == 503, "\(refused.body)")
        #expect(net.curl("http://\(lb1):9900/api/v1/config", admin: true).header("X-Ballast-Config-Version") == String(newest))
        _ = try net.startPostgres()
        try await waitUntilAsync(timeout: .seconds(30)) {
            net.curl("http://\(lb1):9900/api/v1/ready", admin: true).status == 200
                && net.curl("http://\(lb2):9900/api/v1/ready", admin: true).status == 200
        }
        let afterOutage = net.curl("http://\(lb2):9900/api/v1/config", post: changed, admin: true, contentType: "application/yaml")
        #expect(afterOutage.status == 200, "\(afterOutage.body)")
        let last = try #require(afterOutage.json["version"] as? Int)
        try await waitUntilAsync(timeout: .seconds(10)) {
            net.curl("http://\(lb1):9900/api/v1/config", admin: true).header("X-Ballast-Config-Version") == String(last)
        }
        // The history is one list, whichever balancer is asked.
        let history = net.curl("http://\(lb2):9900/api/v1/config/history", admin: true).json["versions"] as? [[String: Any]] ?? []
        #expect(history.compactMap { $0["version"] as? Int }.filter { $0 > 0 }.suffix(3) == [version, newest, last])
    }

    static func unhealthy(_ upstreamsJSON: String) -> [String] {
        let object = (try? JSONSerialization.jsonObject(with: Data(upstreamsJSON.utf8))) as? [String: Any]
        let upstreams = object?["upstreams"] as? [[String: Any]] ?? []
        return upstreams.flatMap { ($0["servers"] as? [[String: Any]]) ?? [] }
            .filter { $0["healthy"] as? Bool == false || $0["ejected"] as? Bool == true }
            .compactMap { $0["address"] as? String }
    }
}

/// A bridge with one namespace per component; torn down (processes, namespaces, links) at the end.
final class Netns: @unchecked Sendable {
    let prefix: String
    let subnet: Int
    let directory: URL
    let token = "multihost-admin-token"
    /// The replicas' certificate (`auth.internal`, from a CA of their own): the balancer→replica
    /// hop is TLS, verified against that CA and name.
    let pki: TestPKI
    let replicaCertificate: (cert: String, key: String)
    private var processes: [String: Process] = [:]
    private let names = ["pg": 10, "a1": 11, "a2": 12, "a3": 13, "lb1": 21, "lb2": 22]

    init() throws {
        guard installedTool("ip") != nil else { throw ToolError(description: "ip is not installed; apt-get install iproute2 (.ci/run does)") }
        pki = try TestPKI()
        try pki.authority("replicas")
        replicaCertificate = try pki.issue("auth", subject: "/CN=auth.internal", names: ["DNS:auth.internal"], by: "replicas")
        prefix = "bl" + String(UUID().uuidString.prefix(4)).lowercased()
        subnet = Int.random(in: 100...250)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-multihost-\(prefix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try ip(["link", "add", bridge, "type", "bridge"])
        try ip(["addr", "add", "10.\(subnet).0.1/24", "dev", bridge])
        try ip(["link", "set", bridge, "up"])
        for (name, host) in names {
            let namespace = self.namespace(name)
            try ip(["netns", "add", namespace])
            try ip(["link", "add", hostSide(name), "type", "veth", "peer", "name", "eth0", "netns", namespace])
            try ip(["link", "set", hostSide(name), "master", bridge, "up"])
            try ip(["-n", namespace, "addr", "add", "\(address(host))/24", "dev", "eth0"])
            try ip(["-n", namespace, "link", "set", "eth0", "up"])
            try ip(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    var bridge: String { "\(prefix)br" }
    func namespace(_ name: String) -> String { "\(prefix)-\(name)" }
    func hostSide(_ name: String) -> String { "\(prefix)\(name)h" }
    func address(_ host: Int) -> String { "10.\(subnet).0.\(host)" }
    var repository: URL { ballastExecutable.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @discardableResult
    func ip(_ arguments: [String]) throws -> String {
        let (status, output) = try runTool("ip", arguments, package: "iproute2")
        guard status == 0 else { throw ToolError(description: "ip \(arguments.joined(separator: " ")): \(output)") }
        return output
    }

    func startPostgres() throws -> String {
        // Output to a file, not a pipe (the server keeps inherited descriptors open, so a pipe
        // never ends), and reaped with waitpid: Foundation's Process did not notice this exit.
        let outputPath = directory.appendingPathComponent("postgres-start.out").path
        let status = try Self.shell("""
            ip netns exec \(namespace("pg")) \(script) start \(directory.appendingPathComponent("pg").path) \(address(10)) 5432 > \(outputPath) 2>&1
            """)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0, let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://") else {
            throw ToolError(description: "PostgreSQL did not start: \(output)")
        }
        // Over TLS, verified: the server's certificate names its address and comes from the CA
        // scripts/postgres made beside its data.
        return url + "?sslmode=verify-full&sslrootcert=" + directory.appendingPathComponent("pg/tls-ca.crt").path
    }

    func stopPostgres() {
        _ = try? Self.shell("\(script) stop \(directory.appendingPathComponent("pg").path) > /dev/null 2>&1")
    }

    private var script: String { repository.appendingPathComponent("scripts/postgres").path }

    /// `/bin/sh -c command`, waited for with waitpid; returns the exit status.
    static func shell(_ command: String) throws -> Int32 {
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", command]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
        guard spawned == 0 else { throw ToolError(description: "posix_spawn failed: \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    private func spawn(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: installedTool("ip")!)
        process.arguments = ["netns", "exec", namespace(name), ballastExecutable.path] + arguments
        process.currentDirectoryURL = repository  // runbooks resolve from the repository, as in production from the deploy directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes[name] = process
    }

    func startReplica(_ index: Int, database: String) throws {
        try spawn("a\(index)", ["auth", "--listen", "\(address(10 + index)):9101", "--database", database, "--bcrypt-cost", "4",
                                "--trusted-proxy", address(21), "--trusted-proxy", address(22), "--parent-pid", String(getpid()),
                                "--tls-cert", replicaCertificate.cert, "--tls-key", replicaCertificate.key])
    }

    func startBalancer(_ index: Int, config: String, state: String) throws {
        try spawn("lb\(index)", ["lb", "--config", config, "--state", state, "--instance", "lb\(index)", "--threads", "1"],
                  environment: ["BALLAST_ADMIN_TOKEN": token])
    }

    func signal(balancer index: Int, _ signal: Int32) throws {
        guard let process = processes["lb\(index)"] else { throw ToolError(description: "no balancer \(index)") }
        kill(process.processIdentifier, signal)
    }

    func writeConfig() throws -> String {
        let servers = (1...3).map { "      - { address: \(address(10 + $0)):9101, weight: 1 }" }.joined(separator: "\n")
        let yaml = """
            version: 1
            admin: { listen: 0.0.0.0:9900, token_env: BALLAST_ADMIN_TOKEN }
            listeners:
              - name: public
                listen: 0.0.0.0:8080
                routes:
                  - name: auth
                    match: { path_prefix: /auth/ }
                    upstream: auth
                    timeouts: { connect: 500ms, response: 5s }
                    retries: { attempts: 2, on: [connect-failure], budget_percent: 50 }
                    rate_limit: { per_client: 1000/s, burst: 1000 }
            upstreams:
              - name: auth
                balance: round_robin
                servers:
            \(servers)
                health: { path: /readyz, interval: 1s, timeout: 500ms, healthy_after: 1, unhealthy_after: 2, expect_status: 200 }
                tls: { ca: \(pki.path("replicas.crt")), server_name: auth.internal }
            """
        let path = directory.appendingPathComponent("ballast.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    struct Reply {
        var status: Int
        var body: String
        var headers: [String]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        func header(_ name: String) -> String? {
            headers.first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
    }

    /// One HTTP request with curl from the root namespace (a client on the bridge).
    func curl(_ url: String, post body: String? = nil, headers: [String] = [], admin: Bool = false,
              contentType: String = "application/json", options: [String] = []) -> Reply {
        let headerFile = directory.appendingPathComponent("headers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["-s", "-m", "10", "-D", headerFile, "-w", "\n%{http_code}"] + options + [url]
        for header in headers { arguments += ["-H", header] }
        if admin { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if body != nil { arguments += ["-X", "POST", "-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        guard let (_, output) = try? runTool("curl", arguments, input: body.map { Data($0.utf8) }, package: "curl") else {
            return Reply(status: 0, body: "", headers: [])
        }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let headerText = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        return Reply(status: status, body: lines.dropLast().joined(separator: "\n"), headers: headerText.components(separatedBy: "\r\n"))
    }

    func ballast(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": token]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func tearDown() {
        for process in processes.values where process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            process.terminate()
            process.waitUntilExit()
        }
        stopPostgres()
        for name in names.keys {
            _ = try? ip(["netns", "delete", namespace(name)])
            _ = try? ip(["link", "delete", hostSide(name)])
        }
        _ = try? ip(["link", "delete", bridge])
        if ProcessInfo.processInfo.environment["BALLAST_KEEP_MULTIHOST_LOGS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}
