import NIOCore

/// Writes message content for DATA (RFC 5321 4.5.2): every line break as CRLF, a leading dot
/// doubled, and the terminating `CRLF.CRLF`.
public enum DotStuffing {
    /// Appends the transparent form of `message` and the end-of-data marker to `buffer`.
    public static func write(_ message: some Collection<UInt8>, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: message.count + message.count / 64 + 8)
        var atLineStart = true
        var previousWasCR = false
        var runStart = message.startIndex
        var index = message.startIndex
        // Copies unchanged runs in one write; only line breaks and leading dots need work.
        while index != message.endIndex {
            let byte = message[index]
            if byte == UInt8(ascii: "\n") {
                if !previousWasCR {
                    buffer.writeBytes(message[runStart..<index])
                    buffer.writeInteger(UInt8(ascii: "\r"))
                    runStart = index
                }
                atLineStart = true
                previousWasCR = false
            } else {
                if previousWasCR {
                    // A bare CR: complete it as a line break.
                    buffer.writeBytes(message[runStart..<index])
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    runStart = index
                    atLineStart = true
                }
                if atLineStart && byte == UInt8(ascii: ".") {
                    buffer.writeBytes(message[runStart..<index])
                    buffer.writeInteger(UInt8(ascii: "."))
                    runStart = index
                }
                atLineStart = false
                previousWasCR = byte == UInt8(ascii: "\r")
            }
            index = message.index(after: index)
        }
        buffer.writeBytes(message[runStart..<message.endIndex])
        if previousWasCR {
            buffer.writeInteger(UInt8(ascii: "\n"))
        } else if !atLineStart {
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString(".\r\n")
    }
}
