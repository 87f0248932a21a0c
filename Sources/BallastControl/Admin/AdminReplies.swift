import BallastConfig
import Foundation

/// The admin API's replies as types, in one place: the server encodes them and the CLI decodes
/// them (`AdminReplies.decode`), so the two cannot disagree on a key. Times are ISO 8601 with
/// milliseconds (`ISOTime`).
public enum AdminReplies {
    /// Any refusal: `{"error": code, "message": text}`.
    public struct Failure: Codable, Sendable {
        public var error: String
        public var message: String
    }

    /// 422 `invalid_config` (and a refused rollout's findings): every finding, errors first.
    public struct Findings: Codable, Sendable {
        public var error: String
        public var findings: [Finding]
    }

    /// 200 from `POST /api/v1/config` and `/config/rollback`.
    public struct Applied: Codable, Sendable {
        public var version: Int
        public var warnings: [Finding]
    }

    /// `GET /api/v1/config/history`: oldest first.
    public struct History: Codable, Sendable {
        public var versions: [ConfigVersion]
    }

    /// `GET /api/v1/events`.
    public struct Events: Codable, Sendable {
        public var events: [TimelineEvent]
    }

    /// Any reply, read as `type`; nil when the body is not one (an answer from something else).
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data) -> T? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        return try? decoder.decode(type, from: body)
    }
}
