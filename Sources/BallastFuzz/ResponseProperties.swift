import BallastProxy
import Foundation

/// Properties of the response path, for any byte stream a server may send.
///
/// - The verdict does not depend on how the stream is split into reads (whole, in uneven
///   pieces, one byte at a time): where a response ends decides what the next request on a
///   kept-alive connection is answered with (response desynchronisation). One thing may
///   differ and is compared without: how much of a body went on before its framing turned out
///   invalid (it is streamed; the exchange then fails and the connection is closed).
/// - The framing is what RFC 9112 §6.3 says, derived here from the head's text without the
///   parser: 1xx, 204 and 304 have no body; a Transfer-Encoding field (even an empty one) wins
///   over Content-Length and is chunked only when chunked is its last coding, else the body
///   runs until close; then
///   Content-Length; else until close.
/// - A body forwarded is exactly as long as its framing says; a chunked body ends with its last
///   chunk and trailers (CRLF CRLF); never more bytes forwarded than received.
/// - A response read until close, or followed by bytes nobody asked for, never leaves its
///   connection reusable; nothing follows an end or a failure.
/// - Load shedding (no retry, no ejection) is exactly a 503 with a Retry-After field.
enum ResponseProperties {
    static func check(_ input: [UInt8]) -> String? {
        SplitReads.check(input, largestPiece: 23, run: run, check: { checkEvents($0, input: input) }, comparable: comparable)
    }

    /// Events as compared across reads: without the body bytes streamed before a failure.
    static func comparable(_ events: [ResponseStream.Event]) -> [ResponseStream.Event] {
        var out: [ResponseStream.Event] = []
        for event in events {
            if case .failed = event, case .body? = out.last { out.removeLast() }
            out.append(event)
        }
        return out
    }

    static func run(_ input: [UInt8], pieces: [Int]) -> [ResponseStream.Event] {
        var stream = ResponseStream()
        var offset = 0
        for size in pieces where offset < input.count {
            let end = min(input.count, offset + size)
            stream.feed(input[offset..<end])
            offset = end
        }
        stream.close()
        return stream.events
    }

    static func checkEvents(_ events: [ResponseStream.Event], input: [UInt8]) -> String? {
        var offset = 0
        var head: (status: Int, start: Int, count: Int, framing: String)?
        var body = 0
        for (index, event) in events.enumerated() {
            switch event {
            case .interim(let status, let bytes):
                if head != nil { return "event \(index): an interim head after the final one" }
                if !(100...199).contains(status) || status == 101 { return "event \(index): interim status \(status)" }
                offset += bytes
            case .head(let status, let bytes, let framing, let sheds, let closes):
                if head != nil { return "event \(index): a second final head" }
                guard offset + bytes <= input.count else { return "event \(index): a head longer than the input" }
                let text = Array(input[offset..<offset + bytes])
                let expected = expectedFraming(text, status: status)
                if framing != expected { return "event \(index): framing \(framing), RFC 9112 says \(expected)" }
                if sheds != (status == 503 && hasField(text, "retry-after")) { return "event \(index): sheds load is \(sheds) for status \(status)" }
                if framing == "until close", !closes { return "event \(index): a body until close on a connection said to stay open" }
                head = (status, offset, bytes, framing)
                offset += bytes
            case .body(let n):
                guard head != nil else { return "event \(index): body bytes before a head" }
                body += n
                if let framing = head?.framing, framing.hasPrefix("length "), let length = Int(framing.dropFirst(7)), body > length {
                    return "event \(index): \(body) body bytes for a Content-Length of \(length)"
                }
            case .end(let reusable):
                guard let head else { return "event \(index): an end without a head" }
                if index != events.count - 1 { return "event \(index): events after the end" }
                if head.framing.hasPrefix("length "), let length = Int(head.framing.dropFirst(7)), body != length {
                    return "event \(index): ended after \(body) body bytes, Content-Length \(length)"
                }
                if head.framing == "none", body != 0 { return "event \(index): body bytes for a bodiless response" }
                if head.framing == "chunked" {
                    let end = head.start + head.count + body
                    guard body >= 5, end <= input.count, input[end - 4..<end].elementsEqual([13, 10, 13, 10]) else {
                        return "event \(index): a chunked body that does not end with its last chunk"
                    }
                }
                if reusable, head.framing == "until close" { return "event \(index): reusable after a body read until close" }
                if reusable, head.start + head.count + body < input.count { return "event \(index): reusable with bytes after the response" }
            case .failed:
                if index != events.count - 1 { return "event \(index): events after a failure" }
            }
        }
        if offset + body > input.count { return "forwarded \(offset + body) bytes of \(input.count) received" }
        if events.isEmpty { return "no verdict at all on \(input.count) bytes" }
        return nil
    }

    /// RFC 9110's OWS: space and tab only. Foundation's `.whitespaces` also holds U+00A0, which
    /// a byte 0xA0 becomes here, and `\xA0chunked` is not `chunked` (found by fuzzing).
    static let optionalWhitespace = CharacterSet(charactersIn: " \t")

    /// RFC 9112 §6.3 from the head's own lines (written out here, not taken from the parser).
    static func expectedFraming(_ head: [UInt8], status: Int) -> String {
        if status < 200 || status == 204 || status == 304 { return "none" }
        var codings: [String] = []
        var transferEncoding = false
        var length: String?
        for (name, value) in fields(head) {
            if name == "transfer-encoding" {
                transferEncoding = true
                codings += value.split(separator: ",").map { $0.trimmingCharacters(in: optionalWhitespace).lowercased() }.filter { !$0.isEmpty }
            } else if name == "content-length" {
                length = value.trimmingCharacters(in: optionalWhitespace)
            }
        }
        // A Transfer-Encoding field, even one with no coding in it, overrides Content-Length; the
        // body is chunked only when chunked is the last coding, else it runs until close.
        if transferEncoding { return codings.last == "chunked" ? "chunked" : "until close" }
        if let length { return "length \(Int(length) ?? -1)" }
        return "until close"
    }

    static func hasField(_ head: [UInt8], _ wanted: String) -> Bool {
        fields(head).contains { $0.name == wanted }
    }

    /// The head's fields, split on bytes (CRLF, then the first colon); every byte becomes one
    /// character of its own, so no non-ASCII value merges with its neighbours the way UTF-8
    /// graphemes would.
    static func fields(_ head: [UInt8]) -> [(name: String, value: String)] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i + 1 < head.count {
            if head[i] == 13, head[i + 1] == 10 {
                lines.append(head[start..<i])
                start = i + 2
                i += 2
            } else {
                i += 1
            }
        }
        func text(_ bytes: ArraySlice<UInt8>) -> String { String(bytes.map { Character(UnicodeScalar($0)) }) }
        return lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            return (text(line[line.startIndex..<colon]).lowercased(), text(line[(colon + 1)...]))
        }
    }
}
