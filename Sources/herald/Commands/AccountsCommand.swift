import ArgumentParser
import Foundation
import HeraldAPI
import HeraldDelivery
import HeraldSMTP
import HeraldStore
import Logging

/// `herald accounts`: sender accounts from the command line (the API offers the same).
struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "List, add, enable, disable and remove sender accounts, and change their passwords.",
        subcommands: [List.self, Add.self, Password.self, Enable.self, Disable.self, Remove.self]
    )

    /// Runs `body` with the migrated store, turning store errors into one clear line and exit 1.
    /// `existing`: the command reads or changes what is already there, so a SQLite path with no
    /// database is a mistake (a typo, the wrong folder) to say, not a new database to make.
    /// `seals`: the command stores a password, so it needs the master key, and one that does not
    /// open the passwords already stored stops it (they would be sealed under two keys); the
    /// others never seal or open a secret and run without it (as `herald status` against
    /// PostgreSQL, say). `reseals`: the command sets a password again, the way to recover from a
    /// lost key, so a key that does not open the others is a warning, not a stop.
    static func withStore<T: Sendable>(
        _ options: DatabaseOptions, command: String, existing: Bool = true, seals: Bool = false, reseals: Bool = false,
        _ body: @Sendable (any Store) async throws -> T
    ) async throws -> T {
        let logger = Logger(label: "herald.accounts", factory: { _ in SwiftLogNoOpLogHandler() })
        if existing, case .sqlite(let path, _) = try options.location(), !FileManager.default.fileExists(atPath: path) {
            FileHandle.standardError.write(
                Data(
                    ("herald \(command): there is no database at \(path); give --database (or HERALD_DATABASE_URL), "
                        + "or run this where herald serve keeps it\n").utf8))
            throw ExitCode(1)
        }
        do {
            let key = seals ? try options.secretKey() : SecretKey.generate()
            let store = try await options.location().open(secretKey: key, logger: logger)
            return try await withRunningStore(store) { store in
                try await store.migrate()
                // A password sealed under another key than the workers' could never be opened.
                if seals && !reseals { try await store.checkSecretKey() }
                let result = try await body(store)
                if reseals {
                    do {
                        try await store.checkSecretKey()
                    } catch let error as StoreError {
                        FileHandle.standardError.write(Data("herald \(command): warning: \(error.message)\n".utf8))
                    }
                }
                return result
            }
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("herald \(command): \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch let error as DeliveryError {
            FileHandle.standardError.write(Data("herald \(command): \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func named(_ name: String, in store: any Store) async throws -> AccountRecord {
        guard let account = try await store.account(named: name) else { throw StoreError(.notFound, "there is no account named \(name)") }
        return account
    }

    /// A password (or authorisation code) read from standard input, without its final line break.
    static func passwordFromStandardInput() throws -> String {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .newlines)
        guard !text.isEmpty else { throw ConfigFile.Problem(description: "--password-stdin read an empty password") }
        return text
    }

    static func describe(_ account: AccountRecord) -> String {
        var health = account.health.rawValue
        if account.failureCount > 0 { health += ", \(account.failureCount) failures" }
        var line = "\(account.id)\t\(account.name)\t\(account.email)\t"
        line += account.channel == "sandbox" ? "sandbox" : "\(account.smtpHost):\(account.smtpPort) \(account.security.rawValue)"
        line += "\t\(account.isActive ? "active" : "disabled")\t\(health)"
        if let error = account.lastErrorCode, account.health != .closed || account.failureCount > 0 { line += "\t\(error)" }
        return line
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the accounts, with their health.")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Flag(help: "Print one JSON object per account.") var json = false

        func run() async throws {
            let accounts = try await AccountsCommand.withStore(databaseOptions, command: "accounts list") { try await $0.accounts() }
            for account in accounts {
                if json {
                    print(AccountView(account).jsonText)
                } else {
                    print(AccountsCommand.describe(account))
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an SMTP account.",
            discussion: """
                Example: printf %s "$AUTH_CODE" | herald accounts add qq-main --provider qq --email 1905985427@qq.com --password-stdin

                With --provider the host, port and security come from the preset; otherwise give --host \
                (and --port; security is inferred from it: 465 is tls, anything else starttls; or --security \
                alone, and the port follows: tls 465, otherwise 587). Security that cannot work on port 25, 465 \
                or 587 is refused.
                """)
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "A unique name for the account.") var name: String
        @Option(help: "The account's address (the envelope sender, and the login unless --username).") var email: String
        @Option(help: "A preset: \((Array(ProviderPreset.all.keys) + ["ses"]).sorted().joined(separator: ", ")).") var provider: String?
        @Option(help: "The AWS region, for --provider ses.") var region: String?
        @Option(help: "The SMTP server.") var host: String?
        @Option(parsing: .unconditional, help: "The SMTP port.") var port: Int?
        @Option(help: "tls, starttls or none (default: from the port).") var security: String?
        @Option(help: "The login, when it is not the email address.") var username: String?
        @Flag(help: "Read the password (or authorisation code) from standard input.") var passwordStdin = false
        @Option(help: "The display name for the From header.") var displayName: String?
        @Option(parsing: .unconditional, help: "Lower is tried first.") var priority = 10
        @Option(parsing: .unconditional, help: "The share of traffic among accounts of the same priority.") var weight = 1
        @Option(parsing: .unconditional, help: "At most this many messages a minute.") var perMinute: Int?
        @Option(parsing: .unconditional, help: "At most this many messages a day (UTC).") var perDay: Int?
        @Option(help: "Route messages from this sender domain here (repeatable).") var fromDomain: [String] = []
        @Option(help: "Route messages with this tag here (repeatable).") var tag: [String] = []
        @Option(name: .customLong("ca-file"), help: "A PEM file of extra trusted CA certificates.") var caFile: String?
        @Flag(help: "Do not verify the server's certificate (testing only).") var insecure = false

        /// Refuses contradictory flags while parsing, so the message comes with this command's usage.
        func validate() throws {
            _ = try makeSettings()
        }

        func run() async throws {
            let settings = try makeSettings()
            let password: PasswordChange = passwordStdin ? .set(try AccountsCommand.passwordFromStandardInput()) : .keep
            let created = try await AccountsCommand.withStore(databaseOptions, command: "accounts add", existing: false, seals: true) {
                [settings] store in
                try await store.createAccount(settings, password: password)
            }
            print(AccountsCommand.describe(created))
            if let note = provider.flatMap({ ProviderPreset.all[$0.lowercased()]?.note }) { print("note: \(note)") }
        }

        func makeSettings() throws -> AccountSettings {
            var requested: AccountSecurity?
            if let security {
                guard let value = AccountSecurity(rawValue: security.lowercased()) else {
                    throw ValidationError("--security must be tls, starttls or none")
                }
                requested = value
            }
            if let problem = AccountSettings.displayNameProblem(displayName) { throw ValidationError("--display-name \(problem)") }
            var settings: AccountSettings
            do {
                settings = try AccountSettings.forNewAccount(
                    provider: provider, region: region, host: host, port: port, security: requested, name: name, email: email,
                    displayName: displayName)
            } catch {
                if error.code == "delivery.host_required" { throw ValidationError("give --host (and --port), or --provider") }
                throw ValidationError(error.message)
            }
            if let username { settings.username = username }
            if let caFile {
                let pem = try String(contentsOfFile: caFile, encoding: .utf8)
                do {
                    try SMTPClientConfiguration.checkTrustRoots(pem)
                } catch {
                    throw ValidationError("--ca-file \(caFile) holds no readable PEM certificate")
                }
                settings.tlsCAPEM = pem
            }
            settings.tlsVerify = !insecure
            settings.priority = priority
            settings.weight = max(1, weight)
            settings.perMinuteLimit = perMinute
            settings.perDayLimit = perDay
            settings.routing = AccountRouting(fromDomains: fromDomain, tags: tag)
            if let problem = settings.routing.problems.first {
                throw ValidationError("\(problem.field.hasPrefix("tags") ? "--tag" : "--from-domain") \(problem.reason)")
            }
            return settings
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set or remove an account's password (a rotated authorisation code, say).",
            discussion: """
                Example: printf %s "$NEW_AUTH_CODE" | herald accounts password qq-main --password-stdin

                Running workers use the new password for their next message. If failed logins opened the \
                account's breaker, run herald accounts enable NAME afterwards.
                """)
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The account's name.") var name: String
        @Flag(help: "Read the new password from standard input.") var passwordStdin = false
        @Flag(help: "Remove the password: the account then sends without AUTH.") var remove = false

        func validate() throws {
            guard passwordStdin != remove else { throw ValidationError("give either --password-stdin or --remove") }
        }

        func run() async throws {
            let change: PasswordChange = remove ? .clear : .set(try AccountsCommand.passwordFromStandardInput())
            let account = try await AccountsCommand.withStore(databaseOptions, command: "accounts password", seals: true, reseals: true) {
                store in
                let account = try await AccountsCommand.named(name, in: store)
                return try await store.updateAccount(id: account.id, account.settings, password: change)
            }
            print(AccountsCommand.describe(account) + (account.hasPassword ? "\tpassword set" : "\tno password"))
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable an account and close its breaker (after fixing what opened it).")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The account's name.") var name: String

        func run() async throws {
            let account = try await AccountsCommand.withStore(databaseOptions, command: "accounts enable") { store in
                try await store.enableAccount(id: try await AccountsCommand.named(name, in: store).id)
            }
            print(AccountsCommand.describe(account))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take an account out of routing until it is enabled.")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The account's name.") var name: String

        func run() async throws {
            let account = try await AccountsCommand.withStore(databaseOptions, command: "accounts disable") { store in
                try await store.disableAccount(id: try await AccountsCommand.named(name, in: store).id)
            }
            print(AccountsCommand.describe(account))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an account; its messages keep their history.")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The account's name.") var name: String

        func run() async throws {
            try await AccountsCommand.withStore(databaseOptions, command: "accounts remove") { store in
                try await store.deleteAccount(id: try await AccountsCommand.named(name, in: store).id)
            }
            print("removed \(name)")
        }
    }
}
