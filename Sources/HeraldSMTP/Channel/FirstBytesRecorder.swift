import NIOCore

/// Keeps the first bytes the server sent, before any TLS handler sees them, so that a failed
/// handshake can be explained: a plaintext `220` greeting means the port does not speak TLS first.
final class FirstBytesRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let keep = 16
    private(set) var bytes: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if bytes.count < Self.keep {
            let buffer = unwrapInboundIn(data)
            bytes += buffer.readableBytesView.prefix(Self.keep - bytes.count)
        }
        context.fireChannelRead(data)
    }

    /// True when what arrived looks like an SMTP reply (`220 ...`), not a TLS record.
    var sawPlaintextReply: Bool {
        bytes.count >= 3 && bytes[0...2].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
