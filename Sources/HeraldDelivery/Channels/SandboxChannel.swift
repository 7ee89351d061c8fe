import HeraldStore

/// Captures messages instead of sending them: the envelope and the exact bytes are stored
/// (`Store.captures(messageID:)`) and the message counts as delivered. A fresh install sends
/// through it, so the first message works without any SMTP credentials.
public struct SandboxChannel: DeliveryChannel {
    public let name = "sandbox"
    private let store: any Store

    public init(store: any Store) {
        self.store = store
    }

    public func deliver(_ message: OutgoingMessage, through account: AccountRecord) async throws(DeliveryError) -> DeliveryReceipt {
        do {
            try await store.saveCapture(
                NewCapture(
                    messageID: message.messageID, accountID: account.id, sender: message.sender, recipients: message.recipients,
                    data: message.bytes))
        } catch {
            throw DeliveryError(code: "sandbox.capture_failed", errorClass: .transient, message: "the sandbox could not store the capture")
        }
        return DeliveryReceipt(
            smtpCode: 250, reply: "captured by the sandbox; not sent",
            recipients: message.recipients.map { RecipientOutcome(address: $0, accepted: true, code: 250) })
    }

    public func reset(accountID: Int64) async {}
    public func shutdown() async {}
}
