import ArgumentParser
import Foundation
import HeraldStore
import Logging

/// `herald prune`: the explicit retention clean-up. Delivery never deletes anything; this deletes
/// finished messages past an age, in batches, so that a database does not grow forever.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete finished messages (success, failed, cancelled) older than an age, with their attempts and captures.",
        discussion: "Example: herald prune --older-than 30d   (daily, from cron or a systemd timer)\n\n"
            + "Pending, scheduled, sending and retrying messages are never deleted. Statistics cover at most the last "
            + "7 days, so an age of 7d or more keeps them whole; the shortest age is the window in which an "
            + "Idempotency-Key still answers with its message (48h). Safe to run while Herald runs: each batch is one "
            + "short transaction.")

    @OptionGroup var databaseOptions: DatabaseOptions
    @Option(help: "Delete messages created longer ago than this: a number of days (30d) or hours (48h).")
    var olderThan: String
    @Option(parsing: .unconditional, help: "Messages deleted per transaction.") var batch = 500

    /// `--older-than` as a duration.
    static func age(_ text: String) -> Duration? {
        guard let unit = text.last, let number = Int64(text.dropLast()), number > 0, number <= 100_000 else { return nil }
        switch unit {
        case "d": return .seconds(number * 86_400)
        case "h": return .seconds(number * 3_600)
        default: return nil
        }
    }

    func validate() throws {
        guard Self.age(olderThan) != nil else { throw ValidationError("--older-than must be a number of days or hours, like 30d or 48h") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be 1 to 10000") }
    }

    func run() async throws {
        guard let age = Self.age(olderThan) else { throw ExitCode.validationFailure }
        let logger = Logger(label: "herald.prune", factory: { _ in SwiftLogNoOpLogHandler() })
        let batch = batch
        do {
            let store = try await databaseOptions.location().open(secretKey: .generate(), logger: logger)
            let deleted = try await withRunningStore(store) { store in
                try await store.migrate()
                var total = 0
                while true {
                    let deleted = try await store.pruneMessages(olderThan: age, limit: batch)
                    total += deleted
                    if deleted < batch { return total }
                }
            }
            print("deleted \(deleted) finished message\(deleted == 1 ? "" : "s") created more than \(olderThan) ago")
        } catch let error as StoreError {
            throw error.reported(by: "prune")
        }
    }
}
