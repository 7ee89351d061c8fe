import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 keep-alive client for the load generator: one request at a time per
/// connection, bodies collected whole. Enough to measure Herald's API, nothing more.
final class HTTPLoadConnection: @unchecked Sendable {
    struct Answer {
        var status: Int
        var body: [UInt8]
    }

    private let channel: any Channel
    private let handler: ResponseHandler
    let host: String

    private init(channel: any Channel, handler: ResponseHandler, host: String) {
        self.channel = channel
        self.handler = handler
        self.host = host
    }

    static func connect(host: String, port: Int) async throws -> HTTPLoadConnection {
        let handler = ResponseHandler()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port).get()
        return HTTPLoadConnection(channel: channel, handler: handler, host: "\(host):\(port)")
    }

    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Answer {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: host)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        let promise = channel.eventLoop.makePromise(of: Answer.self)
        handler.expect(promise)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }

    private final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        private var waiting: [EventLoopPromise<Answer>] = []
        private var status = 0
        private var body: [UInt8] = []

        func expect(_ promise: EventLoopPromise<Answer>) {
            promise.futureResult.eventLoop.execute { self.waiting.append(promise) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                body = []
            case .body(let buffer):
                body += buffer.readableBytesView
            case .end:
                guard !waiting.isEmpty else { return }
                waiting.removeFirst().succeed(Answer(status: status, body: body))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            for promise in waiting { promise.fail(error) }
            waiting = []
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            for promise in waiting { promise.fail(ChannelError.ioOnClosedChannel) }
            waiting = []
        }
    }
}
