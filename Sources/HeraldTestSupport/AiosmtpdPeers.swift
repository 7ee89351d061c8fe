import Foundation

/// The aiosmtpd servers `scripts/test` starts (`Tests/python/aiosmtpd_peers.py`): their ports, CA,
/// spool folder and credentials, read from the file `HERALD_AIOSMTPD` names.
public struct AiosmtpdPeers: Decodable, Sendable {
    /// By kind: `implicit_tls`, `implicit_tls_login`, `starttls`, `plain`.
    public let ports: [String: Int]
    /// The CA certificate's path (PEM).
    public let ca: String
    /// Where each accepted message is spooled as JSON.
    public let spool: String
    public let user: String
    public let password: String

    /// Thrown when the peers are not running (the tests were not started by `scripts/test`).
    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "aiosmtpd is not running: run these tests through scripts/test (HERALD_AIOSMTPD is unset)" }
    }

    /// Thrown when a message the test sent is not in the spool.
    public struct NotSpooled: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "the message was not found in aiosmtpd's spool" }
    }

    public static func load() throws -> AiosmtpdPeers {
        guard let path = ProcessInfo.processInfo.environment["HERALD_AIOSMTPD"] else { throw Missing() }
        return try JSONDecoder().decode(AiosmtpdPeers.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
