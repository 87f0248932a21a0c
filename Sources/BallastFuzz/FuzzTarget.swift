/// What the fuzzer runs: each target takes one input and checks properties that must hold for
/// every input, not only for the examples a test lists.
///
/// `check` returns nil when every property holds, or what broke. A crash inside the code under
/// test (a trap, an out-of-bounds read) is a finding too: libFuzzer sees it as one, and a test
/// that replays the input fails with it.
package enum FuzzTarget: String, CaseIterable, Sendable {
    /// The YAML config loader, the rule catalogue, the diff and the data plane's compiler.
    case config
    /// The request side of a client connection: head parser, body framing, routing, balancing.
    case request
    /// The response side of a server connection: head parser, framing, chunked decoding.
    case response

    package func check(_ input: [UInt8]) -> String? {
        switch self {
        case .config: ConfigProperties.check(input)
        case .request: RequestProperties.check(input)
        case .response: ResponseProperties.check(input)
        }
    }
}
