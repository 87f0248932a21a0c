@testable import BallastProxy
import NIOCore
import Testing

/// Who counts as one client for `max_connections_per_client`, and the count itself.
@Suite struct PerClientConnectionsTests {
    func key(_ ip: String) throws -> PerClientConnections.ClientKey {
        try #require(PerClientConnections.ClientKey(try SocketAddress(ipAddress: ip, port: 40000)))
    }

    @Test func oneIPv6SlashSixtyFourIsOneClientAndMappedIPv4IsItsAddress() throws {
        #expect(try key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(try key("2001:db8:1:2::1") != key("2001:db8:1:3::1"))
        #expect(try key("::ffff:192.0.2.7") == key("192.0.2.7"))
        #expect(try key("192.0.2.7") != key("192.0.2.8"))
        // An IPv4 address never collides with an IPv6 network whose first bits are zero.
        #expect(try key("0.0.0.1") != key("::1"))
    }

    @Test func admitsUpToTheLimitAndFreesOnRelease() throws {
        let counter = PerClientConnections()
        let a = try key("192.0.2.7"), b = try key("192.0.2.8")
        #expect(counter.admit(a, limit: 2))
        #expect(counter.admit(a, limit: 2))
        #expect(!counter.admit(a, limit: 2))
        #expect(counter.count(a) == 2, "a refusal counts nothing")
        #expect(counter.admit(b, limit: 2), "another client has its own budget")
        counter.release(a)
        #expect(counter.admit(a, limit: 2))
        counter.release(a)
        counter.release(a)
        counter.release(a)
        #expect(counter.count(a) == 0, "never below zero")
    }
}
