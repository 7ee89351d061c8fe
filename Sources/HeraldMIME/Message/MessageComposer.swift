import Foundation

/// Turns an `Email` into the RFC 5322 / MIME bytes that go on the wire, optionally DKIM-signed.
///
/// Output rules: CRLF line endings; header lines folded at 78 columns; non-ASCII in display names
/// and unstructured headers as RFC 2047 encoded words (never in addresses); bodies in 7bit,
/// quoted-printable or base64, whichever the content needs and is shortest; no line over 998
/// octets; Date, Message-ID and MIME-Version always present; Bcc never written.
public struct MessageComposer: Sendable {
    /// Signs each composed message when set.
    public var dkim: DKIMSigner?

    /// Creates a composer; pass a signer to DKIM-sign what it composes.
    public init(dkim: DKIMSigner? = nil) {
        self.dkim = dkim
    }

    /// Composes `email` with fresh randomness for the Message-ID and MIME boundaries.
    public func compose(_ email: Email) throws(MIMEError) -> ComposedMessage {
        var generator = SystemRandomNumberGenerator()
        return try compose(email, using: &generator)
    }

    /// Composes `email`, drawing the Message-ID and boundaries from `generator` (seed it for
    /// reproducible output in tests).
    public func compose(
        _ email: Email, using generator: inout some RandomNumberGenerator
    ) throws(MIMEError)
        -> ComposedMessage
    {
        try email.subject.checkHeaderSafe(field: "the subject")
        let envelope = try email.envelope()
        let date = email.date ?? Date()
        let messageID = try email.messageID.map(MessageID.validated) ?? MessageID.make(domain: email.from.address.domain, using: &generator)
        let body = BodyTree(email, using: &generator)

        var writer = HeaderWriter(capacity: 1024 + body.estimatedSize)
        writer.field("Date", RFC5322Date.format(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down))))
        writer.mailboxList("From", [email.from])
        if !email.to.isEmpty { writer.mailboxList("To", email.to) }
        if !email.cc.isEmpty { writer.mailboxList("Cc", email.cc) }
        if !email.replyTo.isEmpty { writer.mailboxList("Reply-To", email.replyTo) }
        writer.unstructured("Subject", email.subject)
        writer.field("Message-ID", messageID)
        writer.field("MIME-Version", "1.0")
        for header in email.headers {
            try writer.custom(header)
        }
        body.write(into: &writer, topLevel: true)

        var bytes = writer.bytes
        if let dkim {
            bytes = try dkim.sign(bytes, at: date)
        }
        let headerAddresses = [email.from] + email.to + email.cc + email.replyTo
        return ComposedMessage(
            envelope: envelope,
            bytes: bytes,
            messageID: messageID,
            requiresSMTPUTF8: envelope.requiresSMTPUTF8 || headerAddresses.contains(where: \.address.requiresSMTPUTF8)
        )
    }
}

extension HeaderWriter {
    /// Writes a caller's header: printable ASCII folded at spaces (structure such as
    /// `<mailto:...>, <https://...>` survives), anything else as encoded words.
    mutating func custom(_ header: Header) throws(MIMEError) {
        let isASCII = header.value.utf8.allSatisfy(ASCII.isPrintable)
        guard isASCII else {
            unstructured(header.name, header.value)
            return
        }
        let start = bytes.count
        beginField(header.name)
        for word in header.value.utf8.split(separator: ASCII.space, omittingEmptySubsequences: false) {
            if word.isEmpty {
                append([ASCII.space])
            } else {
                token(word)
            }
        }
        endField()
        var lineLength = 0
        for byte in bytes[start...] {
            lineLength = byte == ASCII.lf ? 0 : lineLength + 1
            if lineLength > 999 {
                throw MIMEError(.headerTooLong, "the header '\(header.name)' has a word too long for a 998-octet line")
            }
        }
    }
}

/// Message-ID values (RFC 5322 3.6.4): `<unique@domain>`.
enum MessageID {
    private static let alphabet: [UInt8] = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// A new identifier: 128 random bits in base 36, at the sender's domain.
    static func make(domain: String, using generator: inout some RandomNumberGenerator) -> String {
        var left: [UInt8] = []
        left.reserveCapacity(26)
        for _ in 0..<2 {
            var value = generator.next() as UInt64
            for _ in 0..<12 {
                left.append(alphabet[Int(value % 36)])
                value /= 36
            }
        }
        return "<\(String(decoding: left, as: UTF8.self))@\(domain)>"
    }

    /// Accepts `left@right` with or without angle brackets; printable ASCII, no spaces.
    static func validated(_ value: String) throws(MIMEError) -> String {
        var inner = Substring(value.trimmingWhitespace())
        if inner.hasPrefix("<") && inner.hasSuffix(">") { inner = inner.dropFirst().dropLast() }
        let bytes = Array(inner.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "@"))
        let valid =
            bytes.allSatisfy { ASCII.isPrintable($0) && $0 != ASCII.space && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
            && at.map { $0 > 0 && $0 < bytes.count - 1 } == true
        guard valid, bytes.count <= 250 else {
            throw MIMEError(.invalidMessageID, "a Message-ID must look like <unique@domain>")
        }
        return "<\(inner)>"
    }
}
