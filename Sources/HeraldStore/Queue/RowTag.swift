import Foundation
import NIOConcurrencyHelpers

/// Tags that tell the rows of one batch insert apart, so that its RETURNING rows are matched to
/// the batch's members: a random prefix per process and a counter, unique across processes.
/// `UUID()` would do, but it reads the system's random source on every call, and that was a
/// tenth of the enqueue path's time.
enum RowTag {
    private static let prefix = UUID().uuidString
    private static let counter = NIOLockedValueBox(0)

    static func next() -> String {
        let number = counter.withLockedValue { value in
            value &+= 1
            return value
        }
        return "\(prefix)-\(number)"
    }
}
