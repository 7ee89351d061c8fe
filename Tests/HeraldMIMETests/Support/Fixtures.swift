import Foundation

@testable import HeraldMIME

/// Messages with everything random or time-dependent fixed, for golden comparisons.
enum Fixtures {
    /// 2025-10-25 09:05:00 UTC (17:05 in Beijing).
    static let date = Date(timeIntervalSince1970: 1_761_383_100)

    static func compose(_ email: Email, seed: UInt64 = 1, dkim: DKIMSigner? = nil) throws -> String {
        var email = email
        email.date = email.date ?? date
        email.messageID = email.messageID ?? "<fixed-id@qq.com>"
        var generator = SeededGenerator(seed: seed)
        let message = try MessageComposer(dkim: dkim).compose(email, using: &generator)
        return String(decoding: message.bytes, as: UTF8.self)
    }

    /// The header block of a composed message (up to the blank line), CRLFs kept.
    static func headers(_ message: String) -> String {
        String(message[..<message.range(of: "\r\n\r\n")!.upperBound])
    }

    static func mailbox(_ text: String) throws -> Mailbox { try Mailbox(parsing: text) }
}
