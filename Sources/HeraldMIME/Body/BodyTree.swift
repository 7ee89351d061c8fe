/// The MIME structure of a message body, built from an `Email` and written once.
///
/// `multipart/mixed` (attachments) > `multipart/related` (inline images) >
/// `multipart/alternative` (text and HTML); levels with a single child collapse into it.
indirect enum BodyTree {
    case leaf(BodyPart)
    case multipart(subtype: String, boundary: String, parts: [BodyTree])

    init(_ email: Email, using generator: inout some RandomNumberGenerator) {
        var texts: [BodyPart] = []
        if let text = email.text { texts.append(.text(text, subtype: "plain")) }
        if let html = email.html { texts.append(.text(html, subtype: "html")) }
        if texts.isEmpty { texts.append(.text("", subtype: "plain")) }

        var inline: [BodyPart] = []
        var attached: [BodyPart] = []
        for attachment in email.attachments {
            switch attachment.disposition {
            case .attachment: attached.append(.attachment(attachment))
            case .inline: inline.append(.attachment(attachment))
            }
        }

        var boundaries = BoundaryMaker(avoiding: texts + inline + attached)
        var tree = Self.group("alternative", texts.map(BodyTree.leaf), &boundaries, &generator)
        tree = Self.group("related", [tree] + inline.map(BodyTree.leaf), &boundaries, &generator)
        tree = Self.group("mixed", [tree] + attached.map(BodyTree.leaf), &boundaries, &generator)
        self = tree
    }

    private static func group(
        _ subtype: String, _ parts: [BodyTree], _ boundaries: inout BoundaryMaker,
        _ generator: inout some RandomNumberGenerator
    ) -> BodyTree {
        parts.count == 1 ? parts[0] : .multipart(subtype: subtype, boundary: boundaries.make(using: &generator), parts: parts)
    }

    /// Roughly the bytes the body will take, to size the output buffer once.
    var estimatedSize: Int {
        switch self {
        case .leaf(let part): return part.content.count + 256
        case .multipart(_, _, let parts): return parts.reduce(256) { $0 + $1.estimatedSize }
        }
    }

    /// Writes the part's headers, a blank line and its content. At the top level the headers
    /// join the message's own.
    func write(into writer: inout HeaderWriter, topLevel: Bool = false) {
        switch self {
        case .leaf(let part):
            part.writeHeaders(into: &writer)
            writer.append(ASCII.crlf)
            writer.append(part.content)
        case .multipart(let subtype, let boundary, let parts):
            writer.beginField("Content-Type")
            writer.token("multipart/\(subtype);".utf8)
            writer.token("boundary=\"\(boundary)\"".utf8)
            writer.endField()
            writer.append(ASCII.crlf)
            if topLevel {
                writer.append("This is a multi-part message in MIME format.\r\n".utf8)
            }
            for part in parts {
                writer.append("\r\n--\(boundary)\r\n".utf8)
                part.write(into: &writer)
            }
            writer.append("\r\n--\(boundary)--\r\n".utf8)
        }
    }
}

/// Makes boundaries that cannot collide with content: `=_` never occurs in quoted-printable or
/// base64 output, every boundary has the same length (so none is a prefix of another), and 7bit
/// parts are searched for the candidate before it is used.
struct BoundaryMaker {
    /// 64 `bchars` (RFC 2046 5.1.1), so each character takes exactly 6 random bits.
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.".utf8)
    private let plainContents: [[UInt8]]
    private var made: Set<String> = []

    init(avoiding parts: [BodyPart]) {
        plainContents = parts.filter { $0.transferEncoding == .sevenBit }.map(\.content)
    }

    mutating func make(using generator: inout some RandomNumberGenerator) -> String {
        while true {
            // 28 characters from three 64-bit draws (168 bits): one random call per 10 characters,
            // not one per character.
            var bytes: [UInt8] = Array("=_".utf8)
            var bits: UInt64 = 0
            for index in 0..<28 {
                if index % 10 == 0 { bits = generator.next() }
                bytes.append(Self.alphabet[Int(bits & 63)])
                bits >>= 6
            }
            let boundary = String(decoding: bytes, as: UTF8.self)
            if !made.contains(boundary) && !plainContents.contains(where: { $0.contains(subsequence: bytes) }) {
                made.insert(boundary)
                return boundary
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// True when `needle` occurs in the array.
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= count else { return false }
        var index = 0
        while index <= count - needle.count {
            if self[index] == first && self[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
