/// Headers the proxy must understand; every other header is forwarded as received.
enum KnownHeader: UInt8, Sendable {
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    case keepAlive
    case te
    case upgrade
    case proxyConnection
    case trailer
    case xForwardedFor
    case xForwardedProto
    case xForwardedHost
    case xRequestID
    case cookie
    /// RFC 7239 `Forwarded` and nginx's `X-Real-IP`: client addresses an upstream may trust,
    /// kept only from trusted proxies.
    case forwarded
    case xRealIP
    /// Ours alone: the subject of the client certificate a TLS listener verified.
    case xClientCertSubject
    /// W3C Trace Context: replaced by ours (the client's trace continued), `tracestate` kept
    /// only beside a valid `traceparent`.
    case traceparent
    case tracestate

    /// Headers that describe one connection only (RFC 9110 §7.6.1) and never cross the proxy.
    var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .te, .upgrade, .proxyConnection: true
        default: false
        }
    }
}

/// One header line, as offsets into the head's bytes (relative to the head's start).
struct HeaderField: Sendable {
    var lineStart: Int
    var nameEnd: Int
    var valueStart: Int
    var valueEnd: Int
    /// Just past the line's CRLF.
    var lineEnd: Int
    var kind: KnownHeader
    /// Set when a `Connection` header names this field, so it must be dropped too.
    var droppedByConnection = false
}

enum HTTPVersion: Sendable, Equatable {
    case http10
    case http11
}

/// Why a head was refused; each maps to the status the client gets.
enum HTTPHeadError: Error, Sendable, Equatable {
    case badRequest(String)
    case headersTooLarge
    /// More than `HeadScanner.maxFields` header fields.
    case tooManyFields
    case versionNotSupported
    case notImplemented(String)
    case bodyTooLarge

    var status: Int {
        switch self {
        case .badRequest: 400
        case .headersTooLarge, .tooManyFields: 431
        case .versionNotSupported: 505
        case .notImplemented: 501
        case .bodyTooLarge: 413
        }
    }

    var reason: String {
        switch self {
        case .badRequest(let why): why
        case .headersTooLarge: "request headers are too large"
        case .tooManyFields: "too many request header fields"
        case .versionNotSupported: "only HTTP/1.0 and HTTP/1.1 are supported"
        case .notImplemented(let why): why
        case .bodyTooLarge: "request body is too large"
        }
    }
}

/// How the end of a message body is found.
enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
    /// Response only: the body ends when the server closes the connection.
    case untilClose
}
