import Crypto
import Foundation
import Logging
import Metrics

/// What the auth service refuses, each with its status and a message safe to show.
package enum AuthError: Error, Equatable, Sendable {
    case invalidInput(String)
    case usernameTaken
    /// The one answer to every failed login, whether or not the user exists.
    case invalidCredentials
    case unauthenticated
    case throttled(retryAfter: Int)
    /// The password-hashing queue is full: 503 with Retry-After, at once.
    case overloaded(retryAfter: Int)
    case notFound

    package var status: Int {
        switch self {
        case .invalidInput: 400
        case .usernameTaken: 409
        case .invalidCredentials, .unauthenticated: 401
        case .throttled: 429
        case .overloaded: 503
        case .notFound: 404
        }
    }

    package var code: String {
        switch self {
        case .invalidInput: "invalid_input"
        case .usernameTaken: "username_taken"
        case .invalidCredentials: "invalid_credentials"
        case .unauthenticated: "unauthenticated"
        case .throttled: "throttled"
        case .overloaded: "overloaded"
        case .notFound: "not_found"
        }
    }

    package var message: String {
        switch self {
        case .invalidInput(let why): why
        case .usernameTaken: "that username is taken"
        case .invalidCredentials: "invalid username or password"
        case .unauthenticated: "a valid session is required"
        case .throttled(let seconds): "too many attempts; try again in \(seconds) s"
        case .overloaded(let seconds): "the service is busy; try again in \(seconds) s"
        case .notFound: "no such session"
        }
    }
}

package struct AuthSettings: Sendable {
    package var idleTimeout: TimeInterval = 30 * 60
    package var lifetime: TimeInterval = 12 * 3600
    package var minPasswordLength = 12
    package var maxPasswordBytes = 4096
    /// Sessions are re-stamped as seen at most this often, so reads stay reads.
    package var touchInterval: TimeInterval = 60
    package var throttle = LoginThrottle()
    /// Audit events older than this are deleted (`prune`); throttle records go once their window ends.
    package var auditRetention: TimeInterval = 90 * 86_400
    /// How long a password check may wait for a hashing slot before the queue refuses more (503).
    package var hashingPatience: TimeInterval = 2
    /// How long a device cookie counts: a client that logged in within it keeps its own budget.
    package var deviceLifetime: TimeInterval = 365 * 86_400
    package init() {}
}

package struct NewSession: Sendable {
    package var token: String
    package var session: SessionRecord
    /// The device token to keep in the device cookie (OWASP device cookies): sent back at the
    /// next login, it gives this client its own budget, which strangers' failures cannot use up.
    package var deviceToken: String = ""
}

/// Register, log in, check and end sessions: the auth logic, independent of HTTP.
package struct AuthService: Sendable {
    package let store: any AuthStore
    package let hasher: PasswordHasher
    package let settings: AuthSettings
    package let clock: @Sendable () -> Date
    /// Admission to bcrypt, sized from the time one hash takes here.
    package let hashing: HashingQueue
    private let dummyHash: String
    private let logger: Logger

    /// `dummyHash` is verified against for unknown users, so a miss costs what a hit costs.
    package init(store: any AuthStore, hasher: PasswordHasher, settings: AuthSettings = AuthSettings(),
                clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "ballast.auth")) async throws {
        self.store = store
        self.hasher = hasher
        self.settings = settings
        self.clock = clock
        self.logger = logger
        let started = ContinuousClock.now
        self.dummyHash = try await hasher.hash(Self.randomToken())
        let took = ContinuousClock.now - started
        self.hashing = HashingQueue.sized(hashSeconds: Double(took.components.attoseconds) / 1e18 + Double(took.components.seconds),
                                          patience: settings.hashingPatience)
    }

    /// The rule for usernames, at registration and at login (where a name that breaks it
    /// cannot exist, so it is refused before any work or record).
    static func validUsername(_ username: String) -> Bool {
        (3...64).contains(username.count)
            && username.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) })
    }

    // MARK: Accounts

    /// Registration answers whether a name is taken (409), as every sign-up form must; that
    /// answer and the hash behind each success are throttled per client network
    /// (`LoginThrottle.registrationsPerNetwork` an hour), counted before any work. A taken
    /// name is found before hashing, so a 409 costs no bcrypt.
    package func register(username: String, password: String, clientIP: String = "unknown") async throws -> UserRecord {
        guard Self.validUsername(username) else { throw AuthError.invalidInput("username must be 3-64 letters, digits, '.', '_' or '-'") }
        try checkPassword(password)
        let now = clock()
        let throttle = settings.throttle
        if let wait = try await store.reserveAttempt(keys: throttle.registrationKeys(clientIP: clientIP), now: now, window: throttle.window,
                                                    decide: { throttle.registrationRetryAfter($0, now: now) }) {
            Counter(label: "ballast_auth_registrations_total", dimensions: [("result", "throttled")]).increment()
            throw AuthError.throttled(retryAfter: Int(wait.rounded(.up)))
        }
        if try await store.user(named: username) != nil { throw AuthError.usernameTaken }
        let hasher = self.hasher
        let hash = try await hashing.run(.registration) { try await hasher.hash(password) }
        let user = UserRecord(id: Self.randomID(), username: username, passwordHash: hash, createdAt: clock())
        do {
            try await store.createUser(user)
        } catch AuthStoreError.usernameTaken {
            throw AuthError.usernameTaken
        }
        Counter(label: "ballast_auth_registrations_total", dimensions: [("result", "created")]).increment()
        try await store.audit(AuditEvent(at: clock(), kind: "register", username: username, userID: user.id, clientIP: clientIP))
        return user
    }

    /// ASVS 2.1: at least 12 characters, long passphrases welcome, no composition rules.
    private func checkPassword(_ password: String) throws {
        if password.count < settings.minPasswordLength {
            throw AuthError.invalidInput("password must be at least \(settings.minPasswordLength) characters")
        }
        if password.utf8.count > settings.maxPasswordBytes {
            throw AuthError.invalidInput("password must be at most \(settings.maxPasswordBytes) bytes")
        }
    }

    // MARK: Sessions

    /// Every attempt is counted before the password is verified (`reserveAttempt`), so
    /// concurrent guesses cannot all slip past the throttle between its read and its write;
    /// a success takes its count back. A username that breaks the naming rule cannot exist and
    /// is refused with the same answer, before any hashing, audit row or throttle record.
    ///
    /// A client that sends back the device token of an earlier successful login as this user
    /// (`deviceToken`) is counted under that device alone (OWASP's device cookies): failures
    /// from strangers, which may fill the account's hourly cap and lock it for everyone else,
    /// do not lock it out, and its own failures still back off.
    package func login(username: String, password: String, clientIP: String, deviceToken: String? = nil) async throws -> NewSession {
        guard Self.validUsername(username), password.utf8.count <= settings.maxPasswordBytes else {
            Counter(label: "ballast_auth_logins_total", dimensions: [("result", "failure")]).increment()
            throw AuthError.invalidCredentials
        }
        let now = clock()
        let throttle = settings.throttle
        var trustedDevice: String?
        if let deviceToken, deviceToken.utf8.count == 43,
           try await store.deviceUsername(tokenHash: Self.hashToken(deviceToken)) == username.lowercased() {
            trustedDevice = Self.hashToken(deviceToken)
        }
        let keys = trustedDevice.map { ["dev:\($0)"] } ?? throttle.keys(username: username, clientIP: clientIP)
        if let wait = try await store.reserveAttempt(keys: keys, now: now, window: throttle.window, decide: { throttle.retryAfter($0, now: now) }) {
            Counter(label: "ballast_auth_logins_total", dimensions: [("result", "throttled")]).increment()
            try await store.audit(AuditEvent(at: now, kind: "login_throttled", username: username, clientIP: clientIP))
            throw AuthError.throttled(retryAfter: Int(wait.rounded(.up)))
        }
        let user: UserRecord?
        let verified: Bool
        do {
            user = try await store.user(named: username)
            // Unknown users are verified against a dummy hash: same work, same time, same answer.
            let hasher = self.hasher, hash = user?.passwordHash ?? dummyHash
            verified = try await hashing.run(.login) { try await hasher.verify(password, hash: hash) }
        } catch {
            // Not verified (a full queue, the database away): the attempt was never made.
            try? await store.releaseAttempt(keys: keys)
            throw error
        }
        guard let user, verified else {
            Counter(label: "ballast_auth_logins_total", dimensions: [("result", "failure")]).increment()
            try await store.audit(AuditEvent(at: now, kind: "login_failed", username: username, userID: user?.id, clientIP: clientIP))
            throw AuthError.invalidCredentials
        }
        try await forgiveSuccess(keys)
        var device = trustedDevice == nil ? nil : deviceToken
        if device == nil {
            let fresh = Self.randomToken()
            try await store.addDevice(tokenHash: Self.hashToken(fresh), username: user.username, at: now)
            device = fresh
        }
        let token = Self.randomToken()
        let session = SessionRecord(id: Self.randomID(), userID: user.id, tokenHash: Self.hashToken(token), createdAt: now,
                                    lastSeenAt: now, expiresAt: now.addingTimeInterval(settings.lifetime))
        try await store.createSession(session)
        Counter(label: "ballast_auth_logins_total", dimensions: [("result", "success")]).increment()
        try await store.audit(AuditEvent(at: now, kind: "login_ok", username: user.username, userID: user.id, clientIP: clientIP))
        return NewSession(token: token, session: session, deviceToken: device ?? "")
    }

    /// The session and user a token belongs to, if it is still valid (absolute and idle limits).
    package func authenticate(token: String) async throws -> (SessionRecord, UserRecord) {
        guard token.utf8.count == 43, let session = try await store.session(tokenHash: Self.hashToken(token)) else {
            throw AuthError.unauthenticated
        }
        let now = clock()
        guard now < session.expiresAt, now < session.lastSeenAt.addingTimeInterval(settings.idleTimeout),
              let user = try await store.user(id: session.userID)
        else { throw AuthError.unauthenticated }
        var current = session
        if now.timeIntervalSince(session.lastSeenAt) >= settings.touchInterval {
            try await store.touchSession(id: session.id, at: now)
            current.lastSeenAt = now
        }
        return (current, user)
    }

    /// Once the session is deleted the user is logged out, and says so: an audit row that cannot
    /// be written then (the database went away between the two statements) is logged, not
    /// answered with 503 for a logout that took effect (the client would keep a dead token).
    package func logout(token: String, clientIP: String) async throws {
        let (session, user) = try await authenticate(token: token)
        _ = try await store.deleteSession(id: session.id, userID: user.id)
        do {
            try await store.audit(AuditEvent(at: clock(), kind: "logout", username: user.username, userID: user.id, clientIP: clientIP))
        } catch {
            logger.error("logout done but its audit event not written", metadata: ["user": "\(user.username)", "error": "\(error)"])
        }
    }

    package func sessions(of user: UserRecord) async throws -> [SessionRecord] {
        let now = clock()
        return try await store.sessions(userID: user.id).filter {
            now < $0.expiresAt && now < $0.lastSeenAt.addingTimeInterval(settings.idleTimeout)
        }
    }

    package func revoke(sessionID: String, of user: UserRecord, clientIP: String) async throws {
        guard try await store.deleteSession(id: sessionID, userID: user.id) else { throw AuthError.notFound }
        try await store.audit(AuditEvent(at: clock(), kind: "session_revoked", username: user.username, userID: user.id,
                                         clientIP: clientIP, detail: sessionID))
    }

    /// Changes the password and ends every other session of the user.
    /// The current password is checked under the login throttle of the account and network
    /// (a stolen session cannot be used to guess it), in the login lane of the hashing queue.
    package func changePassword(user: UserRecord, session: SessionRecord, current: String, new: String, clientIP: String) async throws {
        try checkPassword(new)
        let now = clock()
        let throttle = settings.throttle
        let keys = throttle.keys(username: user.username, clientIP: clientIP)
        if let wait = try await store.reserveAttempt(keys: keys, now: now, window: throttle.window, decide: { throttle.retryAfter($0, now: now) }) {
            throw AuthError.throttled(retryAfter: Int(wait.rounded(.up)))
        }
        let hasher = self.hasher, stored = user.passwordHash
        let verified: Bool
        do {
            verified = try await hashing.run(.login) { try await hasher.verify(current, hash: stored) }
        } catch {
            try? await store.releaseAttempt(keys: keys)
            throw error
        }
        guard verified else {
            try await store.audit(AuditEvent(at: now, kind: "password_change_failed", username: user.username, userID: user.id, clientIP: clientIP))
            throw AuthError.invalidCredentials
        }
        try await forgiveSuccess(keys)
        let hash = try await hashing.run(.login) { try await hasher.hash(new) }
        try await store.setPassword(userID: user.id, hash: hash)
        try await store.deleteSessions(userID: user.id, except: session.id)
        try await store.audit(AuditEvent(at: clock(), kind: "password_changed", username: user.username, userID: user.id, clientIP: clientIP))
    }

    /// A verified password takes its reserved count back: a device's own record, or the
    /// account-and-network record, is cleared; the account's and the network's counts give back one.
    private func forgiveSuccess(_ keys: [String]) async throws {
        guard keys.count == 3 else {
            try await store.clearThrottle(key: keys[0])
            return
        }
        try await store.releaseAttempt(keys: [keys[0], keys[2]])
        try await store.clearThrottle(key: keys[1])
    }

    /// Deletes audit events past the retention and throttle records whose window has ended;
    /// the auth server runs it every few minutes, so neither table grows without bound.
    @discardableResult
    package func prune() async throws -> (audit: Int, throttle: Int) {
        let now = clock()
        let audit = try await store.pruneAudit(before: now.addingTimeInterval(-settings.auditRetention))
        let throttle = try await store.pruneThrottle(before: now.addingTimeInterval(-settings.throttle.window))
        _ = try await store.pruneDevices(before: now.addingTimeInterval(-settings.deviceLifetime))
        return (audit, throttle)
    }

    package func activeSessionCount() async throws -> Int {
        let now = clock()
        return try await store.countActiveSessions(now: now, idleSince: now.addingTimeInterval(-settings.idleTimeout))
    }

    // MARK: Tokens

    /// 256 random bits from the system's CSPRNG, base64url without padding (43 characters).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// Only this is stored: a database leak reveals no usable token.
    static func hashToken(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
