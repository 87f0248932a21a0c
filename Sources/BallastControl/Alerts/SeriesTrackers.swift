/// Which samples a tracker reads: a metric name and label matchers.
struct Selector: Hashable, Sendable, CustomStringConvertible {
    enum Matcher: Hashable, Sendable {
        case equals(String)
        case notEquals(String)
        case prefix(String)
        case oneOf(Choices)

        func matches(_ value: String?) -> Bool {
            switch self {
            case .equals(let wanted): value == wanted
            case .notEquals(let unwanted): value != unwanted
            case .prefix(let start): value?.hasPrefix(start) ?? false
            case .oneOf(let choices): value.map(choices.set.contains) ?? false
            }
        }
    }

    /// Values a label may take (an upstream's routes): looked up in a set, since an upstream
    /// behind thousands of routes made a linear search the whole cost of an evaluation; equal
    /// and printed by their order, so a selector's description stays one key.
    struct Choices: Hashable, Sendable, CustomStringConvertible {
        let names: [String]
        let set: Set<String>

        init(_ names: [String]) {
            self.names = names
            set = Set(names)
        }

        static func == (a: Choices, b: Choices) -> Bool { a.names == b.names }
        func hash(into hasher: inout Hasher) { hasher.combine(names) }
        var description: String { names.description }
    }

    var name: String
    var matchers: [String: Matcher] = [:]

    func matches(_ sample: MetricSample) -> Bool {
        sample.name == name && matchers.allSatisfy { $0.value.matches(sample.labels[$0.key]) }
    }

    var description: String {
        name + "{" + matchers.sorted { $0.key < $1.key }.map { "\($0.key)\($0.value)" }.joined(separator: ",") + "}"
    }
}

/// Values at evaluation times, oldest dropped past `capacity` (one per second of history).
struct Ring {
    private(set) var times: [Double] = []
    private(set) var values: [Double] = []
    private var start = 0
    var capacity: Int

    init(capacity: Int) { self.capacity = max(2, capacity) }

    var count: Int { values.count }

    mutating func append(_ time: Double, _ value: Double) {
        if values.count < capacity {
            times.append(time)
            values.append(value)
        } else {
            times[start] = time
            values[start] = value
            start = (start + 1) % capacity
        }
    }

    /// The `i`-th entry counting from the newest (0 = newest).
    func fromNewest(_ i: Int) -> (time: Double, value: Double)? {
        guard i >= 0, i < values.count else { return nil }
        let index = (start + values.count - 1 - i) % values.count
        return (times[index], values[index])
    }

    /// The newest entry at least `seconds` older than the newest, or the oldest there is.
    func atLeast(_ seconds: Double, before newest: Double) -> (time: Double, value: Double)? {
        guard !values.isEmpty else { return nil }
        var i = 0
        while let entry = fromNewest(i) {
            if newest - entry.time >= seconds - 0.05 { return entry }
            i += 1
        }
        return fromNewest(values.count - 1)
    }

    /// Every entry, oldest first.
    var ordered: [(time: Double, value: Double)] {
        (0..<values.count).reversed().compactMap { fromNewest($0) }
    }

    mutating func resize(_ newCapacity: Int) {
        guard newCapacity != capacity else { return }
        let kept = ordered.suffix(max(2, newCapacity))
        self = Ring(capacity: newCapacity)
        for entry in kept { append(entry.time, entry.value) }
    }
}

/// A counter summed over every series its selector matches, reset-aware: each series adds its
/// own increase, and a value below the last one (a restarted replica) counts from zero, as
/// Prometheus' `rate()` does. A series that disappears simply stops adding.
struct CounterTracker {
    let selector: Selector
    private var last: [[String: String]: Double] = [:]
    private(set) var total = 0.0
    var ring: Ring
    private var primed = false

    init(selector: Selector, capacity: Int) {
        self.selector = selector
        ring = Ring(capacity: capacity)
    }

    mutating func observe(_ samples: [MetricSample], at time: Double) {
        var seen: [[String: String]: Double] = [:]
        for sample in samples where selector.matches(sample) && sample.value.isFinite {
            seen[sample.labels] = sample.value
            if let previous = last[sample.labels] {
                total += sample.value >= previous ? sample.value - previous : sample.value
            } else if primed {
                // A new series born after the first look counts from zero.
                total += sample.value
            }
        }
        last = seen
        primed = true
        ring.append(time, total)
    }

    /// Increase over the last `seconds` (and the time it really spans), nil without two points.
    func increase(over seconds: Double) -> (delta: Double, span: Double)? {
        guard let newest = ring.fromNewest(0), let old = ring.atLeast(seconds, before: newest.time),
              newest.time > old.time else { return nil }
        return (newest.value - old.value, newest.time - old.time)
    }
}

/// A gauge aggregated over every series its selector matches.
struct GaugeTracker {
    enum Aggregation: String { case sum, max, min, avg }
    let selector: Selector
    let aggregation: Aggregation
    private(set) var current = Double.nan

    init(selector: Selector, aggregation: Aggregation) {
        self.selector = selector
        self.aggregation = aggregation
    }

    mutating func observe(_ samples: [MetricSample]) {
        let values = samples.filter { selector.matches($0) && $0.value.isFinite }.map(\.value)
        guard !values.isEmpty else {
            current = .nan
            return
        }
        switch aggregation {
        case .sum: current = values.reduce(0, +)
        case .max: current = values.max()!
        case .min: current = values.min()!
        case .avg: current = values.reduce(0, +) / Double(values.count)
        }
    }
}

/// A histogram's buckets (`_bucket` series by `le`), each a reset-aware counter.
struct HistogramTracker {
    let selector: Selector
    private var buckets: [Double: CounterTracker] = [:]
    private let capacity: Int

    init(selector: Selector, capacity: Int) {
        self.selector = selector
        self.capacity = capacity
    }

    /// The samples are sorted into their buckets once, so each bucket's counter reads only its
    /// own series (not every bucket of every route).
    mutating func observe(_ samples: [MetricSample], at time: Double) {
        var byBound: [Double: [MetricSample]] = [:]
        var texts: [Double: String] = [:]
        for sample in samples where selector.matches(sample) {
            guard let text = sample.labels["le"], let le = PromText.parseValue(text[...]) else { continue }
            byBound[le, default: []].append(sample)
            if texts[le] == nil { texts[le] = text }
        }
        for (bound, text) in texts where buckets[bound] == nil {
            var matchers = selector.matchers
            matchers["le"] = .equals(text)
            buckets[bound] = CounterTracker(selector: Selector(name: selector.name, matchers: matchers), capacity: capacity)
        }
        for bound in buckets.keys { buckets[bound]!.observe(byBound[bound] ?? [], at: time) }
    }

    /// The `q` quantile of what was observed over the window, interpolated inside its bucket as
    /// Prometheus' `histogram_quantile` does; nil without observations.
    func quantile(_ q: Double, over seconds: Double) -> Double? {
        let increases = buckets.compactMap { bound, tracker in tracker.increase(over: seconds).map { (bound, $0.delta) } }
            .sorted { $0.0 < $1.0 }
        guard let total = increases.last?.1, total > 0 else { return nil }
        let rank = q * total
        var previousBound = 0.0, previousCount = 0.0
        for (bound, count) in increases {
            if count >= rank {
                if bound.isInfinite { return previousBound }
                let inBucket = count - previousCount
                guard inBucket > 0 else { return bound }
                return previousBound + (bound - previousBound) * (rank - previousCount) / inBucket
            }
            previousBound = bound
            previousCount = count
        }
        return previousBound
    }
}
