import Foundation
import HeraldStore
import Logging

/// The store's queue under load, on SQLite (synchronous=FULL) and PostgreSQL (synchronous_commit
/// on): enqueue rate with 1 and 64 producers, claim+settle rate, and claim latency with 1,000
/// versus 1,000,000 messages queued. The disk's own fsync rate is measured in the same run, as the
/// reference: without group commit, durable enqueues could not go faster than it.
struct QueueBenchmark {
    var sequential = 2_000
    var concurrent = 20_000
    var large = 1_000_000
    /// `--only sqlite` or `--only postgres` measures one database, as when profiling it.
    var only: String?
    let postgresURL: String?

    init(arguments: [String]) {
        sequential = arguments.value(of: "--sequential").flatMap(Int.init) ?? sequential
        concurrent = arguments.value(of: "--count").flatMap(Int.init) ?? concurrent
        large = arguments.value(of: "--large").flatMap(Int.init) ?? large
        only = arguments.value(of: "--only")
        postgresURL = only == "sqlite" ? nil : ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"]
    }

    struct Result {
        var enqueue1 = 0.0
        var enqueue64 = 0.0
        var claimSettle = 0.0
        var claimMedian1k = 0.0
        var claimP99at1k = 0.0
        var claimMedian1m = 0.0
        var claimP99at1m = 0.0
        var fill = 0.0
        var enqueueBatch = 0.0
        var settleBatch = 0.0
    }

    static let logger = Logger(label: "herald.bench.queue")

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-queue-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fsyncs = try fsyncRate(in: folder.path)

        if let only, only != "sqlite" && only != "postgres" {
            throw BenchmarkError("--only takes sqlite or postgres, not \(only)")
        }
        var measuredSQLite: Result?
        if only != "postgres" {
            FileHandle.standardError.write(Data("queue: SQLite...\n".utf8))
            measuredSQLite = try await measure(
                try await SQLiteStore(path: folder.appendingPathComponent("bench.sqlite").path, secretKey: .generate(), logger: Self.logger)
            )
        }
        var postgres: Result?
        if let postgresURL {
            FileHandle.standardError.write(Data("queue: PostgreSQL...\n".utf8))
            postgres = try await measure(try PostgresStore(url: postgresURL, secretKey: .generate(), logger: Self.logger))
        } else {
            FileHandle.standardError.write(Data("queue: HERALD_TEST_POSTGRES_URL is not set; PostgreSQL skipped\n".utf8))
        }
        let rss = peakRSSMegabytes()
        let pg = postgres ?? Result()
        let sqlite = measuredSQLite ?? Result()

        print("queue: durable commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on); this disk: \(Int(fsyncs)) fsync/s")
        print(pad("", 52) + pad("SQLite", 14, right: true) + pad("PostgreSQL", 14, right: true) + pad("target", 10, right: true))
        func row(_ name: String, _ a: Double, _ b: Double, _ target: String, decimals: Bool = false) {
            let format: (Double) -> String = { decimals ? String(format: "%.2f", $0) : String(Int($0)) }
            print(
                pad(name, 52) + pad(measuredSQLite == nil ? "-" : format(a), 14, right: true)
                    + pad(postgres == nil ? "-" : format(b), 14, right: true)
                    + pad(target, 10, right: true))
        }
        row("enqueue/s, 1 producer", sqlite.enqueue1, pg.enqueue1, "")
        row("enqueue/s, 64 producers", sqlite.enqueue64, pg.enqueue64, ">= 20000")
        row("  / fsyncs per second of this disk", sqlite.enqueue64 / fsyncs, pg.enqueue64 / fsyncs, "", decimals: true)
        row("  messages per enqueue commit", sqlite.enqueueBatch, pg.enqueueBatch, "", decimals: true)
        row("claim+settle/s (batches of 100, 4 workers)", sqlite.claimSettle, pg.claimSettle, ">= 10000")
        row("  settlements per commit", sqlite.settleBatch, pg.settleBatch, "", decimals: true)
        row("claim of 10, ms, median, 1,000 queued", sqlite.claimMedian1k, pg.claimMedian1k, "", decimals: true)
        row("claim of 10, ms, p99, 1,000 queued", sqlite.claimP99at1k, pg.claimP99at1k, "", decimals: true)
        row("claim of 10, ms, median, \(large.formatted()) queued", sqlite.claimMedian1m, pg.claimMedian1m, "", decimals: true)
        row("claim of 10, ms, p99, \(large.formatted()) queued", sqlite.claimP99at1m, pg.claimP99at1m, "", decimals: true)
        row(
            "  median at \(large.formatted()) / at 1,000", sqlite.claimMedian1m / sqlite.claimMedian1k, pg.claimMedian1m / pg.claimMedian1k,
            "<= 2", decimals: true)
        row("enqueue/s while filling to \(large.formatted()) (256 producers)", sqlite.fill, pg.fill, "")
        print("peak RSS of herald-bench: \(rss) MB")
        print(
            "sqlite_enqueue_1=\(Int(sqlite.enqueue1)) sqlite_enqueue_64=\(Int(sqlite.enqueue64)) sqlite_claim_complete=\(Int(sqlite.claimSettle)) "
                + "sqlite_claim_ms_1k=\(String(format: "%.3f", sqlite.claimMedian1k)) sqlite_claim_ms_1m=\(String(format: "%.3f", sqlite.claimMedian1m)) "
                + "pg_enqueue_1=\(Int(pg.enqueue1)) pg_enqueue_64=\(Int(pg.enqueue64)) pg_claim_complete=\(Int(pg.claimSettle)) "
                + "pg_claim_ms_1k=\(String(format: "%.3f", pg.claimMedian1k)) pg_claim_ms_1m=\(String(format: "%.3f", pg.claimMedian1m))")
    }

    /// Every measurement on one fresh store.
    func measure(_ store: any Store) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            try await Self.empty(store)
            var result = Result()
            result.enqueue1 = try await enqueueRate(store, count: sequential, producers: 1)
            let commits = store as? any GroupCommitting
            let before = commits?.enqueueCommits
            result.enqueue64 = try await enqueueRate(store, count: concurrent, producers: 64)
            result.enqueueBatch = Self.perCommit(before, commits?.enqueueCommits)
            let settledBefore = commits?.settlementCommits
            result.claimSettle = try await claimSettleRate(store, workers: 4, batch: 100)
            result.settleBatch = Self.perCommit(settledBefore, commits?.settlementCommits)
            _ = try await enqueueRate(store, count: 1_000, producers: 64)
            (result.claimMedian1k, result.claimP99at1k) = try await claimLatency(store)
            // The long queue is filled by 256 producers: larger batches, a shorter wait.
            result.fill = try await enqueueRate(store, count: large - 1_000, producers: 256)
            (result.claimMedian1m, result.claimP99at1m) = try await claimLatency(store)
            // The long queue is left as it is: the SQLite file is deleted and scripts/bench's
            // PostgreSQL is thrown away.
            return result
        }
    }

    /// Items per commit between two readings of a store's commit statistics.
    static func perCommit(_ before: (batches: Int, items: Int)?, _ after: (batches: Int, items: Int)?) -> Double {
        guard let before, let after, after.batches > before.batches else { return 0 }
        return Double(after.items - before.items) / Double(after.batches - before.batches)
    }

    /// The same 300-byte body for every message: building it per message cost the producers
    /// about a tenth of the machine.
    static let body = Array((String(repeating: "x", count: 300) + "\r\n").utf8)

    static func message(_ index: Int) -> NewMessage {
        NewMessage(
            from: "Herald Bench <bench@example.com>", to: ["user\(index % 1000)@example.com"], subject: "Your code is \(index)",
            templateCode: "bench", templateVariables: #"{"code":"\#(index)"}"#,
            mime: Array("From: bench@example.com\r\nTo: user@example.com\r\nSubject: Your code is \(index)\r\n\r\n".utf8) + body,
            tags: ["bench"])
    }

    func enqueueRate(_ store: any Store, count: Int, producers: Int) async throws -> Double {
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for index in stride(from: producer, to: count, by: producers) { _ = try await store.enqueue(Self.message(index)) }
                    }
                }
                try await group.waitForAll()
            }
        }
        return Double(count) / elapsed.seconds
    }

    /// Workers claim batches and settle each message (as delivered) until the queue is empty.
    func claimSettleRate(_ store: any Store, workers: Int, batch: Int) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let settled = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var count = 0
                    while true {
                        let claimed = try await store.claim(limit: batch, owner: "bench-\(worker)", lease: .seconds(300))
                        if claimed.isEmpty { return count }
                        try await withThrowingTaskGroup(of: Void.self) { settlements in
                            for message in claimed {
                                settlements.addTask {
                                    _ = try await store.settle(
                                        Settlement(lease: message.lease, kind: .delivered, report: AttemptReport(accountID: 1)))
                                }
                            }
                            try await settlements.waitForAll()
                        }
                        count += claimed.count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(settled) / (clock.now - start).seconds
    }

    /// Median and p99 of 300 claims of 10, each released again so that the queue keeps its size.
    func claimLatency(_ store: any Store) async throws -> (Double, Double) {
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<300 {
            var claimed: [ClaimedMessage] = []
            let elapsed = try await clock.measure { claimed = try await store.claim(limit: 10, owner: "latency", lease: .seconds(60)) }
            samples.append(elapsed.seconds * 1000)
            try await store.release(claimed.map(\.lease))
        }
        samples.sort()
        return (samples[samples.count / 2], samples[samples.count * 99 / 100])
    }

    /// Settles whatever an earlier run left queued, so that the measurements start from an empty queue.
    static func empty(_ store: any Store) async throws {
        while true {
            let claimed = try await store.claim(limit: 1000, owner: "bench-empty", lease: .seconds(300))
            if claimed.isEmpty { return }
            for message in claimed { _ = try await store.settle(Settlement(lease: message.lease, kind: .failed, report: AttemptReport())) }
        }
    }

    /// How many write+fsync rounds of a small file this disk does per second.
    func fsyncRate(in folder: String) throws -> Double {
        let path = folder + "/fsync-probe"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else { return 0 }
        defer {
            close(fd)
            unlink(path)
        }
        let bytes = [UInt8](repeating: 7, count: 4096)
        let clock = ContinuousClock()
        let rounds = 300
        let elapsed = clock.measure {
            for index in 0..<rounds {
                _ = pwrite(fd, bytes, bytes.count, off_t(index % 16 * 4096))
                fsync(fd)
            }
        }
        return Double(rounds) / elapsed.seconds
    }
}
