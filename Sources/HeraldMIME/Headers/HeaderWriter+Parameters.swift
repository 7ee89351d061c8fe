extension HeaderWriter {
    /// RFC 5987 `attr-char`: what an RFC 2231 extended value may hold without percent-encoding.
    private static let attrChar: [Bool] = (0..<256).map { byte in
        byte < 128 && (ASCII.isAlphaNumeric(UInt8(byte)) || "!#$&+-.^_`|~".utf8.contains(UInt8(byte)))
    }
    /// The longest value segment per line, so that `filename*12*=...;` stays within 78 columns.
    private static let segmentLength = 60

    /// Writes a MIME parameter (`name="value"`) after the field's previous token, as a quoted
    /// string when the value is short printable ASCII, otherwise as an RFC 2231 extended value in
    /// UTF-8, split into numbered continuations (`name*0*=utf-8''...; name*1*=...`).
    mutating func parameter(_ name: String, _ value: String) {
        let bytes = Array(value.utf8)
        if bytes.count <= Self.segmentLength, bytes.allSatisfy(ASCII.isPrintable) {
            token(ASCII.quoted(bytes, prefix: Array("\(name)=".utf8)))
            return
        }
        var segments: [[UInt8]] = [Array("utf-8''".utf8)]
        // Segments end between characters: some decoders percent-decode each segment alone.
        for scalar in value.unicodeScalars {
            var encoded: [UInt8] = []
            for byte in String(scalar).utf8 {
                if Self.attrChar[Int(byte)] {
                    encoded.append(byte)
                } else {
                    encoded += [UInt8(ascii: "%"), ASCII.upperHex[Int(byte >> 4)], ASCII.upperHex[Int(byte & 0x0F)]]
                }
            }
            if segments[segments.count - 1].count + encoded.count > Self.segmentLength { segments.append([]) }
            segments[segments.count - 1] += encoded
        }
        if segments.count == 1 {
            token(Array("\(name)*=".utf8) + segments[0])
            return
        }
        for (index, segment) in segments.enumerated() {
            let separator = index < segments.count - 1 ? ";" : ""
            token(Array("\(name)*\(index)*=".utf8) + segment + Array(separator.utf8))
        }
    }
}
