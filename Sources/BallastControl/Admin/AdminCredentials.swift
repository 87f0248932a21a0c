import BallastConfig
import Crypto
import Foundation

/// Who may use the admin API, and for what: tokens, each naming a principal with a role.
///
/// Tokens come from the environment (`admin.token_env` may write, `admin.read_token_env` may only
/// read), from `admin.tokens_file` (one `NAME ROLE SHA256-HEX` per line, so the file holds no
/// secret), and from the token file `ballast up` generates in its data directory. Only digests are
/// kept; a presented token is compared with every digest in constant time.
package struct AdminCredentials: Sendable {
    package enum Role: String, Sendable, Comparable {
        case read, write
        package static func < (a: Role, b: Role) -> Bool { a == .read && b == .write }
    }

    package struct Principal: Sendable, Equatable {
        package var name: String
        package var role: Role
        package init(name: String, role: Role) {
            self.name = name
            self.role = role
        }
    }

    package struct Invalid: Error, CustomStringConvertible {
        package var description: String
    }

    private var entries: [(digest: [UInt8], principal: Principal)] = []

    /// No token at all: the admin API is open (allowed on loopback only, see `load`).
    package var isEmpty: Bool { entries.isEmpty }
    package var principals: [Principal] { entries.map(\.principal) }

    package init() {}

    package mutating func add(token: String, as principal: Principal) {
        entries.append((Array(SHA256.hash(data: Array(token.utf8))), principal))
    }

    mutating func add(digest: [UInt8], as principal: Principal) {
        entries.append((digest, principal))
    }

    /// The principal `token` belongs to, or nil. Every digest is compared, in constant time.
    package func principal(presenting token: String) -> Principal? {
        let presented = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Principal?
        for entry in entries {
            var difference: UInt8 = 0
            for i in 0..<presented.count { difference |= presented[i] ^ entry.digest[i] }
            if difference == 0, found == nil { found = entry.principal }
        }
        return found
    }

    /// Every token `admin` names. `generatedFile` is the token file `ballast up` keeps in its
    /// data directory (created with 32 random bytes, mode 0600, when missing); it is used only
    /// when the environment holds no write token. Refuses an admin listener beyond loopback
    /// without a token, and token files that others may read.
    package static func load(_ config: Config, environment: [String: String],
                            generatedFile: String? = nil) throws -> AdminCredentials {
        let admin = config.admin
        var credentials = AdminCredentials()
        if let token = environment[admin.tokenEnv], !token.isEmpty {
            credentials.add(token: token, as: Principal(name: "admin", role: .write))
        } else if let generatedFile {
            credentials.add(token: try ensureTokenFile(generatedFile), as: Principal(name: "admin", role: .write))
        }
        if let token = environment[admin.readTokenEnv], !token.isEmpty {
            credentials.add(token: token, as: Principal(name: "reader", role: .read))
        }
        if let file = admin.tokensFile {
            try credentials.addTokensFile(config.resolvePath(file))
        }
        if credentials.isEmpty, !admin.listen.isLoopback {
            throw Invalid(description:
                "admin listens on \(admin.listen), beyond loopback, but no token is set ($\(admin.tokenEnv) or admin.tokens_file); set one or listen on 127.0.0.1")
        }
        return credentials
    }

    /// Reads `admin.tokens_file`: `NAME ROLE SHA256-HEX` per line, `#` comments.
    mutating func addTokensFile(_ path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Invalid(description: "admin.tokens_file \(path) cannot be read")
        }
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count == 3, let role = Role(rawValue: String(fields[1])), let digest = Self.hex(fields[2]), digest.count == 32,
                  fields[0].allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }), fields[0].count <= 64 else {
                throw Invalid(description: "\(path):\(number + 1): expected 'NAME read|write SHA256-HEX' (the token's digest: printf %s TOKEN | sha256sum)")
            }
            add(digest: digest, as: Principal(name: String(fields[0]), role: role))
        }
    }

    /// The token in `path`, creating it (0600, 32 random bytes as hex) when missing. A file that
    /// its group or others may read is refused, as ssh refuses such a key.
    package static func ensureTokenFile(_ path: String) throws -> String {
        if !FileManager.default.fileExists(atPath: path) {
            var bytes = [UInt8](repeating: 0, count: 32)
            var generator = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = generator.next() }
            let token = bytes.map { String(format: "%02x", $0) }.joined()
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if fd >= 0 {
                let line = Array((token + "\n").utf8)
                let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                guard written == line.count else { throw Invalid(description: "cannot write the admin token to \(path)") }
            } else if errno != EEXIST {
                throw Invalid(description: "cannot create the admin token file \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int else {
            throw Invalid(description: "cannot read the admin token file \(path)")
        }
        if mode & 0o077 != 0 {
            throw Invalid(description: "the admin token file \(path) may be read by others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              case let token = text.trimmingCharacters(in: .whitespacesAndNewlines), token.count >= 16 else {
            throw Invalid(description: "the admin token file \(path) holds no token (16 characters or more)")
        }
        return token
    }

    static func hex(_ text: Substring) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
