import NIOCore

/// 64-bit words as 16 lower-case hex digits: request ids, trace and span ids.
package enum HexWord {
    static let digits: StaticString = "0123456789abcdef"

    package static func text(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

extension ByteBuffer {
    /// Writes `value` as 16 lower-case hex digits in place (no allocation: request path).
    mutating func writeHexWord(_ value: UInt64) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { target in
            let d = HexWord.digits.utf8Start
            for i in 0..<16 { target[i] = d[Int((value >> UInt64(60 - 4 * i)) & 0xF)] }
            return 16
        }
    }
}
