import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Asks a port, on a separate connection, whether it completes a TLS handshake: the check behind
/// the "this port expects TLS from the first byte" diagnosis. Certificates are not verified here;
/// the probe only learns which protocol the port speaks, and sends nothing after the handshake.
enum TLSProbe {
    static func speaksTLS(host: String, port: Int, group: EventLoopGroup, timeout: TimeAmount = .seconds(5)) async -> Bool {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        guard let context = try? NIOSSLContext(configuration: tls) else { return false }
        let eventLoop = group.next()
        let outcome = eventLoop.makePromise(of: Bool.self)
        eventLoop.scheduleTask(in: timeout) { outcome.succeed(false) }
        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: SMTPConnection.sniHostname(host)))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(outcome: outcome))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: host, port: port)
        connect.whenFailure { _ in outcome.succeed(false) }
        let speaksTLS = (try? await outcome.futureResult.get()) ?? false
        if let channel = try? await connect.get() { try? await channel.close() }
        return speaksTLS
    }

    private final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let outcome: EventLoopPromise<Bool>
        init(outcome: EventLoopPromise<Bool>) { self.outcome = outcome }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { outcome.succeed(true) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            outcome.succeed(false)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            outcome.succeed(false)
            context.fireChannelInactive()
        }
    }
}
