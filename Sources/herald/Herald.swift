import ArgumentParser

/// The `herald` command: argument parsing and wiring only; the work is in the Herald libraries.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: a self-hosted message delivery service.",
        subcommands: [ComposeCommand.self, CheckCommand.self, MigrateCommand.self, WorkerCommand.self, AccountsCommand.self]
    )
}
