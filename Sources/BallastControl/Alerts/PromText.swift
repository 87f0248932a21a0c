/// One sample of the Prometheus text exposition format.
package struct MetricSample: Sendable, Hashable {
    package var name: String
    package var labels: [String: String]
    package var value: Double

    package init(name: String, labels: [String: String] = [:], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}

/// A parser of the Prometheus text format (version 0.0.4), for the balancer's own registry and
/// for what the engine scrapes from the replicas. Lines it cannot read are skipped, as a
/// scraper must: one bad line should not hide every other series.
package enum PromText {
    package static func parse(_ text: String, extraLabels: [String: String] = [:]) -> [MetricSample] {
        var samples: [MetricSample] = []
        var text = text
        text.withUTF8 { bytes in
            // Byte by byte: the balancer's own registry is parsed every second, and behind
            // thousands of routes it is tens of thousands of lines.
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
                if line.first == UInt8(ascii: "#") { continue }
                if var sample = parseLine(UnsafeBufferPointer(rebasing: line)) {
                    for (key, value) in extraLabels { sample.labels[key] = value }
                    samples.append(sample)
                }
            }
        }
        return samples
    }

    /// One sample line: `name{label="value",...} value [timestamp]`; nil when it is not one.
    static func parseLine(_ bytes: UnsafeBufferPointer<UInt8>) -> MetricSample? {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r")
        let n = bytes.count
        var i = 0
        while i < n, bytes[i] == space || bytes[i] == tab { i += 1 }
        let nameStart = i
        while i < n, isNameByte(bytes[i]) { i += 1 }
        guard i > nameStart, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[nameStart]) else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart..<i]), as: UTF8.self)
        var labels: [String: String] = [:]
        if i < n, bytes[i] == UInt8(ascii: "{") {
            i += 1
            while true {
                while i < n, bytes[i] == space || bytes[i] == UInt8(ascii: ",") { i += 1 }
                guard i < n else { return nil }
                if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                var keyStart = i
                while i < n, bytes[i] != UInt8(ascii: "="), bytes[i] != UInt8(ascii: "}") { i += 1 }
                guard i < n, bytes[i] == UInt8(ascii: "=") else { return nil }
                var keyEnd = i
                while keyStart < keyEnd, bytes[keyStart] == space { keyStart += 1 }
                while keyEnd > keyStart, bytes[keyEnd - 1] == space { keyEnd -= 1 }
                i += 1
                guard i < n, bytes[i] == quote else { return nil }
                i += 1
                var value: [UInt8] = []
                var closed = false
                while i < n {
                    let c = bytes[i]
                    i += 1
                    if c == UInt8(ascii: "\\") {
                        guard i < n else { return nil }
                        value.append(bytes[i] == UInt8(ascii: "n") ? UInt8(ascii: "\n") : bytes[i])
                        i += 1
                    } else if c == quote {
                        closed = true
                        break
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { return nil }
                labels[String(decoding: UnsafeBufferPointer(rebasing: bytes[keyStart..<keyEnd]), as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            }
        }
        while i < n, bytes[i] == space || bytes[i] == tab { i += 1 }
        let valueStart = i
        while i < n, bytes[i] != space, bytes[i] != tab, bytes[i] != cr { i += 1 }
        guard i > valueStart,
              let value = parseValue(Substring(String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<i]), as: UTF8.self)))
        else { return nil }
        return MetricSample(name: name, labels: labels, value: value)
    }

    /// `[a-zA-Z0-9_:]`, as Prometheus names metrics.
    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: ":")
    }

    static func parseValue(_ text: Substring) -> Double? {
        switch text {
        case "+Inf", "Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }
}
