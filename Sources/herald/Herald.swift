import ArgumentParser

/// The `herald` command: argument parsing and wiring only; the work is in the Herald libraries.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: a self-hosted message delivery service.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, SendCommand.self, AccountsCommand.self, KeysCommand.self, CheckCommand.self,
            ComposeCommand.self, MigrateCommand.self,
        ]
    )
}
