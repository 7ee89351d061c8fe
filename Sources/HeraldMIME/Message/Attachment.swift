/// A file carried by a message: an attachment, or an inline image referenced from HTML by `cid:`.
public struct Attachment: Hashable, Sendable {
    /// How the receiving client should show the part.
    public enum Disposition: Hashable, Sendable {
        /// A separate file (`Content-Disposition: attachment`), in `multipart/mixed`.
        case attachment
        /// Shown in the HTML body, which refers to it as `cid:<contentID>` (`multipart/related`).
        case inline(contentID: String)
    }

    /// The file name shown to the recipient; any Unicode (written per RFC 2231).
    public let filename: String
    /// The media type, `type/subtype`; guessed from the file name when not given.
    public let contentType: String
    /// The file's bytes.
    public let data: [UInt8]
    /// Attachment or inline.
    public let disposition: Disposition

    /// Validates the name, media type and Content-ID; throws `.invalidAttachment` or `.headerInjection`.
    public init(
        filename: String, contentType: String? = nil, data: [UInt8], disposition: Disposition = .attachment
    )
        throws(MIMEError)
    {
        try filename.checkHeaderSafe(field: "an attachment's file name")
        let name = filename.trimmingWhitespace()
        guard !name.isEmpty else { throw MIMEError(.invalidAttachment, "an attachment needs a file name") }
        let type = (contentType?.trimmingWhitespace()).flatMap { $0.isEmpty ? nil : $0 } ?? MediaType.guess(for: name)
        try type.checkHeaderSafe(field: "an attachment's content type")
        guard MediaType.isValid(type) else {
            throw MIMEError(.invalidAttachment, "'\(type.prefix(80))' is not a media type of the form type/subtype")
        }
        if case .inline(let contentID) = disposition {
            try contentID.checkHeaderSafe(field: "a Content-ID")
            let valid =
                !contentID.isEmpty
                && contentID.utf8.allSatisfy {
                    ASCII.isPrintable($0) && $0 != ASCII.space && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">")
                }
            guard valid else {
                throw MIMEError(.invalidAttachment, "a Content-ID must be printable ASCII without spaces or angle brackets")
            }
        }
        self.filename = name
        self.contentType = type.lowercased()
        self.data = data
        self.disposition = disposition
    }
}

/// Media types (RFC 2045 5.1) for attachments.
enum MediaType {
    private static let byExtension: [String: String] = [
        "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip", "json": "application/json",
        "xml": "application/xml", "csv": "text/csv", "txt": "text/plain", "html": "text/html", "htm": "text/html",
        "ics": "text/calendar", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "webp": "image/webp", "svg": "image/svg+xml", "doc": "application/msword",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls": "application/vnd.ms-excel",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt": "application/vnd.ms-powerpoint",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "mp3": "audio/mpeg", "mp4": "video/mp4", "eml": "message/rfc822",
    ]

    static func guess(for filename: String) -> String {
        guard let dot = filename.lastIndex(of: ".") else { return "application/octet-stream" }
        return byExtension[filename[filename.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    /// RFC 2045 `type "/" subtype`, both tokens.
    static func isValid(_ type: String) -> Bool {
        let parts = type.split(separator: "/", omittingEmptySubsequences: false)
        let tspecials = Set("()<>@,;:\\\"/[]?=".utf8)
        return parts.count == 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.utf8.allSatisfy { $0 > 32 && $0 < 127 && !tspecials.contains($0) }
            }
    }
}
