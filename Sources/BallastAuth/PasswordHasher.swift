import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// bcrypt over an HMAC-SHA256 pre-hash, so no password is ever truncated.
///
/// bcrypt reads only the first 72 bytes: two long passwords sharing those would both verify.
/// Pre-hashing (as passlib's `bcrypt_sha256` does) turns any length into 44 base64 characters;
/// the HMAC key keeps the pre-hash from being a bare SHA-256 of the password. Hashing runs on
/// `NIOThreadPool`, never on an event loop.
package struct PasswordHasher: Sendable {
    package static let prefix = "$bsha256$"
    private static let key = SymmetricKey(data: Array("ballast-bcrypt-sha256-v1".utf8))
    package let cost: UInt8

    package init(cost: UInt8 = 12) {
        precondition((4...31).contains(cost), "bcrypt cost must be 4-31")
        self.cost = cost
    }

    static func prehash(_ password: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Array(password.utf8), using: key)).base64EncodedString()
    }

    package func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive {
            Self.prefix + Bcrypt.hash(Self.prehash(password), cost: cost)
        }
    }

    package func verify(_ password: String, hash: String) async throws -> Bool {
        guard hash.hasPrefix(Self.prefix) else { return false }
        let bcrypt = String(hash.dropFirst(Self.prefix.count))
        return try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.verify(Self.prehash(password), hash: bcrypt)
        }
    }
}
