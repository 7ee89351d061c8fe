import Crypto
import Foundation

/// The master key that seals account secrets at rest (AES-256-GCM).
///
/// Configured as 32 random bytes in base64 (`HERALD_SECRET_KEY`); when none is configured,
/// `loadOrCreate(at:)` keeps one in a file (mode 0600) beside the database. Losing the key makes
/// the stored passwords unreadable, not readable by anyone else.
public struct SecretKey: Sendable {
    private let key: SymmetricKey
    /// Bound into every seal, so a sealed value cannot be passed off as some other kind of data.
    private static let context = Data("herald.account-secret.v1".utf8)

    /// A fresh random key.
    public static func generate() -> SecretKey { SecretKey(key: SymmetricKey(size: .bits256)) }

    private init(key: SymmetricKey) { self.key = key }

    /// A key from its base64 form; throws `configuration` unless it is 32 bytes.
    public init(base64: String) throws {
        guard let bytes = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw StoreError(.configuration, "the secret key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")
        }
        self.key = SymmetricKey(data: bytes)
    }

    /// The key in base64, for writing to a key file.
    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600) when it does not
    /// exist. Returns the key and whether it was created.
    public static func loadOrCreate(at path: String) throws -> (key: SecretKey, created: Bool) {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            return (try SecretKey(base64: text), false)
        }
        let key = SecretKey.generate()
        let created = FileManager.default.createFile(
            atPath: path, contents: Data((key.base64 + "\n").utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw StoreError(.configuration, "could not create the secret key file \(path)") }
        return (key, true)
    }

    /// Seals `plaintext`: a random nonce, the ciphertext and the tag, in one value.
    func seal(_ plaintext: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Self.context)
        guard let combined = box.combined else { throw StoreError(.database, "could not seal a secret") }
        return Array(combined)
    }

    /// Opens a value `seal` made; throws `secretUnreadable` under another key or if altered.
    func open(_ sealed: [UInt8]) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(decoding: try AES.GCM.open(box, using: key, authenticating: Self.context), as: UTF8.self)
        } catch {
            throw StoreError(.secretUnreadable, "a stored secret could not be opened with the configured secret key")
        }
    }
}
