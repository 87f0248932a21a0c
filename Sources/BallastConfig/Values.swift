/// A `HOST:PORT` pair as written in the config: an IPv4 or IPv6 literal, or a host name.
package struct Address: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// True when the host is an IPv4 or IPv6 address rather than a name.
    package var isIPLiteral: Bool {
        host.contains(":") || (host.split(separator: ".", omittingEmptySubsequences: false).count == 4
                               && host.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// Parses `127.0.0.1:80`, `[::1]:80` or `backend.local:80`; the error says what is wrong.
    package static func parse(_ text: String) -> Result<Address, AddressError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.malformed) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.missingPort) }
            portText = rest.dropFirst()
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })
            else { return .failure(.malformed) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.missingPort) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(.ipv6NeedsBrackets) }
            guard !host.isEmpty,
                  host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
            else { return .failure(.malformed) }
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              portText.count <= 6, let port = Int(portText)
        else { return .failure(.badPort(String(portText))) }
        guard (1...65535).contains(port) else { return .failure(.portOutOfRange(port)) }
        return .success(Address(host: String(host), port: port))
    }

    /// `parse`, also taking port 0 (the system picks one): for a command's `--listen`, which
    /// then reports the port it got.
    package static func parseListen(_ text: String) -> Result<Address, AddressError> {
        if case .failure(.portOutOfRange(0)) = parse(text), let colon = text.lastIndex(of: ":") {
            return parse(text[..<colon] + ":1").map { Address(host: $0.host, port: 0) }
        }
        return parse(text)
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// True for addresses that only this machine can reach.
    package var isLoopback: Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }
}

package enum AddressError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed
    case missingPort
    case ipv6NeedsBrackets
    case badPort(String)
    case portOutOfRange(Int)

    package var description: String {
        switch self {
        case .malformed: "is not HOST:PORT"
        case .missingPort: "has no port"
        case .ipv6NeedsBrackets: "is an IPv6 address without brackets"
        case .badPort(let p): "has port '\(p)', which is not a number"
        case .portOutOfRange(let p): "has port \(p), outside 1-65535"
        }
    }
}

extension Duration {
    /// Parses `250ms`, `2s`, `1.5s`, `1m`, `1h` (also `us`); a bare number is refused, since
    /// "is 5 seconds or milliseconds?" is exactly the ambiguity that causes outages.
    package static func parseConfig(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }),
                  let value = Double(number), value.isFinite, value >= 0, value * scale <= 86_400 * 365
            else { return nil }
            return .nanoseconds(Int64((value * scale * 1e9).rounded()))
        }
        return nil
    }

    /// Whole milliseconds, for the data plane's timers.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The shortest unit that writes this duration exactly, as config files do.
    package var configText: String {
        let ms = milliseconds
        if ms % 86_400_000 == 0, ms > 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0, ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// A request rate such as `20/s` or `600/m`.
package struct Rate: Sendable, Hashable, CustomStringConvertible {
    package var count: Double
    package var per: Duration

    package init(count: Double, per: Duration) {
        self.count = count
        self.per = per
    }

    package static func parse(_ text: String) -> Rate? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Double(parts[0]), count > 0, count.isFinite else { return nil }
        switch parts[1] {
        case "s": return Rate(count: count, per: .seconds(1))
        case "m": return Rate(count: count, per: .seconds(60))
        case "h": return Rate(count: count, per: .seconds(3600))
        default: return nil
        }
    }

    package var perSecond: Double { count / (Double(per.milliseconds) / 1000) }

    package var description: String {
        let unit = per == .seconds(1) ? "s" : per == .seconds(60) ? "m" : "h"
        let n = count == count.rounded() ? String(Int(count)) : String(count)
        return "\(n)/\(unit)"
    }
}
