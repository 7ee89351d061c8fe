import NIOCore

/// Decodes SMTP replies (RFC 5321 4.2): `250-first`, `250-second`, `250 last`, or a bare `250`.
///
/// Lines longer than `maxLineLength` or replies of more than `maxLines` lines are refused, so a
/// hostile or broken server cannot make the client buffer without bound.
public struct SMTPReplyDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SMTPReply

    /// RFC 5321 4.5.3.1.5 allows 512 octets; servers exceed it, so this is lenient but bounded.
    public static let maxLineLength = 4096
    public static let maxLines = 256

    private var code: Int?
    private var lines: [String] = []

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> SMTPReply? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                if buffer.readableBytes > Self.maxLineLength { throw SMTPError.malformedReply("a reply line is too long") }
                return nil
            }
            let length = newline - view.startIndex
            if length > Self.maxLineLength { throw SMTPError.malformedReply("a reply line is too long") }
            var line = buffer.readSlice(length: length + 1)!
            var bytes = line.readBytes(length: length)!
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if let reply = try take(bytes) { return reply }
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SMTPReply? {
        try decode(buffer: &buffer)
    }

    /// Adds one line; returns the reply when the line was its last.
    private mutating func take(_ bytes: [UInt8]) throws -> SMTPReply? {
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            (2...5).contains(bytes[0] - UInt8(ascii: "0"))
        else {
            throw SMTPError.malformedReply("a reply line does not start with a three-digit code")
        }
        let lineCode = bytes[0...2].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        if let code, code != lineCode {
            throw SMTPError.malformedReply("the lines of one reply carry different codes (\(code), \(lineCode))")
        }
        let separator = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw SMTPError.malformedReply("a reply code is followed by neither a space nor a hyphen")
        }
        code = lineCode
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard lines.count <= Self.maxLines else { throw SMTPError.malformedReply("a reply has too many lines") }
        guard separator == UInt8(ascii: " ") else { return nil }
        let reply = SMTPReply(code: lineCode, lines: lines)
        code = nil
        lines = []
        return reply
    }
}
