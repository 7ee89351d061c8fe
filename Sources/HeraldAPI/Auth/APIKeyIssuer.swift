import Crypto
import Foundation
import HeraldStore

/// Makes API keys and recognises them. A key is `hk_` and 43 characters of base64url (32 random
/// bytes); only its SHA-256 is stored, with its first characters as a prefix for people to tell keys apart.
public enum APIKeyIssuer {
    /// Creates a key with `scopes`, stores its hash, and returns the key (shown once) with its record.
    public static func create(
        name: String, scopes: Set<APIKeyScope>, in store: any Store
    ) async throws -> (key: String, record: APIKeyRecord) {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        let key =
            "hk_"
            + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let record = try await store.createAPIKey(name: name, prefix: String(key.prefix(10)), hash: hash(key), scopes: scopes)
        return (key, record)
    }

    /// The stored form of a key.
    public static func hash(_ key: String) -> String {
        hex(SHA256.hash(data: Data(key.utf8)))
    }

    /// Lower-case hex of a digest (`String(format:)` per byte costs more than the hash itself).
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
