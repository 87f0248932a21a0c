import NIOCore
import Testing
@testable import BallastProxy

/// `Dechunker`: the payload of a chunked body, whatever the slices it arrives in.
@Suite struct DechunkerTests {
    static let body = "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: y\r\n\r\n"

    func payload(_ pieces: [String]) -> (String, Bool) {
        var dechunker = Dechunker()
        var out = ""
        for piece in pieces {
            for slice in dechunker.payload(of: ByteBuffer(string: piece)) { out += String(buffer: slice) }
        }
        return (out, dechunker.isDone)
    }

    @Test func theWholeBodyAtOnce() {
        let (out, done) = payload([Self.body])
        #expect(out == "helloabcdefghijklmnopqrstuvwxyz")
        #expect(done)
    }

    @Test func splitAtEveryByteGivesTheSame() {
        let bytes = Array(Self.body.utf8)
        for cut in 1..<bytes.count {
            let (out, done) = payload([String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)])
            #expect(out == "helloabcdefghijklmnopqrstuvwxyz" && done, "cut at \(cut)")
        }
        let (out, done) = payload(bytes.map { String(UnicodeScalar($0)) })
        #expect(out == "helloabcdefghijklmnopqrstuvwxyz" && done)
    }

    @Test func notDoneBeforeTheLastChunkAndItsEmptyLine() {
        #expect(!payload(["5\r\nhello\r\n"]).1)
        #expect(!payload(["5\r\nhello\r\n0\r\n"]).1)
        #expect(payload(["5\r\nhello\r\n0\r\n\r\n"]).1)
    }
}
