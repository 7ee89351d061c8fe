import Foundation
import HeraldTestSupport
import NIOConcurrencyHelpers
import Testing

@_spi(Delivery) @testable import HeraldStore

@Suite("Accounts and secrets")
struct AccountTests {
    static let qq = AccountSettings(
        name: "qq-main", email: "1905985427@qq.com", displayName: "系统通知", smtpHost: "smtp.qq.com", smtpPort: 465, security: .tls,
        perMinuteLimit: 20, routing: AccountRouting(fromDomains: ["qq.com"], tags: ["cn"]), provider: "qq")

    @Test(arguments: StoreBackendKind.allCases)
    func passwordsAreSealedAtRestAndOpenOnlyThroughTheDeliverySPI(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let password = "auth-code-abcdefgh-123"
            let account = try await store.createAccount(Self.qq, password: .set(password))
            #expect(account.hasPassword)
            #expect(account.name == "qq-main" && account.security == .tls && account.smtpPort == 465)
            #expect(account.health == .closed && account.failureCount == 0 && account.isActive)
            #expect(account.routing.fromDomains == ["qq.com"])
            #expect(!"\(account)".contains(password), "no record prints the password")
            let stored = try #require(
                try await rawRows(store, "SELECT secret FROM email_accounts WHERE id = ?", [.integer(account.id)]).first)
            let sealed = try #require(stored.bytes("secret"))
            #expect(!String(decoding: sealed, as: UTF8.self).contains(password))
            #expect(!sealed.starts(with: Array(password.utf8)))
            #expect(try await store.accountPassword(id: account.id) == password)
        }
    }

    /// The start-up check: a store whose key does not open the stored passwords says so, naming
    /// an account; with the right key, or with no password stored yet, it passes.
    @Test(arguments: StoreBackendKind.allCases)
    func checkSecretKeyTellsAWrongMasterKey(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            let other = try await database.openStore(secretKey: .generate())
            try await withRunningStore(other) { (other: any Store) async throws in
                try await other.checkSecretKey()  // nothing stored yet: nothing to tell
                _ = try await store.createAccount(Self.qq, password: .set("secret"))
                try await store.checkSecretKey()
                do {
                    try await other.checkSecretKey()
                    Issue.record("another key must be told")
                } catch let error as StoreError {
                    #expect(error.code == .secretUnreadable && error.message.contains("account \(Self.qq.name)'s"), "\(error.message)")
                }
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aWrongMasterKeyCannotOpenSecrets(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, database in
            let account = try await store.createAccount(Self.qq, password: .set("secret"))
            let other = try await database.openStore(secretKey: .generate())
            try await withRunningStore(other) { (other: any Store) async throws in
                do {
                    _ = try await other.accountPassword(id: account.id)
                    Issue.record("a different key must not open the secret")
                } catch let error as StoreError {
                    #expect(error.code == .secretUnreadable)
                    #expect(!error.message.contains("secret\""))
                }
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func updatesKeepClearOrReplaceThePassword(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let account = try await store.createAccount(Self.qq, password: .set("first"))
            var settings = Self.qq
            settings.smtpPort = 587
            settings.security = .starttls
            let kept = try await store.updateAccount(id: account.id, settings, password: .keep)
            #expect(kept.smtpPort == 587 && kept.security == .starttls)
            #expect(try await store.accountPassword(id: account.id) == "first")
            _ = try await store.updateAccount(id: account.id, settings, password: .set("second"))
            #expect(try await store.accountPassword(id: account.id) == "second")
            let cleared = try await store.updateAccount(id: account.id, settings, password: .clear)
            #expect(!cleared.hasPassword)
            #expect(try await store.accountPassword(id: account.id) == nil)
            #expect("\(PasswordChange.set("hunter2"))" == "set(<redacted>)")
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func namesAreUniqueAndHealthIsWritable(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let first = try await store.createAccount(Self.qq, password: .keep)
            do {
                _ = try await store.createAccount(Self.qq, password: .keep)
                Issue.record("a second account with the same name must be refused")
            } catch let error as StoreError {
                #expect(error.code == .alreadyExists)
                #expect(error.message.contains("qq-main"))
            }
            var backup = Self.qq
            backup.name = "backup"
            backup.priority = 20
            let second = try await store.createAccount(backup, password: .keep)
            #expect(try await store.accounts().filter { $0.channel != "sandbox" }.map(\.id) == [first.id, second.id], "by priority")
            #expect(try await store.account(named: "backup")?.id == second.id)

            let opened = try await store.updateAccountHealth(
                id: first.id,
                AccountHealthUpdate(
                    health: .open, failureCount: 3, openedUntil: Date().addingTimeInterval(60), lastErrorCode: "smtp.tls_mismatch",
                    lastError: "smtp.qq.com:465 expects TLS from the first byte"))
            #expect(opened.health == .open && opened.failureCount == 3 && opened.lastErrorCode == "smtp.tls_mismatch")
            let reread = try #require(try await store.account(id: first.id))
            #expect(reread == opened)
            _ = try await store.updateAccount(id: first.id, Self.qq, password: .keep)
            #expect(try await store.account(id: first.id)?.health == .open, "settings updates keep the breaker state")

            try await store.deleteAccount(id: second.id)
            #expect(try await store.account(id: second.id) == nil)
            await #expect(throws: StoreError.self) { try await store.deleteAccount(id: second.id) }
        }
    }

    @Test func secretKeysRoundTripAndRejectBadInput() throws {
        let key = SecretKey.generate()
        let again = try SecretKey(base64: key.base64)
        #expect(try again.open(try key.seal("pässwörd")) == "pässwörd")
        #expect(throws: StoreError.self) { try SecretKey(base64: "too short") }
        var sealed = try key.seal("x")
        sealed[sealed.count - 1] ^= 1
        #expect(throws: StoreError.self) { try key.open(sealed) }
    }

    @Test func keyFileIsCreatedOnceWithOwnerOnlyPermissions() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-key-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (created, wasCreated) = try SecretKey.loadOrCreate(at: path)
        #expect(wasCreated)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (loaded, createdAgain) = try SecretKey.loadOrCreate(at: path)
        #expect(!createdAgain)
        #expect(loaded.base64 == created.base64)
    }

    /// A key file that cannot be read as a key is an error, and is left as it was: a new key in
    /// its place would make every stored password unreadable. Before, a file that was not UTF-8
    /// was silently replaced.
    @Test func aKeyFileThatIsNotAKeyIsNeverReplaced() throws {
        for contents in [Data([0xFF, 0xFE, 0x00, 0x80]), Data("not a key\n".utf8)] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-key-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(FileManager.default.createFile(atPath: path, contents: contents))
            #expect(throws: StoreError.self) { try SecretKey.loadOrCreate(at: path) }
            #expect(FileManager.default.contents(atPath: path) == contents, "the file is untouched")
        }
    }

    /// Processes starting at once on a new database (serve and worker, say) agree on one key:
    /// threads released together all try to create the file.
    @Test func concurrentFirstStartsAgreeOnOneKey() throws {
        for _ in 0..<20 {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-key-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let results = NIOLockedValueBox<[(String, Bool)]>([])
            for _ in 0..<8 {
                done.enter()
                Thread {
                    start.wait()
                    if let (key, created) = try? SecretKey.loadOrCreate(at: path) {
                        results.withLockedValue { $0.append((key.base64, created)) }
                    }
                    done.leave()
                }.start()
            }
            for _ in 0..<8 { start.signal() }
            done.wait()
            let all = results.withLockedValue { $0 }
            #expect(all.count == 8 && Set(all.map(\.0)).count == 1, "one key for all")
            #expect(all.filter(\.1).count == 1, "created once")
        }
    }
}
