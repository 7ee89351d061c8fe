import ArgumentParser
import HeraldAPI
import HeraldStore

/// `herald keys`: API keys from the command line.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key and print it, alone, on standard output (shown once).")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Option(help: "send, read or admin (repeatable).") var scope: [String] = []
        @Option(help: "A name to tell the key apart.") var name = "key"

        func validate() throws {
            _ = try scopes()
        }

        func scopes() throws -> Set<APIKeyScope> {
            let scopes = try Set(
                scope.map { text in
                    guard let value = APIKeyScope(rawValue: text) else { throw ValidationError("--scope must be send, read or admin") }
                    return value
                })
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope (send, read or admin)") }
            return scopes
        }

        func run() async throws {
            let scopes = try scopes()
            let key = try await AccountsCommand.withStore(databaseOptions, command: "keys create", existing: false) { store in
                try await APIKeyIssuer.create(name: name, scopes: scopes, in: store).key
            }
            print(key)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (their prefixes; keys are never stored).")
        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            let keys = try await AccountsCommand.withStore(databaseOptions, command: "keys list") { try await $0.apiKeys() }
            for key in keys {
                let scopes = key.scopes.map(\.rawValue).sorted().joined(separator: ",")
                print("\(key.id)\t\(key.prefix)…\t\(key.name)\t\(scopes)\t\(key.revokedAt == nil ? "active" : "revoked")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by id.")
        @OptionGroup var databaseOptions: DatabaseOptions
        @Argument(help: "The key's id (from herald keys list).") var id: Int64

        func run() async throws {
            try await AccountsCommand.withStore(databaseOptions, command: "keys revoke") { try await $0.revokeAPIKey(id: id) }
            print("revoked \(id)")
        }
    }
}
