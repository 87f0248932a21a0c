import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A fresh SQLite file in a temporary directory.
func temporaryDatabase() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-auth-\(UUID().uuidString)")
    return directory.appendingPathComponent("auth.sqlite").path
}

/// One replica's service over `path` (cost 4 keeps bcrypt quick in tests).
func makeService(path: String, clock: TestClock? = nil, settings: AuthSettings = AuthSettings(), cost: UInt8 = 4) async throws -> AuthService {
    let store = try SQLiteAuthStore(path: path)
    try await store.migrate()
    if let clock {
        return try await AuthService(store: store, hasher: PasswordHasher(cost: cost), settings: settings, clock: { clock.now })
    }
    return try await AuthService(store: store, hasher: PasswordHasher(cost: cost), settings: settings)
}

func application(_ service: AuthService) -> some ApplicationProtocol {
    Application(router: AuthAPI(service: service).router())
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

func decode(_ buffer: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(buffer: buffer))) as? [String: Any] ?? [:]
}

extension TestClientProtocol {
    func register(_ username: String, _ password: String = "correct horse battery") async throws -> TestResponse {
        try await execute(uri: "/auth/register", method: .post, headers: jsonHeaders,
                          body: body(#"{"username":"\#(username)","password":"\#(password)"}"#))
    }

    func login(_ username: String, _ password: String = "correct horse battery", from ip: String? = nil) async throws -> TestResponse {
        var headers = jsonHeaders
        if let ip { headers[HTTPField.Name("X-Forwarded-For")!] = ip }
        return try await execute(uri: "/auth/login", method: .post, headers: headers,
                                 body: body(#"{"username":"\#(username)","password":"\#(password)"}"#))
    }

    func token(_ username: String, _ password: String = "correct horse battery") async throws -> String {
        decode(try await login(username, password).body)["token"] as? String ?? ""
    }
}
