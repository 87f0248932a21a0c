import Hummingbird
import NIOCore

/// The request context of the auth service: Hummingbird's core context plus the peer address,
/// which throttling needs.
package struct AuthRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Login bodies are tiny; anything larger is refused before it is read whole.
    package var maxUploadSize: Int { 16 * 1024 }
}
