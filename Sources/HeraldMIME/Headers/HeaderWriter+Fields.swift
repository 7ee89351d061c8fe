extension HeaderWriter {
    /// Writes an address-list field (From, To, Cc, Reply-To): `name <addr>, ...` folded after commas.
    mutating func mailboxList(_ name: String, _ mailboxes: [Mailbox]) {
        beginField(name)
        for (index, mailbox) in mailboxes.enumerated() {
            var address: [UInt8] = []
            address.reserveCapacity(mailbox.address.localPart.utf8.count + mailbox.address.domain.utf8.count + 4)
            if let displayName = mailbox.displayName {
                phrase(displayName)
                address.append(UInt8(ascii: "<"))
            }
            address.append(contentsOf: mailbox.address.localPart.utf8)
            address.append(UInt8(ascii: "@"))
            address.append(contentsOf: mailbox.address.domain.utf8)
            if mailbox.displayName != nil { address.append(UInt8(ascii: ">")) }
            if index < mailboxes.count - 1 { address.append(UInt8(ascii: ",")) }
            token(address)
        }
        endField()
    }

    /// Writes a display name (RFC 5322 `phrase`): atoms as they are, a quoted string when it holds
    /// specials, encoded words when it holds anything but printable ASCII.
    mutating func phrase(_ text: String) {
        switch PhraseForm(text) {
        case .atoms:
            for word in text.utf8.split(separator: ASCII.space) { token(word) }
        case .quoted:
            let quoted = ASCII.quoted(text.utf8)
            // A quoted string may fold at a single space (RFC 5322 3.2.4); unfolding restores it.
            let words = quoted.split(separator: ASCII.space, omittingEmptySubsequences: false)
            if quoted.count > Self.foldColumn - column - 1 && !words.contains(where: \.isEmpty) {
                for word in words { token(word) }
            } else {
                token(quoted)
            }
        case .encoded:
            encodedWords(text)
        }
    }

    /// Writes an unstructured field (Subject, Comments): plain words folded at spaces when the text
    /// is printable ASCII that survives unfolding unchanged, encoded words otherwise.
    mutating func unstructured(_ name: String, _ text: String) {
        beginField(name)
        if text.isEmpty {
            // An empty field body is legal; nothing to fold.
        } else if Self.isPlainText(text, firstColumn: name.utf8.count + 2) {
            for word in text.utf8.split(separator: ASCII.space) { token(word) }
        } else {
            encodedWords(text)
        }
        endField()
    }

    /// True when `text` can be written as folded ASCII words and read back unchanged: printable
    /// ASCII, single spaces between words, nothing that looks like an encoded word, every word
    /// short enough to keep lines within 78 columns.
    static func isPlainText(_ text: String, firstColumn: Int) -> Bool {
        var previous: UInt8 = ASCII.space
        var wordLength = 0
        var limit = foldColumn - firstColumn
        for byte in text.utf8 {
            guard ASCII.isPrintable(byte) else { return false }
            if byte == ASCII.space {
                if previous == ASCII.space { return false }
                wordLength = 0
                limit = foldColumn - 1
            } else {
                if previous == UInt8(ascii: "=") && byte == UInt8(ascii: "?") { return false }
                wordLength += 1
                if wordLength > limit { return false }
            }
            previous = byte
        }
        return previous != ASCII.space
    }
}

/// How a display name must be written to be read back exactly.
enum PhraseForm {
    case atoms, quoted, encoded

    init(_ text: String) {
        var needsQuotes = false
        var previous: UInt8 = ASCII.space
        for byte in text.utf8 {
            guard ASCII.isPrintable(byte) else {
                self = .encoded
                return
            }
            if previous == UInt8(ascii: "=") && byte == UInt8(ascii: "?") {
                // Some parsers decode encoded words even inside quotes; encode so it reads back literally.
                self = .encoded
                return
            }
            if byte == ASCII.space {
                if previous == ASCII.space { needsQuotes = true }
            } else if !ASCII.atext[Int(byte)] {
                needsQuotes = true
            }
            previous = byte
        }
        if text.utf8.count > 900 {
            self = .encoded
        } else {
            self = needsQuotes || previous == ASCII.space ? .quoted : .atoms
        }
    }
}
