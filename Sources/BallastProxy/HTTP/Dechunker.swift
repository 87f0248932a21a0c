import NIOCore

/// The payload of a chunked body whose framing was already checked (`ChunkedFraming` did, on
/// the way in from the server): what an HTTP/2 stream sends as DATA, since HTTP/2 has no
/// chunked coding. Fed the body as it arrives, in slices split anywhere (pure; `DechunkerTests`).
struct Dechunker {
    private enum State: Equatable {
        case size(Int, sawDigit: Bool, inExtension: Bool)
        case sizeLF(Int)
        case data(Int)
        case dataCR
        case dataLF
        /// After the last chunk: trailer lines until an empty one; `lineLength` of the current.
        case trailers(lineLength: Int)
        case trailerLF(lineLength: Int)
        case done
    }

    private var state = State.size(0, sawDigit: false, inExtension: false)
    var isDone: Bool { state == .done }

    /// The payload bytes in `slice`, as slices of it (no copy).
    mutating func payload(of slice: ByteBuffer) -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        var index = slice.readerIndex
        let end = slice.writerIndex
        while index < end, state != .done {
            let byte = slice.getInteger(at: index, as: UInt8.self)!
            switch state {
            case .size(let size, let sawDigit, let inExtension):
                if byte == UInt8(ascii: "\r") {
                    state = .sizeLF(size)
                } else if inExtension || byte == UInt8(ascii: ";") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                    state = .size(size, sawDigit: sawDigit, inExtension: true)
                } else if let digit = Self.hex(byte) {
                    state = .size(size &* 16 &+ digit, sawDigit: true, inExtension: false)
                }
                index += 1
            case .sizeLF(let size):
                state = size == 0 ? .trailers(lineLength: 0) : .data(size)
                index += 1
            case .data(let remaining):
                let take = min(remaining, end - index)
                out.append(slice.getSlice(at: index, length: take)!)
                index += take
                state = remaining == take ? .dataCR : .data(remaining - take)
            case .dataCR:
                state = .dataLF
                index += 1
            case .dataLF:
                state = .size(0, sawDigit: false, inExtension: false)
                index += 1
            case .trailers(let length):
                state = byte == UInt8(ascii: "\r") ? .trailerLF(lineLength: length) : .trailers(lineLength: length + 1)
                index += 1
            case .trailerLF(let length):
                state = length == 0 ? .done : .trailers(lineLength: 0)
                index += 1
            case .done:
                break
            }
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
