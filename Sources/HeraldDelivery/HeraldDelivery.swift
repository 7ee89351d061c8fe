// HeraldDelivery: workers, retry policy, error classification, account routing, circuit
// breakers, quotas and channels. Where HeraldMIME and HeraldSMTP meet, at "envelope + bytes".
//
// A worker claims messages from the store, asks the router for the accounts that may send each
// one, and hands the bytes to the account's channel. Whatever happens becomes a `DeliveryError`
// with one `ErrorClass`, and `ErrorPolicy` (DESIGN.md section 5) decides from that class alone
// whether to retry, whether the account is at fault, and whether to fail over.

/// The structured-logging metadata keys of this module, in one place.
enum LogKey {
    static let messageID = "message.id"
    static let accountID = "account.id"
    static let accountName = "account.name"
    static let errorCode = "error.code"
    static let errorClass = "error.class"
    static let smtpCode = "smtp.code"
    static let worker = "worker.id"
    static let attempt = "message.attempt"
}
