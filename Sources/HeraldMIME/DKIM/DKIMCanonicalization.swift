/// DKIM "relaxed" canonicalization (RFC 6376 section 3.4.2 and 3.4.4).
enum DKIMCanonicalization {
    /// `name:value\r\n`: lower-case name, unfolded value, whitespace runs as one space, none at the ends.
    static func relaxedHeader(_ field: ArraySlice<UInt8>, into output: inout [UInt8], withCRLF: Bool = true) {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return }
        var nameEnd = colon
        while nameEnd > field.startIndex, isWSP(field[nameEnd - 1]) { nameEnd -= 1 }
        for byte in field[field.startIndex..<nameEnd] {
            output.append(byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte)
        }
        output.append(UInt8(ascii: ":"))
        var pendingSpace = false
        var wroteValue = false
        for byte in field[(colon + 1)...] {
            if byte == ASCII.cr || byte == ASCII.lf { continue }
            if isWSP(byte) {
                pendingSpace = true
                continue
            }
            if pendingSpace && wroteValue { output.append(ASCII.space) }
            pendingSpace = false
            wroteValue = true
            output.append(byte)
        }
        if withCRLF { output.append(contentsOf: ASCII.crlf) }
    }

    /// Each line without trailing whitespace and with inner whitespace runs as one space; empty
    /// lines at the end removed; a non-empty body ends with CRLF.
    static func relaxedBody(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count)
        var pendingEmptyLines = 0
        var line: [UInt8] = []
        var pendingSpace = false
        func endLine() {
            if line.isEmpty {
                pendingEmptyLines += 1
            } else {
                for _ in 0..<pendingEmptyLines { output.append(contentsOf: ASCII.crlf) }
                pendingEmptyLines = 0
                output.append(contentsOf: line)
                output.append(contentsOf: ASCII.crlf)
            }
            line.removeAll(keepingCapacity: true)
            pendingSpace = false
        }
        var index = body.startIndex
        while index < body.endIndex {
            let byte = body[index]
            if byte == ASCII.cr, index + 1 < body.endIndex, body[index + 1] == ASCII.lf {
                endLine()
                index += 2
                continue
            }
            if isWSP(byte) {
                pendingSpace = true
            } else {
                if pendingSpace { line.append(ASCII.space) }
                pendingSpace = false
                line.append(byte)
            }
            index += 1
        }
        if !line.isEmpty { endLine() }
        return output
    }

    private static func isWSP(_ byte: UInt8) -> Bool { byte == ASCII.space || byte == ASCII.tab }
}

/// The header fields of a message as they stand, for choosing and canonicalizing signed ones.
struct RawHeaderBlock {
    /// Each field's lower-cased name and its bytes, continuation lines included, without the final CRLF.
    var fields: [(name: String, range: Range<Int>)] = []
    /// Where the body starts (after the blank line).
    var bodyStart: Int

    init(_ message: [UInt8]) {
        var index = 0
        var fieldStart: Int?
        bodyStart = message.count
        while index < message.count {
            var lineEnd = index
            while lineEnd + 1 < message.count && !(message[lineEnd] == ASCII.cr && message[lineEnd + 1] == ASCII.lf) {
                lineEnd += 1
            }
            if lineEnd + 1 >= message.count { lineEnd = message.count }
            let isContinuation = index < lineEnd && (message[index] == ASCII.space || message[index] == ASCII.tab)
            if !isContinuation, let start = fieldStart {
                fields.append(Self.field(message, start..<(index - 2)))
                fieldStart = nil
            }
            if lineEnd == index {
                bodyStart = min(index + 2, message.count)
                return
            }
            if !isContinuation { fieldStart = index }
            index = lineEnd + 2
        }
        if let start = fieldStart { fields.append(Self.field(message, start..<message.count)) }
    }

    private static func field(_ message: [UInt8], _ range: Range<Int>) -> (name: String, range: Range<Int>) {
        let colon = message[range].firstIndex(of: UInt8(ascii: ":")) ?? range.upperBound
        let name = String(decoding: message[range.lowerBound..<colon], as: UTF8.self)
        return (name.trimmingWhitespace().lowercased(), range)
    }
}
