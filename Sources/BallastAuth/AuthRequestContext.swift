import Hummingbird
import NIOCore

/// The request context of the auth service: Hummingbird's core context plus the peer address,
/// which throttling needs.
public struct AuthRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Login bodies are tiny; anything larger is refused before it is read whole.
    public var maxUploadSize: Int { 16 * 1024 }
}
