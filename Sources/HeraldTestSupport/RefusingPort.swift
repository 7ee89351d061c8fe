import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A loopback port that refuses connections: a TCP socket bound to a free port and never
/// listening. No other test can take the port while it is held (a stopped server's port could be
/// reused by a test running in parallel). `close()` frees it.
public struct RefusingPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    public struct BindFailed: Error, CustomStringConvertible {
        public let errno: Int32
        public var description: String { "could not bind a loopback socket: errno \(errno)" }
    }

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BindFailed(errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else {
            let failure = errno
            Glibc.close(descriptor)
            throw BindFailed(errno: failure)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    public func close() { _ = Glibc.close(descriptor) }
}
