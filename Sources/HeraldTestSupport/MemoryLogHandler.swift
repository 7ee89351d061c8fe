import Logging
import NIOConcurrencyHelpers

/// Keeps every log line in memory, level first, so that tests can assert what was (and was not) logged.
public struct MemoryLogHandler: LogHandler {
    public let lines: NIOLockedValueBox<[String]>
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]

    public init(lines: NIOLockedValueBox<[String]>) {
        self.lines = lines
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLockedValue { $0.append("\(event.level) \(event.message) \(merged)") }
    }

    /// A logger that writes into `lines`.
    public static func logger(_ lines: NIOLockedValueBox<[String]>) -> Logger {
        Logger(label: "herald.test") { _ in MemoryLogHandler(lines: lines) }
    }
}
