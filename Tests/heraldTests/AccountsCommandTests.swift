import Foundation
@_spi(Delivery) import HeraldStore
import HeraldTestSupport
import Testing

/// `herald accounts` as an operator uses it: no SQL to add an account or to bring one back.
@Suite struct AccountsCommandTests {
    /// `herald` with the test stores' master key, so it opens the passwords they sealed.
    static func herald(_ arguments: [String], stdin: String? = nil) throws -> ComposeCommandTests.Run {
        try ComposeCommandTests.herald(arguments, stdin: stdin, environment: ["HERALD_SECRET_KEY": TestDatabase.secretKey.base64])
    }

    /// A negative priority (tried before the default 10 and before 0) is a value, not an option.
    @Test func addTakesANegativePriority() async throws {
        try await withTestStore(.sqlite) { store, database in
            let add = try Self.herald([
                "accounts", "add", "first", "--email", "first@example.com", "--host", "127.0.0.1", "--port", "2525", "--priority", "-1",
                "--database", database.location,
            ])
            #expect(add.status == 0, "\(add.stderr)")
            let account = try #require(try await store.account(named: "first"))
            #expect(account.priority == -1 && account.smtpPort == 2525)
        }
    }

    /// What would fail every send is refused when the account is added: a display name that is
    /// two lines (it goes into the From header) and a CA file that holds no certificate.
    @Test func addRefusesATwoLineDisplayNameAndACAFileWithoutACertificate() async throws {
        try await withTestStore(.sqlite) { store, database in
            let base = ["accounts", "add", "shop", "--email", "shop@example.com", "--host", "127.0.0.1", "--database", database.location]
            let twoLines = try Self.herald(base + ["--display-name", "Shop\r\nBcc: x@example.net"])
            #expect(twoLines.status == 64 && twoLines.stderr.contains("--display-name must be one line"), "\(twoLines.stderr)")
            let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("herald-ca-\(UUID().uuidString).pem")
            try "not a certificate".write(to: garbage, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: garbage) }
            let badCA = try Self.herald(base + ["--ca-file", garbage.path])
            #expect(badCA.status == 64 && badCA.stderr.contains("holds no readable PEM certificate"), "\(badCA.stderr)")
            let badDomain = try Self.herald(base + ["--from-domain", "shop example"])
            #expect(badDomain.status == 64 && badDomain.stderr.contains("--from-domain must be a domain"), "\(badDomain.stderr)")
            #expect(try await store.account(named: "shop") == nil, "nothing was stored")
            let ca = FileManager.default.temporaryDirectory.appendingPathComponent("herald-ca-\(UUID().uuidString).pem")
            try TestCertificates().caPEM.write(to: ca, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: ca) }
            let good = try Self.herald(base + ["--ca-file", ca.path, "--display-name", "Shop"])
            #expect(good.status == 0, "\(good.stderr)")
            #expect(try await store.account(named: "shop")?.tlsCAPEM?.contains("BEGIN CERTIFICATE") == true)
        }
    }

    /// After a lost master key, the way back is to set each password again under the new key:
    /// `accounts password` is not stopped by the check, and says what is still to be done.
    @Test func aLostKeyIsRecoveredBySettingEachPasswordAgain() async throws {
        try await withTestStore(.sqlite) { store, database in
            for name in ["first", "second"] {
                _ = try await store.createAccount(
                    AccountSettings(name: name, email: "\(name)@example.com", smtpHost: "127.0.0.1", smtpPort: 2525, security: .none),
                    password: .set("old-\(name)"))
            }
            let newKey = SecretKey.generate()
            func herald(_ arguments: [String]) throws -> ComposeCommandTests.Run {
                try ComposeCommandTests.herald(
                    arguments + ["--database", database.location], stdin: "new-code\n", environment: ["HERALD_SECRET_KEY": newKey.base64])
            }
            let add = try herald(["accounts", "add", "third", "--email", "t@example.com", "--host", "127.0.0.1", "--password-stdin"])
            #expect(add.status == 1 && add.stderr.contains("does not open 2 of the 2 passwords"), "\(add.stderr)")
            let first = try herald(["accounts", "password", "first", "--password-stdin"])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(
                first.stderr.contains("warning: ")
                    && first.stderr.contains("1 of the 2 passwords stored in this database, such as account second's"),
                "\(first.stderr)")
            let second = try herald(["accounts", "password", "second", "--password-stdin"])
            #expect(second.status == 0 && second.stderr.isEmpty, "all set again: \(second.stderr)")
            let readable = try await database.openStore(secretKey: newKey)
            try await withRunningStore(readable) { (readable: any Store) async throws in
                try await readable.checkSecretKey()
                #expect(try await readable.accountPassword(id: try #require(try await readable.account(named: "second")).id) == "new-code")
            }
        }
    }

    @Test func addFromAPresetListAndEnableAfterTheBreakerOpened() async throws {
        try await withTestStore(.sqlite) { store, database in
            let code = "qq-auth-code-5f1e"
            let add = try Self.herald(
                [
                    "accounts", "add", "qq-main", "--provider", "qq", "--email", "1905985427@qq.com", "--password-stdin", "--database",
                    database.location,
                ],
                stdin: code + "\n")
            #expect(add.status == 0, "\(add.stderr)")
            #expect(add.stdout.contains("smtp.qq.com:465 tls") && add.stdout.contains("授权码"))
            let account = try #require(try await store.account(named: "qq-main"))
            #expect(account.hasPassword && account.provider == "qq")
            #expect(try await store.accountPassword(id: account.id) == code, "stored sealed, without the newline")

            _ = try await store.changeAccountHealth(id: account.id) { current, now in
                AccountHealthUpdate(
                    health: .open, failureCount: 4, openedUntil: now.addingTimeInterval(600), breakerTrips: 2,
                    lastErrorCode: "smtp.auth_failed",
                    lastError: "535")
            }
            let list = try Self.herald(["accounts", "list", "--json", "--database", database.location])
            #expect(list.status == 0)
            #expect(list.stdout.contains(#""health":"open""#) && list.stdout.contains(#""last_error_code":"smtp.auth_failed""#))
            #expect(!(add.stdout + add.stderr + list.stdout + list.stderr).contains(code), "the password is never printed")

            let enable = try Self.herald(["accounts", "enable", "qq-main", "--database", database.location])
            #expect(enable.status == 0, "\(enable.stderr)")
            let enabled = try #require(try await store.account(id: account.id))
            #expect(enabled.health == .closed && enabled.failureCount == 0 && enabled.openedUntil == nil && enabled.isActive)

            // A rotated authorisation code, then no password at all; never printed.
            let rotated = try Self.herald(
                ["accounts", "password", "qq-main", "--password-stdin", "--database", database.location], stdin: "new-code-77\n")
            #expect(rotated.status == 0 && rotated.stdout.contains("password set"), "\(rotated.stderr)")
            #expect(try await store.accountPassword(id: account.id) == "new-code-77")
            let removed = try Self.herald(["accounts", "password", "qq-main", "--remove", "--database", database.location])
            #expect(removed.status == 0 && removed.stdout.contains("no password"), "\(removed.stderr)")
            #expect(try await store.accountPassword(id: account.id) == nil)
            #expect(!(rotated.stdout + rotated.stderr).contains("new-code-77"))
            let neither = try Self.herald(["accounts", "password", "qq-main", "--database", database.location])
            #expect(neither.status == 64 && neither.stderr.contains("--password-stdin or --remove"))

            let missing = try Self.herald(["accounts", "enable", "nope", "--database", database.location])
            #expect(missing.status == 1 && missing.stderr.contains("there is no account named nope"))
            let noHost = try Self.herald(["accounts", "add", "x", "--email", "x@example.com", "--database", database.location])
            #expect(noHost.status == 64 && noHost.stderr.contains("--host"))
            #expect(noHost.stderr.contains("Usage: herald accounts add"), "the usage of this command, not herald's: \(noHost.stderr)")
        }
    }
}
