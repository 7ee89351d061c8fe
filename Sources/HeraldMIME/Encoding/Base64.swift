/// Base64 (RFC 4648) written straight into a byte buffer, optionally in CRLF-terminated lines.
enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The encoded length of `count` bytes, without line breaks.
    static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Appends the encoding of `input` to `output`. With `lineLength`, ends every line (the last
    /// one too) with CRLF; `lineLength` must be a multiple of 4.
    static func encode(_ input: some Collection<UInt8>, into output: inout [UInt8], lineLength: Int? = nil) {
        input.withContiguousStorageIfAvailable { encode(buffer: $0, into: &output, lineLength: lineLength) }
            ?? Array(input).withUnsafeBufferPointer { encode(buffer: $0, into: &output, lineLength: lineLength) }
    }

    private static func encode(buffer: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], lineLength: Int?) {
        let count = buffer.count
        let encoded = encodedLength(count)
        let lines = lineLength.map { (encoded + $0 - 1) / $0 } ?? 0
        output.reserveCapacity(output.count + encoded + lines * 2)
        alphabet.withUnsafeBufferPointer { table in
            var column = 0
            var index = 0
            func emit(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
                output.append(a)
                output.append(b)
                output.append(c)
                output.append(d)
                if let lineLength {
                    column += 4
                    if column == lineLength {
                        output.append(ASCII.cr)
                        output.append(ASCII.lf)
                        column = 0
                    }
                }
            }
            while index + 3 <= count {
                let value = UInt32(buffer[index]) << 16 | UInt32(buffer[index + 1]) << 8 | UInt32(buffer[index + 2])
                emit(
                    table[Int(value >> 18)], table[Int(value >> 12 & 0x3F)],
                    table[Int(value >> 6 & 0x3F)], table[Int(value & 0x3F)])
                index += 3
            }
            let rest = count - index
            if rest == 1 {
                let value = UInt32(buffer[index]) << 16
                emit(table[Int(value >> 18)], table[Int(value >> 12 & 0x3F)], UInt8(ascii: "="), UInt8(ascii: "="))
            } else if rest == 2 {
                let value = UInt32(buffer[index]) << 16 | UInt32(buffer[index + 1]) << 8
                emit(
                    table[Int(value >> 18)], table[Int(value >> 12 & 0x3F)], table[Int(value >> 6 & 0x3F)],
                    UInt8(ascii: "="))
            }
            if lineLength != nil && column != 0 {
                output.append(ASCII.cr)
                output.append(ASCII.lf)
            }
        }
    }

    /// The encoding of `input` as a string, without line breaks.
    static func string(_ input: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        encode(input, into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
