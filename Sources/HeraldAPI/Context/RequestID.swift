/// New request ids: random (version 4) UUIDs in lower case, `3f1c9d2e-8b4a-4c6f-9e2d-7a5b1c3d4e6f`.
///
/// Foundation's `UUID()` opens and reads `/dev/urandom` on Linux, three system calls per request;
/// this takes the same 122 random bits from `SystemRandomNumberGenerator` (`getrandom`).
enum RequestID {
    private static let digits = Array("0123456789abcdef".utf8)

    static func generate() -> String {
        var random = SystemRandomNumberGenerator()
        let high: UInt64 = (random.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        let low: UInt64 = (random.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            for index in 0..<32 {
                if index == 8 || index == 12 || index == 16 || index == 20 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = index < 16 ? high : low
                let shift = UInt64(60 - 4 * (index % 16))
                buffer[position] = digits[Int((word >> shift) & 0xF)]
                position += 1
            }
            return position
        }
    }
}
