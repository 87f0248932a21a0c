/// Follows the framing of a chunked body as its bytes pass through, without changing them.
///
/// The proxy forwards chunked bodies verbatim; this state machine only finds where the body
/// ends and refuses malformed framing (bad sizes, missing CRLFs, bare LF), which is what
/// keeps a kept-alive server connection in step with the client.
///
/// Chunk extensions and trailers carry no data a server needs and are where parsers differ,
/// so together they may take at most `maxFramingBytes` of a body (Node.js bounds extensions at
/// 16 KiB after CVE-2024-22019). With `stripsTrailers` (requests from clients), trailer fields
/// are not forwarded: `forwardable` says how many of the bytes just consumed to pass on, and
/// once the body `isDone` the caller ends it with `finalCRLF`, as if it had no trailers, so no
/// server can merge a client's `Content-Length` or `X-Forwarded-For` trailer into its headers.
struct ChunkedFraming: Sendable {
    enum State: Sendable, Equatable {
        case size(digits: Int, value: Int)
        case extensionBytes(value: Int)
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        /// After the last chunk: trailer lines until an empty line.
        case trailerLineStart
        case trailerName
        case trailerValue
        case trailerLF(emptyLine: Bool)
        case done
    }

    enum Failure: Error, Sendable, Equatable {
        case invalidSize
        case invalidExtension
        case missingCRLF
        case tooLarge
        case invalidTrailer
        /// Chunk extensions and trailers beyond `maxFramingBytes`.
        case framingTooLarge
    }

    private(set) var state: State = .size(digits: 0, value: 0)
    /// Sum of chunk sizes so far, checked against `limit`.
    private(set) var bodyBytes = 0
    let limit: Int
    let stripsTrailers: Bool
    /// Of the bytes the last `consume` took, how many (from the front) to forward.
    private(set) var forwardable = 0
    /// Extension and trailer bytes so far, checked against `maxFramingBytes`.
    private(set) var framingBytes = 0
    static let maxFramingBytes = 16_384
    /// What ends a body whose trailers were not forwarded.
    static let finalCRLF: [UInt8] = [HeadScanner.cr, HeadScanner.lf]

    init(limit: Int = .max, stripsTrailers: Bool = false) {
        self.limit = limit
        self.stripsTrailers = stripsTrailers
    }

    var isDone: Bool { state == .done }

    private var inTrailers: Bool {
        switch state {
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .done: true
        default: false
        }
    }

    @inline(__always)
    private mutating func countFramingByte() throws(Failure) {
        framingBytes += 1
        guard framingBytes <= Self.maxFramingBytes else { throw .framingTooLarge }
    }

    private static let maxSizeDigits = 15

    /// Consumes bytes from the front of `bytes`; returns how many belong to this body. When the
    /// body ends inside `bytes`, the rest belongs to the next message.
    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Int {
        var i = 0
        let count = bytes.count
        // Where the trailer section starts in these bytes (0 when it started before them).
        var trailersFrom: Int? = stripsTrailers && inTrailers ? 0 : nil
        defer { forwardable = trailersFrom ?? i }
        while i < count {
            let b = bytes[i]
            switch state {
            case .size(let digits, let value):
                if let hex = Self.hexValue(b) {
                    guard digits < Self.maxSizeDigits else { throw .invalidSize }
                    state = .size(digits: digits + 1, value: value << 4 | hex)
                } else {
                    guard digits > 0 else { throw .invalidSize }
                    switch b {
                    case HeadScanner.cr: state = .sizeLF(value: value)
                    case UInt8(ascii: ";"), HeadScanner.sp, HeadScanner.htab: state = .extensionBytes(value: value)
                    default: throw .invalidSize
                    }
                }
                i += 1
            case .extensionBytes(let value):
                try countFramingByte()
                if b == HeadScanner.cr {
                    state = .sizeLF(value: value)
                } else if b == HeadScanner.lf || !HeadScanner.isValueByte(b) {
                    throw .invalidExtension
                }
                i += 1
            case .sizeLF(let value):
                guard b == HeadScanner.lf else { throw .missingCRLF }
                i += 1
                if value == 0 {
                    state = .trailerLineStart
                    if stripsTrailers { trailersFrom = i }
                } else {
                    let (sum, overflow) = bodyBytes.addingReportingOverflow(value)
                    guard !overflow, sum <= limit else { throw .tooLarge }
                    bodyBytes = sum
                    state = .data(remaining: value)
                }
            case .data(let remaining):
                let take = min(remaining, count - i)
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard b == HeadScanner.cr else { throw .missingCRLF }
                state = .dataLF
                i += 1
            case .dataLF:
                guard b == HeadScanner.lf else { throw .missingCRLF }
                state = .size(digits: 0, value: 0)
                i += 1
            case .trailerLineStart:
                try countFramingByte()
                if b == HeadScanner.cr {
                    state = .trailerLF(emptyLine: true)
                } else {
                    guard HeadScanner.isTchar(b) else { throw .invalidTrailer }
                    state = .trailerName
                }
                i += 1
            case .trailerName:
                try countFramingByte()
                // A trailer is a header field: a token, then a colon.
                if b == HeadScanner.colon {
                    state = .trailerValue
                } else if !HeadScanner.isTchar(b) {
                    throw .invalidTrailer
                }
                i += 1
            case .trailerValue:
                try countFramingByte()
                if b == HeadScanner.cr {
                    state = .trailerLF(emptyLine: false)
                } else if !HeadScanner.isValueByte(b) {
                    throw .invalidTrailer
                }
                i += 1
            case .trailerLF(let emptyLine):
                try countFramingByte()
                guard b == HeadScanner.lf else { throw .missingCRLF }
                i += 1
                if emptyLine {
                    state = .done
                    return i
                }
                state = .trailerLineStart
            case .done:
                return i
            }
        }
        return i
    }

    @inline(__always)
    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: Int(b - 48)
        case 65...70: Int(b - 55)
        case 97...102: Int(b - 87)
        default: nil
        }
    }
}
