/// Writes header fields into a message buffer, folding lines at 78 columns (RFC 5322 2.1.1, 2.2.3).
///
/// A field is written as tokens; between two tokens stands one space, which becomes CRLF SP when
/// the next token would pass column 78. Folding never happens before the first token of a field.
struct HeaderWriter {
    /// RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters, excluding CRLF.
    static let foldColumn = 78
    /// RFC 2047 section 2: an encoded word is at most 75 characters.
    static let maxEncodedWordLength = 75

    var bytes: [UInt8]
    private var lineStart: Int
    private var fieldHasToken = false

    init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
        lineStart = 0
    }

    var column: Int { bytes.count - lineStart }

    /// Starts a field: writes `Name:`.
    mutating func beginField(_ name: String) {
        lineStart = bytes.count
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: ":"))
        fieldHasToken = false
    }

    /// Ends the current field with CRLF.
    mutating func endField() {
        bytes.append(ASCII.cr)
        bytes.append(ASCII.lf)
        lineStart = bytes.count
    }

    /// Writes a complete unstructured or pre-rendered field on one call.
    mutating func field(_ name: String, _ value: String) {
        beginField(name)
        token(value.utf8)
        endField()
    }

    /// Starts a new line (CRLF SP) when `width` more characters, after a space, would pass column 78.
    mutating func foldIfNeeded(forWidth width: Int) {
        if fieldHasToken && column + 1 + width > Self.foldColumn {
            bytes.append(ASCII.cr)
            bytes.append(ASCII.lf)
            lineStart = bytes.count
        }
    }

    /// Appends a token after a space, folding first when it would not fit.
    mutating func token(_ token: some Collection<UInt8>) {
        foldIfNeeded(forWidth: token.count)
        bytes.append(ASCII.space)
        bytes.append(contentsOf: token)
        fieldHasToken = true
    }

    /// Appends bytes directly after the previous token, with no space (a comma, a `;`).
    mutating func append(_ text: some Collection<UInt8>) {
        bytes.append(contentsOf: text)
    }

    /// Writes `text` as RFC 2047 encoded words (UTF-8, B or Q, whichever is shorter), each at most
    /// 75 characters and never splitting a character across two words.
    mutating func encodedWords(_ text: String) {
        let utf8 = Array(text.utf8)
        let qLength = utf8.reduce(0) { $0 + EncodedWord.qCost($1) }
        let encoding: EncodedWord.Encoding = Base64.encodedLength(utf8.count) < qLength ? .b : .q
        // Text that fits one word is never split because of where the line happens to stand.
        let wholeLength = EncodedWord.overhead + min(Base64.encodedLength(utf8.count), qLength)
        let fitsOneWord = fieldHasToken && wholeLength <= Self.maxEncodedWordLength
        var chunk = EncodedWordChunk(encoding: encoding, budget: fitsOneWord ? Self.maxEncodedWordLength : wordBudget())
        for character in text {
            let width = character.utf8.count
            if chunk.fits(utf8, adding: width) {
                chunk.add(utf8, width)
                continue
            }
            if !chunk.isEmpty {
                // Break after the chunk's last space when it has one: decoders that keep the
                // whitespace between encoded words (Python's phrase parser) then still read one space.
                let breakAt = chunk.lastSpaceEnd ?? chunk.end
                writeWord(utf8[chunk.start..<breakAt], encoding)
                chunk.restart(at: breakAt, budget: wordBudget(), utf8)
            }
            if chunk.fits(utf8, adding: width) {
                chunk.add(utf8, width)
                continue
            }
            // A grapheme cluster too long for one word is split between its Unicode scalars.
            for scalar in character.unicodeScalars {
                let scalarWidth = UTF8.width(scalar)
                if !chunk.fits(utf8, adding: scalarWidth) && !chunk.isEmpty {
                    writeWord(utf8[chunk.range], encoding)
                    chunk.restart(at: chunk.end, budget: wordBudget(), utf8)
                }
                chunk.add(utf8, scalarWidth)
            }
        }
        if !chunk.isEmpty {
            writeWord(utf8[chunk.range], encoding)
        }
    }

    /// How long the next encoded word may be: what is left of this line, or a fresh line's 75.
    private mutating func wordBudget() -> Int {
        let onThisLine = Self.foldColumn - column - 1
        if !fieldHasToken || onThisLine >= 24 {
            return max(min(Self.maxEncodedWordLength, onThisLine), 24)
        }
        return Self.maxEncodedWordLength
    }

    private mutating func writeWord(_ chunk: ArraySlice<UInt8>, _ encoding: EncodedWord.Encoding) {
        foldIfNeeded(forWidth: EncodedWord.length(chunk, encoding))
        bytes.append(ASCII.space)
        EncodedWord.write(chunk, encoding, into: &bytes)
        fieldHasToken = true
    }
}

/// One RFC 2047 encoded word: `=?UTF-8?B?...?=` or `=?UTF-8?Q?...?=`.
enum EncodedWord {
    enum Encoding { case b, q }

    private static let bPrefix: [UInt8] = Array("=?UTF-8?B?".utf8)
    private static let qPrefix: [UInt8] = Array("=?UTF-8?Q?".utf8)
    static let overhead = 12

    /// The characters one byte takes in Q encoding (RFC 2047 4.2, with the phrase rules of 5 (3)).
    @inline(__always)
    static func qCost(_ byte: UInt8) -> Int {
        byte == ASCII.space || ASCII.qPhraseSafe[Int(byte)] ? 1 : 3
    }

    static func length(_ chunk: ArraySlice<UInt8>, _ encoding: Encoding) -> Int {
        switch encoding {
        case .b: return overhead + Base64.encodedLength(chunk.count)
        case .q: return overhead + chunk.reduce(0) { $0 + qCost($1) }
        }
    }

    static func write(_ chunk: ArraySlice<UInt8>, _ encoding: Encoding, into bytes: inout [UInt8]) {
        switch encoding {
        case .b:
            bytes.append(contentsOf: bPrefix)
            Base64.encode(chunk, into: &bytes)
        case .q:
            bytes.append(contentsOf: qPrefix)
            for byte in chunk {
                if byte == ASCII.space {
                    bytes.append(UInt8(ascii: "_"))
                } else if ASCII.qPhraseSafe[Int(byte)] {
                    bytes.append(byte)
                } else {
                    bytes.append(UInt8(ascii: "="))
                    bytes.append(ASCII.upperHex[Int(byte >> 4)])
                    bytes.append(ASCII.upperHex[Int(byte & 0x0F)])
                }
            }
        }
        bytes.append(UInt8(ascii: "?"))
        bytes.append(UInt8(ascii: "="))
    }
}

/// The bytes gathered for the encoded word being built, with its encoded length so far.
private struct EncodedWordChunk {
    let encoding: EncodedWord.Encoding
    var budget: Int
    var start = 0
    var end = 0
    private var qLength = 0

    init(encoding: EncodedWord.Encoding, budget: Int) {
        self.encoding = encoding
        self.budget = budget
    }

    var isEmpty: Bool { start == end }
    var range: Range<Int> { start..<end }

    func fits(_ utf8: [UInt8], adding width: Int) -> Bool {
        let payload: Int
        switch encoding {
        case .b: payload = Base64.encodedLength(end + width - start)
        case .q: payload = qLength + utf8[end..<(end + width)].reduce(0) { $0 + EncodedWord.qCost($1) }
        }
        return EncodedWord.overhead + payload <= budget
    }

    /// Where the chunk could end just after a space, if it holds one past its first byte.
    private(set) var lastSpaceEnd: Int?

    mutating func add(_ utf8: [UInt8], _ width: Int) {
        if encoding == .q {
            qLength += utf8[end..<(end + width)].reduce(0) { $0 + EncodedWord.qCost($1) }
        }
        end += width
        if width == 1 && utf8[end - 1] == ASCII.space && end - start > 1 { lastSpaceEnd = end }
    }

    /// Starts the next word at `position`, carrying over the bytes from there to `end`.
    mutating func restart(at position: Int, budget: Int, _ utf8: [UInt8]) {
        start = position
        qLength = encoding == .q ? utf8[position..<end].reduce(0) { $0 + EncodedWord.qCost($1) } : 0
        lastSpaceEnd = nil
        self.budget = budget
    }
}
