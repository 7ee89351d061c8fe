import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A tiny HTTP/1.1 server on 127.0.0.1 that records each request's head and body and answers
/// `204 No Content`: the receiving end of webhooks in tests.
public final class HTTPCaptureServer: Sendable {
    /// One request as received.
    public struct Request: Sendable, Hashable {
        /// The request line and headers, as sent.
        public let head: String
        public let body: [UInt8]
    }

    public let port: Int
    private let channel: any Channel
    private let requests: NIOLockedValueBox<[Request]>

    private init(port: Int, channel: any Channel, requests: NIOLockedValueBox<[Request]>) {
        self.port = port
        self.channel = channel
        self.requests = requests
    }

    public static func start() async throws -> HTTPCaptureServer {
        let requests = NIOLockedValueBox<[Request]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(requests: requests)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return HTTPCaptureServer(port: channel.localAddress?.port ?? 0, channel: channel, requests: requests)
    }

    /// Every request received so far.
    public var received: [Request] { requests.withLockedValue { $0 } }

    public func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let requests: NIOLockedValueBox<[Request]>
        var buffer = ByteBuffer()

        init(requests: NIOLockedValueBox<[Request]>) {
            self.requests = requests
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            let bytes = Array(buffer.readableBytesView)
            guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
            let length =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            guard bytes.count - end.upperBound >= length else { return }
            requests.withLockedValue { $0.append(Request(head: head, body: Array(bytes[end.upperBound..<(end.upperBound + length)]))) }
            buffer.clear()
            let reply = context.channel.allocator.buffer(
                string: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
