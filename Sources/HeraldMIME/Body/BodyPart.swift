/// One leaf of the body: a text or an attachment, already transfer-encoded.
struct BodyPart {
    /// RFC 2045 section 6 encodings Herald writes. 8bit is never used, so any server takes the
    /// message without 8BITMIME.
    enum TransferEncoding: String {
        case sevenBit = "7bit"
        case quotedPrintable = "quoted-printable"
        case base64
    }

    let contentType: String
    /// `name` parameter for Content-Type and `filename` for Content-Disposition.
    let filename: String?
    let disposition: String?
    let contentID: String?
    let transferEncoding: TransferEncoding
    /// The encoded content; ends with CRLF unless empty.
    let content: [UInt8]

    /// A text body in UTF-8, in the shortest encoding that keeps it 7-bit and within line limits.
    static func text(_ text: String, subtype: String) -> BodyPart {
        let normalized = crlfNormalized(text)
        let encoding = chooseEncoding(normalized)
        var content: [UInt8] = []
        switch encoding {
        case .sevenBit:
            content = normalized
            if let last = content.last, last != ASCII.lf { content.append(contentsOf: ASCII.crlf) }
        case .quotedPrintable:
            QuotedPrintable.encode(normalized, into: &content)
        case .base64:
            Base64.encode(normalized, into: &content, lineLength: 76)
        }
        return BodyPart(
            contentType: "text/\(subtype); charset=utf-8", filename: nil, disposition: nil, contentID: nil,
            transferEncoding: encoding, content: content)
    }

    /// An attachment or inline image, always base64.
    static func attachment(_ attachment: Attachment) -> BodyPart {
        var content: [UInt8] = []
        Base64.encode(attachment.data, into: &content, lineLength: 76)
        let contentID: String?
        let disposition: String
        switch attachment.disposition {
        case .attachment:
            disposition = "attachment"
            contentID = nil
        case .inline(let id):
            disposition = "inline"
            contentID = "<\(id)>"
        }
        return BodyPart(
            contentType: attachment.contentType, filename: attachment.filename, disposition: disposition,
            contentID: contentID, transferEncoding: .base64, content: content)
    }

    func writeHeaders(into writer: inout HeaderWriter) {
        Self.writeField("Content-Type", contentType, "name", filename, into: &writer)
        writer.field("Content-Transfer-Encoding", transferEncoding.rawValue)
        if let disposition { Self.writeField("Content-Disposition", disposition, "filename", filename, into: &writer) }
        if let contentID { writer.field("Content-ID", contentID) }
    }

    /// `Name: value` or `Name: value; parameter="file name"`.
    private static func writeField(
        _ name: String, _ value: String, _ parameter: String, _ filename: String?, into writer: inout HeaderWriter
    ) {
        writer.beginField(name)
        if let filename {
            writer.token("\(value);".utf8)
            writer.parameter(parameter, filename)
        } else {
            writer.token(value.utf8)
        }
        writer.endField()
    }

    /// 7bit when every line is printable ASCII of at most 998 octets; otherwise quoted-printable
    /// or base64, whichever is shorter.
    static func chooseEncoding(_ bytes: [UInt8]) -> TransferEncoding {
        var lineLength = 0
        var sevenBit = true
        for byte in bytes {
            if byte == ASCII.lf {
                lineLength = 0
            } else if byte != ASCII.cr {
                lineLength += 1
                if lineLength > 998 || !(ASCII.isPrintable(byte) || byte == ASCII.tab) {
                    sevenBit = false
                    break
                }
            }
        }
        if sevenBit { return .sevenBit }
        return QuotedPrintable.estimatedLength(bytes) <= Base64.encodedLength(bytes.count) * 77 / 76
            ? .quotedPrintable : .base64
    }

    /// The text's UTF-8 with every line break (CR, LF or CRLF) made CRLF.
    static func crlfNormalized(_ text: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + text.utf8.count / 32)
        var previousWasCR = false
        for byte in text.utf8 {
            if byte == ASCII.lf {
                if !previousWasCR { output.append(ASCII.cr) }
                output.append(ASCII.lf)
                previousWasCR = false
            } else {
                if previousWasCR { output.append(ASCII.lf) }
                output.append(byte)
                previousWasCR = byte == ASCII.cr
            }
        }
        if previousWasCR { output.append(ASCII.lf) }
        return output
    }
}
