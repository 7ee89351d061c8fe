/// What the server said it supports in its EHLO reply (RFC 5321 4.1.1.1).
public struct SMTPCapabilities: Hashable, Sendable {
    /// Upper-cased keyword to its parameters.
    public let extensions: [String: [String]]
    /// True when the session fell back to HELO (no extensions).
    public let isLegacyHELO: Bool

    public init(ehloReply reply: SMTPReply) {
        var extensions: [String: [String]] = [:]
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ").map(String.init)
            guard let keyword = words.first?.uppercased() else { continue }
            // Some servers still advertise the pre-standard "AUTH=PLAIN LOGIN" form.
            if keyword.hasPrefix("AUTH=") {
                extensions["AUTH", default: []] += [String(keyword.dropFirst(5))] + words.dropFirst().map { $0.uppercased() }
                continue
            }
            extensions[keyword, default: []] += words.dropFirst().map { keyword == "AUTH" ? $0.uppercased() : $0 }
        }
        self.extensions = extensions
        self.isLegacyHELO = false
    }

    /// A session opened with HELO: no extensions at all.
    static let legacyHELO = SMTPCapabilities(extensions: [:], isLegacyHELO: true)

    private init(extensions: [String: [String]], isLegacyHELO: Bool) {
        self.extensions = extensions
        self.isLegacyHELO = isLegacyHELO
    }

    public func supports(_ keyword: String) -> Bool { extensions[keyword.uppercased()] != nil }
    public var authMechanisms: [String] { extensions["AUTH"] ?? [] }
    public var supportsPipelining: Bool { supports("PIPELINING") }
    public var supportsStartTLS: Bool { supports("STARTTLS") }
    public var supportsSMTPUTF8: Bool { supports("SMTPUTF8") }
    public var supports8BitMIME: Bool { supports("8BITMIME") }
    public var supportsDSN: Bool { supports("DSN") }
    /// The SIZE limit in octets (RFC 1870); nil when not advertised or 0 (no fixed limit).
    public var maximumSize: Int? {
        guard let value = extensions["SIZE"]?.first.flatMap({ Int($0) }), value > 0 else { return nil }
        return value
    }
}
