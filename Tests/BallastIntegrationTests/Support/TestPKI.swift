import Foundation

/// A certificate authority and the certificates it issues, made by openssl in a temporary
/// directory: what a deployment's internal PKI gives Ballast (server, client and CA files).
struct TestPKI {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func openssl(_ arguments: [String]) throws -> String {
        let (status, output) = try runTool("openssl", arguments, package: "openssl")
        guard status == 0 else { throw ToolError(description: "openssl \(arguments.joined(separator: " ")): \(output)") }
        return output
    }

    /// A CA certificate (basicConstraints CA:TRUE) and its key: `NAME.crt`, `NAME.key`.
    @discardableResult
    func authority(_ name: String) throws -> String {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-days", "30", "-subj", "/CN=\(name)",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return path("\(name).crt")
    }

    /// A leaf certificate for `subject` with `names` (`DNS:a.test`, `IP:127.0.0.1`) issued by
    /// `ca` (self-signed, CA:FALSE, when nil); valid for `days`.
    func issue(_ name: String, subject: String, names: [String] = [], by ca: String?, days: Int = 30) throws -> (cert: String, key: String) {
        let cert = path("\(name).crt"), key = path("\(name).key"), csr = path("\(name).csr"), ext = path("\(name).ext")
        var extensions = "basicConstraints=critical,CA:FALSE\n"
        if !names.isEmpty { extensions += "subjectAltName=\(names.joined(separator: ","))\n" }
        try extensions.write(toFile: ext, atomically: true, encoding: .utf8)
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", subject])
        if let ca {
            try openssl(["x509", "-req", "-in", csr, "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"), "-CAcreateserial",
                         "-out", cert, "-days", String(days), "-extfile", ext])
        } else {
            try openssl(["x509", "-req", "-in", csr, "-signkey", key, "-out", cert, "-days", String(days), "-extfile", ext])
        }
        return (cert, key)
    }
}

/// nginx (Debian's package) serving HTTPS on a loopback port, one process in the foreground:
/// the TLS upstream a deployment puts behind Ballast. Every answer names the TLS connection it
/// came on (`$connection`) and the client certificate's subject (`$ssl_client_s_dn`).
final class NginxTLSBackend: Sendable {
    let port: Int
    let directory: String
    private let process: Process

    private init(port: Int, directory: String, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    var address: String { "127.0.0.1:\(port)" }

    /// `clientCA`: require client certificates signed by it (`ssl_verify_client on`).
    static func start(cert: String, key: String, clientCA: String? = nil) async throws -> NginxTLSBackend {
        guard let nginx = installedTool("nginx") else {
            throw ToolError(description: "nginx is not installed; `apt-get install nginx` (.ci/run does)")
        }
        let port = try await freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-nginx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let verify = clientCA.map { "ssl_client_certificate \($0); ssl_verify_client on;" } ?? ""
        let config = """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(directory)/nginx.pid;
        error_log \(directory)/error.log;
        events { worker_connections 1024; }
        http {
          access_log off;
          client_body_temp_path \(directory)/body;
          proxy_temp_path \(directory)/proxy;
          fastcgi_temp_path \(directory)/fastcgi;
          uwsgi_temp_path \(directory)/uwsgi;
          scgi_temp_path \(directory)/scgi;
          keepalive_requests 100000;
          server {
            listen 127.0.0.1:\(port) ssl;
            ssl_certificate \(cert);
            ssl_certificate_key \(key);
            \(verify)
            location / { default_type text/plain; return 200 "tls-backend connection=$connection client=$ssl_client_s_dn sni=$ssl_server_name\\n"; }
          }
        }
        """
        try config.write(toFile: "\(directory)/nginx.conf", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-c", "\(directory)/nginx.conf", "-p", directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let backend = NginxTLSBackend(port: port, directory: directory, process: process)
        for _ in 0..<100 {
            if (try? await withConnection(port: port) { _ in }) != nil { return backend }
            try await Task.sleep(for: .milliseconds(50))
        }
        backend.stop()
        let log = (try? String(contentsOfFile: "\(directory)/error.log", encoding: .utf8)) ?? ""
        throw ToolError(description: "nginx did not start on \(port): \(log)")
    }

    /// SIGKILL: nginx without its master process does not leave on SIGTERM.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
