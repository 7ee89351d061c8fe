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
    ///
    /// An existing file is never replaced, even one that cannot be read: a new key would make
    /// every stored password unreadable. The file is created exclusively (`O_EXCL`), so that two
    /// processes starting at once on a new database agree on one key, and it is flushed to disk,
    /// with its folder, before any password is sealed with it.
    public static func loadOrCreate(at path: String) throws -> (key: SecretKey, created: Bool) {
        let key = SecretKey.generate()
        let descriptor = openFile(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            guard errno == EEXIST else { throw keyFileError("could not create", path) }
            return (try read(at: path), false)
        }
        let bytes = Array((key.base64 + "\n").utf8)
        let written = bytes.withUnsafeBytes { writeFile(descriptor, $0) }
        let synced = written == bytes.count && fsync(descriptor) == 0
        let failure = synced ? nil : keyFileError("could not write", path)
        close(descriptor)
        if let failure {
            unlink(path)
            throw failure
        }
        let parent = (path as NSString).deletingLastPathComponent
        let folder = openFile(parent.isEmpty ? "." : parent, O_RDONLY | O_CLOEXEC, 0)
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
        return (key, true)
    }

    /// The key in an existing key file. Another process may have created it an instant ago and
    /// not yet written it: an empty file is read again for up to a second.
    private static func read(at path: String) throws -> SecretKey {
        let deadline = ContinuousClock.now + .seconds(1)
        while true {
            guard let data = FileManager.default.contents(atPath: path) else { throw keyFileError("could not read", path) }
            if !data.isEmpty || ContinuousClock.now >= deadline {
                do {
                    return try SecretKey(base64: String(decoding: data, as: UTF8.self))
                } catch {
                    throw StoreError(
                        .configuration,
                        "the secret key file \(path) does not hold a key (32 bytes in base64); it was left as it is, since "
                            + "a new key would make the stored passwords unreadable")
                }
            }
            usleep(10_000)
        }
    }

    private static func keyFileError(_ action: String, _ path: String) -> StoreError {
        StoreError(.configuration, "\(action) the secret key file \(path): \(String(cString: strerror(errno)))")
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

// The C calls under names the struct's own `open(_:)` does not shadow.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func writeFile(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int { write(descriptor, bytes.baseAddress, bytes.count) }
