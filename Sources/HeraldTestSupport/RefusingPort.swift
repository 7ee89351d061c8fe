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
        (descriptor, port) = try Self.bindLoopback()
    }

    public func close() { _ = Glibc.close(descriptor) }

    /// A TCP socket bound to a free loopback port, and that port.
    static func bindLoopback() throws -> (descriptor: Int32, port: Int) {
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
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A loopback port where a TCP connect neither succeeds nor fails: it listens with an accept
/// queue of one, which a connection of its own fills and nobody accepts, so the kernel drops
/// further connection requests and a client waits for its connect timeout. `close()` frees it.
public struct StalledPort: Sendable {
    public let port: Int
    private let listener: Int32
    private let filler: Int32

    public init() throws {
        let (listener, port) = try RefusingPort.bindLoopback()
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let filled =
            filler >= 0 && listen(listener, 0) == 0
            && withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        guard filled else {
            let failure = errno
            Glibc.close(listener)
            if filler >= 0 { Glibc.close(filler) }
            throw RefusingPort.BindFailed(errno: failure)
        }
        (self.listener, self.filler, self.port) = (listener, filler, port)
    }

    public func close() {
        _ = Glibc.close(filler)
        _ = Glibc.close(listener)
    }
}
