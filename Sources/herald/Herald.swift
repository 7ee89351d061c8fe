import ArgumentParser
import Foundation

/// The `herald` command: argument parsing and wiring only; the work is in the Herald libraries.
@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: a self-hosted message delivery service.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, SendCommand.self, AccountsCommand.self, KeysCommand.self, CheckCommand.self,
            StatusCommand.self, ComposeCommand.self, MigrateCommand.self, PruneCommand.self,
        ]
    )

    /// Reads the configuration file (see `ConfigFile`) into the environment, checks the settings,
    /// then parses and runs.
    static func main() async {
        do {
            try ConfigFile.load(arguments: CommandLine.arguments)
            try ConfigFile.check()
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            Self.exit(withError: ExitCode(2))
        }
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
