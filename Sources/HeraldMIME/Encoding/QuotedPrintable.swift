/// Quoted-printable body encoding (RFC 2045 section 6.7) over text whose line breaks are CRLF.
enum QuotedPrintable {
    /// RFC 2045 6.7 (5): encoded lines are at most 76 characters, the soft break's `=` included.
    static let maxLineLength = 76

    /// True when the byte stands for itself (rule 2), apart from whitespace at the end of a line.
    @inline(__always)
    static func isLiteral(_ byte: UInt8) -> Bool {
        (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || byte == ASCII.space || byte == ASCII.tab
    }

    /// The encoded length, close enough to choose between quoted-printable and base64.
    static func estimatedLength(_ input: [UInt8]) -> Int {
        var length = 0
        for byte in input {
            length += isLiteral(byte) || byte == ASCII.cr || byte == ASCII.lf ? 1 : 3
        }
        return length + length / maxLineLength * 3
    }

    /// Appends the encoding of CRLF-normalised `input`; a last line without CRLF gets one.
    static func encode(_ input: [UInt8], into output: inout [UInt8]) {
        output.reserveCapacity(output.count + estimatedLength(input) + 2)
        var column = 0
        var index = 0
        let count = input.count
        while index < count {
            let byte = input[index]
            if byte == ASCII.cr, index + 1 < count, input[index + 1] == ASCII.lf {
                output.append(ASCII.cr)
                output.append(ASCII.lf)
                column = 0
                index += 2
                continue
            }
            let atLineEnd = index + 1 == count || (input[index + 1] == ASCII.cr)
            let literal = isLiteral(byte) && !(atLineEnd && (byte == ASCII.space || byte == ASCII.tab))
            let width = literal ? 1 : 3
            // Keep room for a soft line break ("=") unless this is the last character of the line.
            let limit = atLineEnd ? maxLineLength : maxLineLength - 1
            if column + width > limit {
                output.append(UInt8(ascii: "="))
                output.append(ASCII.cr)
                output.append(ASCII.lf)
                column = 0
            }
            if literal {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "="))
                output.append(ASCII.upperHex[Int(byte >> 4)])
                output.append(ASCII.upperHex[Int(byte & 0x0F)])
            }
            column += width
            index += 1
        }
        if column != 0 {
            output.append(ASCII.cr)
            output.append(ASCII.lf)
        }
    }
}
