import NIOCore

/// A command the client sends (RFC 5321 4.1, RFC 3207, RFC 4954).
///
/// Arguments are checked where commands are made (`SMTPCommand.validated`): CR, LF and NUL
/// would let one argument smuggle a second command into the session.
public enum SMTPCommand: Hashable, Sendable {
    case ehlo(String)
    case helo(String)
    case startTLS
    /// `AUTH mechanism [initial-response]`; the response is already base64.
    case auth(mechanism: String, initialResponse: String?)
    /// A line answering a 334 challenge (base64, or empty).
    case authResponse(String)
    /// `MAIL FROM:<address> params`.
    case mail(from: String, parameters: [String])
    /// `RCPT TO:<address> params`.
    case recipient(to: String, parameters: [String])
    case data
    /// The end-of-data line alone: closes a DATA the server opened when nothing may be sent.
    case endOfData
    case rset
    case noop
    case quit

    /// The command line without CRLF. AUTH payloads are replaced by `<redacted>` when `redacted`.
    public func line(redacted: Bool = false) -> String {
        switch self {
        case .ehlo(let name): return "EHLO \(name)"
        case .helo(let name): return "HELO \(name)"
        case .startTLS: return "STARTTLS"
        case .auth(let mechanism, let response):
            guard let response else { return "AUTH \(mechanism)" }
            return "AUTH \(mechanism) \(redacted ? "<redacted>" : response)"
        case .authResponse(let response): return redacted ? "<redacted>" : response
        case .mail(let from, let parameters): return (["MAIL FROM:<\(from)>"] + parameters).joined(separator: " ")
        case .recipient(let to, let parameters): return (["RCPT TO:<\(to)>"] + parameters).joined(separator: " ")
        case .data: return "DATA"
        case .endOfData: return "."
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        }
    }

    /// Writes the command and its CRLF.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString(line())
        buffer.writeStaticString("\r\n")
    }

    /// Refuses CR, LF and NUL in an argument before it becomes part of a command.
    static func checkArgument(_ value: String, _ what: String) throws(SMTPError) {
        if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw SMTPError(
                code: "smtp.invalid_argument", classification: .permanent, phase: .mail,
                message: "\(what) contains CR, LF or NUL, which would inject SMTP commands")
        }
    }
}
