/// An error from the store, with a stable machine code and a message safe to show a person.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a stable code (`store.not_found`, ...).
    public enum Code: String, Sendable, Hashable {
        /// No such record.
        case notFound = "store.not_found"
        /// A unique name or code is taken.
        case alreadyExists = "store.already_exists"
        /// The idempotency key was used before with a different request.
        case idempotencyConflict = "store.idempotency_conflict"
        /// The message is not in a state that allows this (e.g. cancelling a sent message).
        case invalidState = "store.invalid_state"
        /// The worker's lease is gone: it expired and the message may be held by another worker.
        case leaseLost = "store.lease_lost"
        /// An argument is malformed (e.g. a cursor that this store did not hand out).
        case invalidArgument = "store.invalid_argument"
        /// The database stayed busy or unreachable past the deadline.
        case unavailable = "store.unavailable"
        /// The database holds a newer schema than this build knows, or none when one is needed.
        case schemaMismatch = "store.schema_mismatch"
        /// A sealed secret could not be opened: a wrong or changed master key.
        case secretUnreadable = "store.secret_unreadable"
        /// Configuration given to the store is wrong (a bad URL, key or path).
        case configuration = "store.configuration"
        /// The database refused a statement; details are in the log, not here.
        case database = "store.database"
    }

    public var code: Code
    /// Plain words; never a secret, a message body or a recipient list.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
