import Foundation

/// The answer to `Store.reserveQuota`: the send was counted, or a limit is reached until a time.
public enum QuotaReservation: Sendable, Hashable {
    /// Counted; the ticket takes the count back (`Store.returnQuota`) if the server never took the message.
    case granted(QuotaTicket)
    /// The per-minute or per-day limit is used up until `until` (database clock).
    case exhausted(until: Date)

    public var isGranted: Bool {
        if case .granted = self { return true }
        return false
    }
}

/// One counted send: the account and the windows it was counted in, so that giving it back after
/// a window rolled over takes nothing from the new window.
public struct QuotaTicket: Sendable, Hashable {
    public let accountID: Int64
    /// Start of each window the send was counted in (microseconds, database clock); empty when the
    /// account has no limits and nothing was counted.
    let windowStarts: [QuotaPeriod: Int64]
}

/// An account's sends counted in the current windows.
public struct QuotaUsage: Sendable, Hashable, Codable {
    /// Sends in the current minute and UTC day (0 when the window has rolled over).
    public var minute: Int
    public var day: Int

    public init(minute: Int = 0, day: Int = 0) {
        self.minute = minute
        self.day = day
    }
}

/// What the sandbox channel captured instead of sending.
public struct NewCapture: Sendable, Hashable {
    public var messageID: Int64
    public var accountID: Int64?
    /// The envelope: sender and recipients, as an SMTP server would have seen them.
    public var sender: String
    public var recipients: [String]
    /// The exact bytes that would have followed DATA.
    public var data: [UInt8]

    public init(messageID: Int64, accountID: Int64?, sender: String, recipients: [String], data: [UInt8]) {
        self.messageID = messageID
        self.accountID = accountID
        self.sender = sender
        self.recipients = recipients
        self.data = data
    }
}

/// A stored sandbox capture.
public struct CaptureRecord: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var messageID: Int64
    public var accountID: Int64?
    public var sender: String
    public var recipients: [String]
    public var data: [UInt8]
    public var createdAt: Date
}
