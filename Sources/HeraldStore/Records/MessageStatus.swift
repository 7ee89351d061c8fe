/// Where a message is in its life (DESIGN.md section 4), named as the original system named them.
public enum MessageStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accepted and waiting for a worker.
    case pending
    /// Accepted with a `send_at` in the future.
    case scheduled
    /// Claimed by a worker, which holds a lease on it.
    case sending
    /// An attempt failed with an error worth retrying; waiting for `next_attempt_at`.
    case retrying
    /// Delivered: the server accepted it for at least one recipient.
    case success
    /// Given up: a permanent error, attempts exhausted or expired.
    case failed
    /// Cancelled through the API before it was sent.
    case cancelled

    /// The states a worker may claim from.
    public static let claimable: [MessageStatus] = [.pending, .scheduled, .retrying]

    /// `true` once nothing more will happen to the message.
    public var isFinal: Bool {
        switch self {
        case .success, .failed, .cancelled: true
        case .pending, .scheduled, .sending, .retrying: false
        }
    }
}
