import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Attacks on the auth service that no honest client makes, on each store.
@Suite struct AuthAttackTests {
    @Test(arguments: StoreKind.available) func aSessionCannotBeFixedGuessedOrReadFromTheCookie(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store))
        try await application(service).test(.live) { client async throws in
            #expect(try await client.register("ivan").status == .created)
            // Fixation: a token the client chose beforehand is ignored; login mints a new one.
            let planted = String(repeating: "a", count: 43)
            var headers = jsonHeaders
            headers[.cookie] = "\(AuthAPI.cookieName)=\(planted)"
            let login = try await client.execute(uri: "/auth/login", method: .post, headers: headers,
                                                 body: body(#"{"username":"ivan","password":"correct horse battery"}"#))
            #expect(login.status == .ok)
            let token = try #require(decode(login.body)["token"] as? String)
            #expect(token != planted)
            #expect(try await client.execute(uri: "/auth/me", method: .get, headers: bearer(planted)).status == .unauthorized)
            // 256 random bits, URL-safe, and the cookie is out of reach of scripts and other sites.
            #expect(Data(base64Encoded: token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=")?.count == 32)
            let cookie = try #require(login.headers[.setCookie])
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"))
            #expect(!cookie.contains("Secure"))  // plain HTTP from an untrusted peer: no TLS evidence
            // Guessing: a thousand well-formed random tokens open nothing. On a loaded machine the
            // database may miss its 3 s deadline for one of them (503: it opened nothing either);
            // nearly all must be the plain 401.
            var refused = 0
            for _ in 0..<1000 {
                let guess = (0..<32).map { _ in UInt8.random(in: 0...255) }
                let text = Data(guess).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                let status = try await client.execute(uri: "/auth/me", method: .get, headers: bearer(text)).status
                #expect(status == .unauthorized || status == .serviceUnavailable, "a guessed token got \(status)")
                if status == .unauthorized { refused += 1 }
            }
            #expect(refused >= 990, "\(1000 - refused) guesses were not answered 401")
            // The real token still works, and is not stored as itself.
            #expect(try await client.execute(uri: "/auth/me", method: .get, headers: bearer(token)).status == .ok)
            let sessions = try await service.store.sessions(userID: try #require(try await service.store.user(named: "ivan")).id)
            #expect(sessions.allSatisfy { $0.tokenHash != token && $0.tokenHash.count == 64 })
        }
    }

    @Test(arguments: StoreKind.available) func bruteForceFromManyAddressesIsCappedPerAccount(store: StoreKind) async throws {
        // Back-offs of a minute and more: on a loaded machine a 1 s back-off lapsed between two
        // logins of the spray below, which then counted one more failure instead of a 429.
        var settings = AuthSettings()
        settings.throttle.baseDelay = 60
        let service = try await makeService(database: temporaryDatabase(store), settings: settings)
        try await application(service).test(.live) { client async throws in
            _ = try await client.register("judy")
            // A botnet: every attempt from a new address, all against one account. Each address is
            // below its own limits; the account's hourly cap (100 failures) stops them all.
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<105 {
                statuses.append(try await client.login("judy", "guess number \(i)!", from: "198.18.\(i / 250).\(i % 250)").status)
            }
            #expect(statuses.prefix(100).allSatisfy { $0 == .unauthorized })
            #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests }, "\(statuses.suffix(5))")
            // Even the right password waits until the hour ends.
            #expect(try await client.login("judy", from: "198.18.9.9").status == .tooManyRequests)
            // One address trying many accounts is throttled by address.
            var spray: [HTTPResponse.Status] = []
            for i in 0..<40 { spray.append(try await client.login("user\(i)", "Winter2026!!", from: "203.0.113.77").status) }
            #expect(spray.suffix(5).allSatisfy { $0 == .tooManyRequests }, "\(spray)")
        }
    }
}
