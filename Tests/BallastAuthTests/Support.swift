import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOFoundationEssentialsCompat
import Synchronization
import Testing

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The stores every auth test runs against: SQLite always, PostgreSQL when `BALLAST_TEST_POSTGRES`
/// names a server (scripts/test starts one and sets it).
enum StoreKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres

    static var available: [StoreKind] {
        ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"] == nil ? [.sqlite] : allCases
    }

    var testDescription: String { rawValue }
}

/// A fresh database of `kind`: a SQLite file in a temporary directory, or a new schema in the test PostgreSQL.
func temporaryDatabase(_ kind: StoreKind = .sqlite) -> String {
    switch kind {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-auth-\(UUID().uuidString)")
        return "sqlite:" + directory.appendingPathComponent("auth.sqlite").path
    case .postgres:
        let base = ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"]!
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
    }
}

/// One replica's service over the database `url` (cost 4 keeps bcrypt quick in tests).
func makeService(database url: String, clock: TestClock? = nil, settings: AuthSettings = AuthSettings(), cost: UInt8 = 4) async throws -> AuthService {
    let store = try AuthStores.open(url)
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
