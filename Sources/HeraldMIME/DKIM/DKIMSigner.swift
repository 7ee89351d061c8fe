import Crypto
import CryptoExtras
import Foundation

/// Signs composed messages with DKIM (RFC 6376), relaxed/relaxed, with `rsa-sha256` or
/// `ed25519-sha256` (RFC 8463). From is oversigned, so no second From can be added in transit.
public struct DKIMSigner: Sendable {
    /// The signing algorithm, from the key's type.
    public enum Algorithm: String, Sendable {
        case rsaSHA256 = "rsa-sha256"
        case ed25519SHA256 = "ed25519-sha256"
    }

    private enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    /// Headers signed when present, in this order; `from` is always listed once more than it occurs.
    public static let defaultSignedHeaders = [
        "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version", "content-type",
        "content-transfer-encoding", "in-reply-to", "references", "list-id", "list-unsubscribe",
        "list-unsubscribe-post",
    ]

    /// The signing domain (`d=`), in ASCII.
    public let domain: String
    /// The selector (`s=`): the key's DNS record is at `selector._domainkey.domain`.
    public let selector: String
    /// Lower-case names of the headers to sign when present.
    public var signedHeaders: [String]
    private let key: Key

    /// The algorithm the key implies.
    public var algorithm: Algorithm {
        switch key {
        case .rsa: return .rsaSHA256
        case .ed25519: return .ed25519SHA256
        }
    }

    /// Loads a PEM private key: RSA (PKCS#1 or PKCS#8, at least 1024 bits) or Ed25519 (PKCS#8).
    ///
    /// Throws `.dkim` when the domain or selector is malformed or the key cannot be read; the
    /// message never includes key material.
    public init(domain: String, selector: String, privateKeyPEM: String) throws(MIMEError) {
        let key: Key
        if let ed25519 = try? Curve25519.Signing.PrivateKey(pemRepresentation: privateKeyPEM) {
            key = .ed25519(ed25519)
        } else if let rsa = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: privateKeyPEM) {
            key = .rsa(rsa)
        } else {
            throw MIMEError(.dkim, "the DKIM key is not an unencrypted PEM RSA (1024 bits or more) or Ed25519 private key")
        }
        try self.init(domain: domain, selector: selector, key: key)
    }

    /// Signs with an RSA key.
    public init(domain: String, selector: String, rsaKey: _RSA.Signing.PrivateKey) throws(MIMEError) {
        try self.init(domain: domain, selector: selector, key: .rsa(rsaKey))
    }

    /// Signs with an Ed25519 key.
    public init(domain: String, selector: String, ed25519Key: Curve25519.Signing.PrivateKey) throws(MIMEError) {
        try self.init(domain: domain, selector: selector, key: .ed25519(ed25519Key))
    }

    private init(domain: String, selector: String, key: Key) throws(MIMEError) {
        guard let ascii = try? EmailAddress("dkim@" + domain).domain, !ascii.hasPrefix("[") else {
            throw MIMEError(.dkim, "the DKIM domain '\(domain.prefix(80))' is not a valid domain name")
        }
        let selectorValid =
            !selector.isEmpty
            && selector.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.utf8.allSatisfy { ASCII.isAlphaNumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
            }
        guard selectorValid else {
            throw MIMEError(.dkim, "the DKIM selector '\(selector.prefix(80))' must be letters, digits, hyphens and dots")
        }
        self.domain = ascii
        self.selector = selector
        self.key = key
        self.signedHeaders = Self.defaultSignedHeaders
    }

    /// The TXT record to publish at `selector._domainkey.domain`.
    public var dnsRecord: String {
        switch key {
        case .rsa(let key): return "v=DKIM1; k=rsa; p=\(key.publicKey.derRepresentation.base64EncodedString())"
        case .ed25519(let key): return "v=DKIM1; k=ed25519; p=\(key.publicKey.rawRepresentation.base64EncodedString())"
        }
    }

    /// Returns `message` with a DKIM-Signature field prepended, signed over these exact bytes.
    public func sign(_ message: [UInt8], at date: Date = Date()) throws(MIMEError) -> [UInt8] {
        let block = RawHeaderBlock(message)
        let bodyHash = Data(SHA256.hash(data: DKIMCanonicalization.relaxedBody(message[block.bodyStart...])))

        // RFC 6376 5.4.2: for a name listed n times, sign its last n instances, bottom up.
        var names: [String] = []
        var signingInput: [UInt8] = []
        for name in signedHeaders {
            let instances = block.fields.filter { $0.name == name }
            for instance in instances.reversed() {
                names.append(name)
                DKIMCanonicalization.relaxedHeader(message[instance.range], into: &signingInput)
            }
            if name == "from" { names.append(name) }  // Oversigned: an added From breaks the signature.
        }

        let signatureLength = Base64.encodedLength(expectedSignatureBytes)
        var writer = HeaderWriter(capacity: 512)
        writer.beginField("DKIM-Signature")
        let tags = [
            "v=1;", "a=\(algorithm.rawValue);", "c=relaxed/relaxed;", "d=\(domain);", "s=\(selector);",
            "t=\(Int64(date.timeIntervalSince1970));",
        ]
        for tag in tags { writer.token(tag.utf8) }
        for (index, name) in names.enumerated() {
            writer.token(((index == 0 ? "h=" : "") + name + (index == names.count - 1 ? ";" : ":")).utf8)
        }
        writer.token("bh=\(bodyHash.base64EncodedString());".utf8)
        // The value of b= is written as placeholders of its known length, so the folding is final
        // before signing; the signature then replaces them byte for byte.
        writer.token("b=".utf8)
        let valueStart = writer.bytes.count
        var remaining = signatureLength
        var placeholderRanges: [Range<Int>] = []
        var first = true
        while remaining > 0 {
            let chunk = min(remaining, first ? max(HeaderWriter.foldColumn - writer.column, 0) : 72)
            if chunk > 0 {
                if !first {
                    writer.token(repeatElement(UInt8(ascii: "A"), count: chunk))
                } else {
                    writer.append(repeatElement(UInt8(ascii: "A"), count: chunk))
                }
                placeholderRanges.append((writer.bytes.count - chunk)..<writer.bytes.count)
                remaining -= chunk
            }
            first = false
        }
        writer.endField()
        var header = writer.bytes
        DKIMCanonicalization.relaxedHeader(header[..<valueStart], into: &signingInput, withCRLF: false)

        let signature = try sign(signingInput)
        let encoded = Array(signature.base64EncodedString().utf8)
        guard encoded.count == signatureLength else {
            throw MIMEError(.dkim, "the DKIM signature has an unexpected length")
        }
        var offset = 0
        for range in placeholderRanges {
            header.replaceSubrange(range, with: encoded[offset..<(offset + range.count)])
            offset += range.count
        }
        return header + message
    }

    private var expectedSignatureBytes: Int {
        switch key {
        case .rsa(let key): return (key.keySizeInBits + 7) / 8
        case .ed25519: return 64
        }
    }

    private func sign(_ input: [UInt8]) throws(MIMEError) -> Data {
        do {
            switch key {
            case .rsa(let key):
                return try key.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation
            case .ed25519(let key):
                // RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the canonicalized input.
                return try key.signature(for: Data(SHA256.hash(data: input)))
            }
        } catch {
            throw MIMEError(.dkim, "DKIM signing failed")
        }
    }
}
