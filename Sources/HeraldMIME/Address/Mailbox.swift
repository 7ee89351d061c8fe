/// An address with an optional display name: the content of a From, To, Cc or Reply-To header.
///
/// The display name is free Unicode text; rendering quotes it or encodes it (RFC 2047) as
/// needed, and never encodes the address.
public struct Mailbox: Hashable, Sendable, CustomStringConvertible {
    /// The address.
    public let address: EmailAddress
    /// The display name, trimmed; nil when there is none.
    public let displayName: String?

    /// Creates a mailbox; refuses a display name with CR, LF or NUL.
    public init(_ address: EmailAddress, displayName: String? = nil) throws(MIMEError) {
        try displayName?.checkHeaderSafe(field: "a display name")
        self.address = address
        let trimmed = displayName?.trimmingWhitespace()
        self.displayName = trimmed?.isEmpty == false ? trimmed : nil
    }

    /// Parses `user@example.com`, `<user@example.com>`, `Name <user@example.com>` or
    /// `"Quoted, Name" <user@example.com>`.
    public init(parsing input: String) throws(MIMEError) {
        try input.checkHeaderSafe(field: "a mailbox")
        let text = input.trimmingWhitespace()
        guard text.hasSuffix(">") else {
            try self.init(EmailAddress(text))
            return
        }
        guard let open = Self.lastUnquotedAngle(in: text) else {
            throw EmailAddress.invalid(input, "'>' has no matching '<'")
        }
        let address = try EmailAddress(String(text[text.index(after: open)..<text.index(before: text.endIndex)]))
        let phrase = text[..<open].trimmingWhitespace()
        try self.init(address, displayName: try Self.unquote(phrase, input: input))
    }

    /// The display name and address as a person would type them (not an encoded header).
    public var description: String {
        guard let displayName else { return address.description }
        return "\(displayName) <\(address)>"
    }

    private static func lastUnquotedAngle(in text: String) -> String.Index? {
        var inQuotes = false
        var escaped = false
        var found: String.Index?
        for index in text.indices {
            let character = text[index]
            if escaped {
                escaped = false
            } else if character == "\\" && inQuotes {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == "<" && !inQuotes {
                found = index
            }
        }
        return found
    }

    /// Removes the quotes and backslash escapes of a quoted display name.
    private static func unquote(_ phrase: String, input: String) throws(MIMEError) -> String {
        guard phrase.count >= 2, phrase.hasPrefix("\""), phrase.hasSuffix("\"") else { return phrase }
        var result = ""
        var escaped = false
        for character in phrase.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                throw EmailAddress.invalid(input, "a quote inside the display name must be escaped")
            } else {
                result.append(character)
            }
        }
        return result
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
