import Foundation

/// A blocking TCP client on a raw socket, for bytes no HTTP client would send.
struct RawSocket {
    let descriptor: Int32

    init(port: Int, timeout: Double = 2) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ToolError(description: "socket failed") }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Foundation.close(fd)
            throw ToolError(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        descriptor = fd
    }

    /// Writes every byte; false when the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads until the peer closes or nothing arrives for the receive timeout.
    func readAll() -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return received
    }

    /// One read of at most `count` bytes; empty when the peer closed or nothing came in time.
    func read(upTo count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return got > 0 ? Array(buffer[0..<got]) : []
    }

    func close() { _ = Foundation.close(descriptor) }

    /// The status codes of every response in `bytes`, in order (responses may follow a body
    /// without a line break, so every status line is looked for, not only those at line starts).
    static func statuses(_ bytes: [UInt8]) -> [Int] {
        let text = String(decoding: bytes, as: UTF8.self)
        var statuses: [Int] = []
        var rest = text[...]
        while let range = rest.range(of: "HTTP/1.") {
            let after = rest[range.upperBound...]
            if after.count >= 5, let code = Int(after.dropFirst(2).prefix(3)) { statuses.append(code) }
            rest = after
        }
        return statuses
    }
}
