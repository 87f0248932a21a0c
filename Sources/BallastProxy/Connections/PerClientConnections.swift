import NIOConcurrencyHelpers
import NIOCore

/// Open connections per client of one listener, across its event loops: a client is an IPv4
/// address or an IPv6 /64 (one host may hold a whole /64), so rotating addresses within one
/// network does not escape the cap. Touched once on accept and once on close, never per request.
final class PerClientConnections: Sendable {
    private let open = NIOLockedValueBox<[ClientKey: Int]>([:])

    /// An IPv4 address, or the first 64 bits of an IPv6 one (an IPv4-mapped IPv6 address is its
    /// IPv4 address).
    struct ClientKey: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init?(_ address: SocketAddress?) {
            switch address {
            // Read as bytes: `sin_addr` sits at offset 4 of a sockaddr_in and `sin6_addr` at 8 of a
            // sockaddr_in6 (after family, port and flow info), on Linux and the BSDs alike.
            case .v4(let v4)?:
                let bytes = withUnsafeBytes(of: v4.address) { Array($0[4..<8]) }
                high = 0
                low = UInt64(bytes[0]) << 24 | UInt64(bytes[1]) << 16 | UInt64(bytes[2]) << 8 | UInt64(bytes[3]) | (1 << 32)
            case .v6(let v6)?:
                let bytes = withUnsafeBytes(of: v6.address) { Array($0[8..<24]) }
                if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                    high = 0
                    low = UInt64(bytes[12]) << 24 | UInt64(bytes[13]) << 16 | UInt64(bytes[14]) << 8 | UInt64(bytes[15]) | (1 << 32)
                } else {
                    high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
                    low = 0
                }
            default:
                return nil
            }
        }
    }

    /// Counts a new connection of `key`; false (and nothing counted) when it already holds `limit`.
    func admit(_ key: ClientKey, limit: Int) -> Bool {
        open.withLockedValue { open in
            let count = open[key, default: 0]
            guard count < limit else { return false }
            open[key] = count + 1
            return true
        }
    }

    func release(_ key: ClientKey) {
        open.withLockedValue { open in
            let count = open[key, default: 0]
            if count <= 1 { open[key] = nil } else { open[key] = count - 1 }
        }
    }

    /// Connections counted for `key` now (for tests and gauges).
    func count(_ key: ClientKey) -> Int { open.withLockedValue { $0[key, default: 0] } }
}
