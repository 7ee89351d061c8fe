// herald-store-probe: enqueues or claims messages in a store and prints each acknowledgement as
// it happens, so that the store's crash and multi-process tests can kill it at any moment and
// know exactly what it was told had committed.
//
//   herald-store-probe enqueue --sqlite PATH | --postgres URL --count N [--concurrency C]
//       prints "acked ID TAG" after each enqueue returned (the row committed)
//   herald-store-probe claim --sqlite PATH | --postgres URL --owner NAME [--lease S] [--batch N] [--settle] [--until-empty]
//       prints "claimed ID" for each message claimed, and "settled ID" after settling it
import Foundation
import HeraldStore
import HeraldTestSupport
import Logging

/// Writes one line straight to the file descriptor, unbuffered: a line printed is a line the test sees.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func flag(_ name: String) -> Bool { CommandLine.arguments.contains(name) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("herald-store-probe: \(message)\n".utf8))
    exit(2)
}

func openStore() async throws -> any Store {
    let logger = Logger(label: "herald-store-probe")
    let key = SecretKey.generate()
    if let path = argument("--sqlite") { return try await SQLiteStore(path: path, secretKey: key, logger: logger) }
    if let url = argument("--postgres") { return try PostgresStore(url: url, secretKey: key, logger: logger) }
    fail("give --sqlite PATH or --postgres URL")
}

func enqueue(_ store: any Store) async throws {
    let count = Int(argument("--count") ?? "100") ?? 100
    let concurrency = Int(argument("--concurrency") ?? "8") ?? 8
    let tag = argument("--tag") ?? "probe"
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                for index in stride(from: worker, to: count, by: concurrency) {
                    let message = NewMessage(
                        from: "probe@example.com", to: ["r\(index)@example.com"], subject: "probe \(index)",
                        mime: Array("Subject: probe \(index)\r\n\r\nbody\r\n".utf8), tags: [tag])
                    let id = try await store.enqueue(message).message.id
                    say("acked \(id) \(index)")
                }
            }
        }
        try await group.waitForAll()
    }
}

func claim(_ store: any Store) async throws {
    let owner = argument("--owner") ?? "probe-\(getpid())"
    let lease = Double(argument("--lease") ?? "30") ?? 30
    let batch = Int(argument("--batch") ?? "10") ?? 10
    let settle = flag("--settle")
    let untilEmpty = flag("--until-empty")
    while true {
        let claimed = try await store.claim(limit: batch, owner: owner, lease: .milliseconds(Int(lease * 1000)))
        if claimed.isEmpty {
            if untilEmpty { return }
            await store.waitForWork(timeout: .milliseconds(100))
            continue
        }
        for message in claimed { say("claimed \(message.message.id)") }
        if settle {
            for message in claimed {
                _ = try await store.settle(Settlement(lease: message.lease, kind: .delivered, report: AttemptReport()))
                say("settled \(message.message.id)")
            }
        }
    }
}

do {
    let store = try await openStore()
    try await withRunningStore(store) { store in
        try await store.migrate()
        say("ready")
        switch CommandLine.arguments.dropFirst().first {
        case "enqueue": try await enqueue(store)
        case "claim": try await claim(store)
        default: fail("usage: herald-store-probe enqueue|claim ...")
        }
    }
} catch {
    fail("\(error)")
}
