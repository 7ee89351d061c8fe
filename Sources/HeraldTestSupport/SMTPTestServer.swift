import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// An in-process SMTP server on 127.0.0.1 for tests: implicit TLS or STARTTLS, AUTH PLAIN and
/// LOGIN, PIPELINING, SIZE, SMTPUTF8, and scripted faults. It records every message it accepts.
public final class SMTPTestServer: Sendable {
    public struct Configuration: Sendable {
        /// Implicit TLS from the first byte (like port 465).
        public var implicitTLS = false
        /// Advertise and accept STARTTLS.
        public var offerStartTLS = true
        /// Users for AUTH; AUTH is offered when non-empty.
        public var users: [String: String] = [:]
        /// Offer AUTH only once TLS is up, as most providers do.
        public var authRequiresTLS = true
        public var authMechanisms = ["PLAIN", "LOGIN"]
        public var pipelining = true
        public var smtputf8 = true
        public var sizeLimit: Int?
        /// Refuse RCPT for addresses containing this text with 550 5.1.1.
        public var refusedRecipientMarker = "refuse"
        public var faults: [Fault] = []
        public var certificates: TestCertificates?

        public init() {}
    }

    /// Something the server does wrong, on purpose, when a trigger occurs.
    public struct Fault: Sendable {
        public enum Trigger: Sendable, Hashable {
            /// On accepting the connection (in place of the greeting).
            case connect
            /// On a command whose verb is this (`MAIL`, `RCPT`, `DATA`, `EHLO`, `AUTH`, ...).
            case command(String)
            /// On the final dot of DATA.
            case endOfData
        }

        public enum Behaviour: Sendable {
            /// Answer with these raw reply lines (CRLF added) instead of the normal reply.
            case reply(String)
            /// Wait, then behave normally.
            case delay(TimeAmount)
            /// Keep the normal reply (and those behind it) until `releaseHeldReplies()`: for a
            /// test that must look at the client while the server is holding it, however slowly
            /// a loaded machine runs the test.
            case hold
            /// Close the connection without answering.
            case drop
            /// Send bytes that are not an SMTP reply.
            case garbage
            /// Send the normal reply one byte per write.
            case splitReply
            /// Say nothing and keep the connection open.
            case silence
            /// After the 220 to STARTTLS, send a plaintext reply in the same segment.
            case injectAfterStartTLS
        }

        public var trigger: Trigger
        public var behaviour: Behaviour
        /// How many times it fires; nil for every time.
        public var times: Int?

        public init(_ trigger: Trigger, _ behaviour: Behaviour, times: Int? = nil) {
            self.trigger = trigger
            self.behaviour = behaviour
            self.times = times
        }
    }

    /// A message the server accepted.
    public struct ReceivedMessage: Sendable, Hashable {
        public let sender: String
        public let recipients: [String]
        public let mailParameters: [String]
        /// The content as the client meant it: dot-unstuffed, without the final dot.
        public let data: [UInt8]
        public let overTLS: Bool
        public let authenticatedUser: String?
    }

    struct State {
        var faults: [Fault]
        var received: [ReceivedMessage] = []
        var commands: [String] = []
        var connections = 0
        /// Sends the replies each `.hold` fault keeps, on its connection's event loop.
        var heldReplies: [@Sendable () -> Void] = []
    }

    public let port: Int
    let configuration: Configuration
    let state: NIOLockedValueBox<State>
    private let channel: Channel

    private init(port: Int, configuration: Configuration, state: NIOLockedValueBox<State>, channel: Channel) {
        self.port = port
        self.configuration = configuration
        self.state = state
        self.channel = channel
    }

    /// Starts a server on 127.0.0.1 and an ephemeral port.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> SMTPTestServer {
        let state = NIOLockedValueBox(State(faults: configuration.faults))
        let tlsContext = try configuration.certificates.map { try NIOSSLContext(configuration: $0.serverTLSConfiguration()) }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                do {
                    if configuration.implicitTLS, let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPTestSession(configuration: configuration, state: state, tlsContext: tlsContext))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SMTPTestServer(port: channel.localAddress!.port!, configuration: configuration, state: state, channel: channel)
    }

    /// Messages accepted so far, in order.
    public var received: [ReceivedMessage] { state.withLockedValue { $0.received } }
    /// Every command line received (AUTH payloads included: test credentials only).
    public var commands: [String] { state.withLockedValue { $0.commands } }
    /// Connections accepted so far.
    public var connectionCount: Int { state.withLockedValue { $0.connections } }
    /// Replies kept by `.hold` faults and not yet released.
    public var heldReplyCount: Int { state.withLockedValue { $0.heldReplies.count } }

    /// Sends every reply a `.hold` fault kept so far; later ones are kept until the next call.
    public func releaseHeldReplies() {
        let releases = state.withLockedValue { state in
            defer { state.heldReplies = [] }
            return state.heldReplies
        }
        for release in releases { release() }
    }

    public func stop() async {
        try? await channel.close()
    }
}
