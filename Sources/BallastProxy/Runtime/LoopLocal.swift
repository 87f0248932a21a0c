/// A value that only one event loop ever touches.
///
/// The proxy gives each event loop its own balancers and pools (Envoy's worker model). The
/// wrapper is `Sendable` so it can sit inside shared, immutable runtime objects; that is safe
/// because every access happens on the loop whose index owns it (see `LoopContext`).
final class LoopLocal<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
