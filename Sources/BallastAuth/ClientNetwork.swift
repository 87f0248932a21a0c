#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The unit a per-client limit counts: an IPv4 address, or the /64 an IPv6 address is in.
///
/// One IPv6 customer gets at least a /64 (2^64 addresses, RFC 6177), so a limit per IPv6 address
/// is no limit: rotating the low 64 bits gives every guess a fresh address. Counting the /64, as
/// Cloudflare and nginx users do, puts all of them under one key. An IPv4-mapped IPv6 address
/// (`::ffff:192.0.2.1`) counts as its IPv4 address.
package enum ClientNetwork {
    package static func key(_ address: String) -> String {
        // Plain byte buffers rather than in_addr/in6_addr, whose clang module depends on which
        // other module of the target also includes the system headers.
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, address, &v4) == 1 { return address }
        var bytes = [UInt8](repeating: 0, count: 16)
        let bare = address.hasPrefix("[") && address.hasSuffix("]") ? String(address.dropFirst().dropLast()) : address
        let unscoped = bare.split(separator: "%", maxSplits: 1).first.map(String.init) ?? bare
        guard inet_pton(AF_INET6, unscoped, &bytes) == 1 else { return address }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
