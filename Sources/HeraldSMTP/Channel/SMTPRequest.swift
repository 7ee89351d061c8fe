import NIOCore

/// What `SMTPConnection` asks of the channel handler; each carries the promise it completes.
enum SMTPRequest {
    case send(SMTPEnvelope, message: ByteBuffer, size: Int, promise: EventLoopPromise<SMTPDeliveryResult>)
    case noop(EventLoopPromise<Void>)
    case quit(EventLoopPromise<Void>)
}
