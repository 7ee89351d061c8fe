/// A message made ready to join an enqueue batch.
///
/// Its row's values and its lookup rows are built by the caller's own task, before it waits for
/// a batch. Built by the batch's leader instead, they were a sixth of the time the write lock was
/// held: time in which, on SQLite, no other write can run, while the callers' tasks sat idle.
///
/// A class: a batch passes its members through several arrays, and copying a struct of some
/// twenty references meant as many reference-count updates per copy.
final class PendingEnqueue: Sendable {
    let message: NewMessage
    /// Tells this message's row apart among the batch's rows read back after the insert (see `RowTag`).
    let uid: String
    /// The 21 values of `Queries.insertMessageRow`.
    let row: [SQLValue]
    /// The recipients as the lookup table keeps them: kind and lower-cased address.
    let recipients: [Recipient]
    /// The tags, each once.
    let tags: [String]

    struct Recipient: Sendable {
        var kind: String
        var address: String
    }

    init(_ message: NewMessage) {
        self.message = message
        uid = RowTag.next()
        row = [
            .text(uid), SQLValue(message.requestID), SQLValue(message.apiKeyID), SQLValue(message.idempotency?.key),
            .text(message.channel), .text(message.from), .text(JSONText.encode(message.to)),
            .text(JSONText.encode(message.cc)), .text(JSONText.encode(message.bcc)), SQLValue(message.subject),
            SQLValue(message.templateCode), SQLValue(message.templateVariables), .blob(message.mime),
            SQLValue(message.messageIDHeader), SQLValue(message.fromAccount), .integer(Int64(message.priority)),
            SQLValue(message.sendAt), SQLValue(message.expiresAt), .integer(Int64(message.maxAttempts)),
            .text(JSONText.encode(message.tags)), .text(JSONText.encode(message.metadata)),
        ]
        var recipients: [Recipient] = []
        recipients.reserveCapacity(message.to.count + message.cc.count + message.bcc.count)
        for (kind, addresses) in [("to", message.to), ("cc", message.cc), ("bcc", message.bcc)] {
            for address in addresses { recipients.append(Recipient(kind: kind, address: address.lowercased())) }
        }
        self.recipients = recipients
        var seen: Set<String> = []
        tags = message.tags.filter { seen.insert($0).inserted }
    }
}
