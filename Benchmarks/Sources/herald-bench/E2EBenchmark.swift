import Foundation
import NIOHTTP1

/// The whole path: `herald serve` (release build) with an account on Postfix's smtp-sink; a load
/// generator posts sends over HTTP. Measures, on SQLite and on PostgreSQL: enqueue requests/s with
/// their p50/p99 latency, end-to-end msg/s (first post to last `success`), p50/p99 at a fixed
/// 2,000 requests/s (latency counted from the scheduled time, so a slow server cannot hide its
/// queueing), the server's peak RSS, and the two halves apart: the API with no workers (closed
/// loop and fixed rate), and delivery of a filled queue with no requests. smtp-source's rate is
/// measured in the same run.
///
/// `herald serve` runs with its default delivery settings, as a user gets it. The fixed rate and
/// delivery alone are measured again with `tuning` (more messages in flight and more connections):
/// delivery alone goes faster, and the requests' latency under delivery suffers for it.
struct E2EBenchmark {
    var count = 20_000
    var connections = 64
    var fixedRate = 2_000
    var fixedSeconds = 5
    /// `--only sqlite` or `--only postgres` measures one database.
    var only: String?
    let tools: String
    let binary: String

    init(arguments: [String]) {
        count = arguments.value(of: "--count").flatMap(Int.init) ?? count
        only = arguments.value(of: "--only")
        tools = ProcessInfo.processInfo.environment["HERALD_BENCH_POSTFIX"] ?? "/usr/sbin"
        binary = ProcessInfo.processInfo.environment["HERALD_BENCH_BINARY"] ?? ".build/release/herald"
    }

    /// The delivery settings of the second measurement.
    static let tuning = ["--concurrency", "64", "--connections-per-account", "8"]

    static let templateBody =
        #"{"code":"test_email","subject":"【测试】系统通知 - {{timestamp}}","text":"Sent at {{timestamp}}.\n\#(String(repeating: "x", count: 700))"}"#
    static let sendBody = Array(
        #"{"to": ["205672513@qq.com"], "template_code": "test_email", "template_variables": {"timestamp": "2025-10-25 17:05:00"}}"#.utf8)

    struct Result {
        var enqueue: Double
        var p50: Double
        var p99: Double
        var endToEnd: Double
        var fixedP50: Double
        var fixedP99: Double
        var rssMB: Int
        var apiAlone = 0.0
        var apiAloneFixedP50 = 0.0
        var apiAloneFixedP99 = 0.0
        var deliveryAlone = 0.0
        var tunedFixedP50 = 0.0
        var tunedFixedP99 = 0.0
        var tunedDeliveryAlone = 0.0
        /// The server's CPU time (user and system) per message, in µs: end to end, for the API
        /// alone's closed loop, and for delivery alone.
        var cpuEndToEnd = 0.0
        var cpuAPIAlone = 0.0
        var cpuDeliveryAlone = 0.0

        /// The two halves measured apart (`aloneRates`).
        mutating func take(_ alone: Alone) {
            (apiAlone, apiAloneFixedP50, apiAloneFixedP99, deliveryAlone) = (alone.api, alone.fixedP50, alone.fixedP99, alone.delivery)
            (cpuAPIAlone, cpuDeliveryAlone) = (alone.apiCPU, alone.deliveryCPU)
        }
    }

    func run() async throws {
        if let only, only != "sqlite" && only != "postgres" {
            throw BenchmarkError("--only takes sqlite or postgres, not \(only)")
        }
        let sinkPort = try SMTPBenchmark.freePort()
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "\(tools)/smtp-sink")
        sink.arguments = ["-u", "nobody", "-c", "127.0.0.1:\(sinkPort)", "1024"]
        sink.standardOutput = FileHandle.nullDevice
        sink.standardError = FileHandle.nullDevice
        try sink.run()
        defer { kill(sink.processIdentifier, SIGKILL) }
        try await Task.sleep(for: .milliseconds(300))

        let source = try sourceRate(port: sinkPort)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("herald-e2e-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let sqlitePath = folder.appendingPathComponent("herald.sqlite").path
        var sqlite: Result?
        if only != "postgres" {
            var (result, key) = try await measure(database: sqlitePath, sinkPort: sinkPort)
            result.take(try await aloneRates(database: folder.appendingPathComponent("alone.sqlite").path, key: nil, sinkPort: sinkPort))
            (result.tunedFixedP50, result.tunedFixedP99, result.tunedDeliveryAlone) = try await tunedRates(database: sqlitePath, key: key)
            sqlite = result
        }
        var postgres: Result?
        if only != "sqlite", let url = ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"] {
            var (result, key) = try await measure(database: url, sinkPort: sinkPort)
            result.take(try await aloneRates(database: url, key: key, sinkPort: sinkPort))
            (result.tunedFixedP50, result.tunedFixedP99, result.tunedDeliveryAlone) = try await tunedRates(database: url, key: key)
            postgres = result
        }

        print("e2e: \(count) sends over HTTP (\(connections) connections) to herald serve, delivered to smtp-sink on 127.0.0.1")
        print(pad("", 34) + pad("SQLite", 15, right: true) + pad("PostgreSQL", 15, right: true))
        func row(_ name: String, _ value: (Result) -> String) {
            print(pad(name, 34) + pad(sqlite.map(value) ?? "-", 15, right: true) + pad(postgres.map(value) ?? "-", 15, right: true))
        }
        row("enqueue requests/s") { String(Int($0.enqueue)) }
        row("request p50 / p99 ms (closed loop)") { String(format: "%.1f/%.1f", $0.p50, $0.p99) }
        row("end-to-end msg/s") { String(Int($0.endToEnd)) }
        row("p50 / p99 ms at \(fixedRate) req/s") { String(format: "%.1f/%.1f", $0.fixedP50, $0.fixedP99) }
        row("peak RSS of herald serve, MB") { String($0.rssMB) }
        row("requests/s, API alone (--no-workers)") { String(Int($0.apiAlone)) }
        row("p50 / p99 ms at \(fixedRate) req/s, API alone") { String(format: "%.1f/%.1f", $0.apiAloneFixedP50, $0.apiAloneFixedP99) }
        row("delivery msg/s, alone (no requests)") { String(Int($0.deliveryAlone)) }
        row("herald CPU µs/msg: e2e, API, delivery") {
            "\(Int($0.cpuEndToEnd))/\(Int($0.cpuAPIAlone))/\(Int($0.cpuDeliveryAlone))"
        }
        print("with \(Self.tuning.joined(separator: " ")):")
        row("  p50 / p99 ms at \(fixedRate) req/s") { String(format: "%.1f/%.1f", $0.tunedFixedP50, $0.tunedFixedP99) }
        row("  delivery msg/s, alone") { String(Int($0.tunedDeliveryAlone)) }
        print("smtp-source -d, 1 session: \(Int(source)) msg/s")
        let rss = max(sqlite?.rssMB ?? 0, postgres?.rssMB ?? 0)
        print(
            "sqlite_e2e=\(Int(sqlite?.endToEnd ?? 0)) pg_e2e=\(Int(postgres?.endToEnd ?? 0)) sqlite_enqueue=\(Int(sqlite?.enqueue ?? 0)) "
                + "pg_enqueue=\(Int(postgres?.enqueue ?? 0)) sqlite_p99_ms_at_2000=\(String(format: "%.1f", sqlite?.fixedP99 ?? 0)) "
                + "pg_p99_ms_at_2000=\(String(format: "%.1f", postgres?.fixedP99 ?? 0)) peak_rss_mb=\(rss) smtp_source_1conn=\(Int(source))"
        )
    }

    // MARK: One backend

    /// The whole path on one database; also returns the admin key the server printed.
    private func measure(database: String, sinkPort: Int) async throws -> (result: Result, key: String) {
        let server = try await Server.start(binary: binary, database: database)
        defer { server.stop() }
        let admin = try await HTTPLoadConnection.connect(host: "127.0.0.1", port: server.port)
        let auth = [("Authorization", "Bearer \(server.key)")]
        try await setUp(admin, auth: auth, sinkPort: sinkPort)
        let delivered = try await successCount(admin, auth: auth)

        // Closed loop: each connection posts its share back to back.
        let clients = try await (0..<connections).asyncMap { _ in try await HTTPLoadConnection.connect(host: "127.0.0.1", port: server.port)
        }
        let cpuAtStart = server.cpuSeconds()
        let start = ContinuousClock.now
        let latencies = try await closedLoop(clients, auth: auth)
        let posted = ContinuousClock.now
        let total = latencies.count
        try await waitForDeliveries(admin, auth: auth, total: delivered + total)
        let done = ContinuousClock.now
        let cpu = server.cpuSeconds() - cpuAtStart

        let fixed = try await fixedRateLatencies(clients, auth: auth)
        // Left queued, the fixed-rate sends would be counted as the next phase's deliveries.
        try await waitForDeliveries(admin, auth: auth, total: delivered + total + fixed.count)
        let rss = server.peakRSSMegabytes()
        for client in clients { await client.close() }
        await admin.close()
        let result = Result(
            enqueue: Double(total) / (posted - start).seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
            endToEnd: Double(total) / (done - start).seconds,
            fixedP50: percentile(fixed, 0.5), fixedP99: percentile(fixed, 0.99), rssMB: rss, cpuEndToEnd: cpu / Double(total) * 1e6)
        return (result, server.key)
    }

    /// The two halves apart: sends/s that `herald serve --no-workers` takes in a closed loop (the
    /// API's own ceiling on this machine, with the load generator but without delivery competing
    /// for the cores) and its p50/p99 at the fixed rate; then msg/s that a new `herald serve`
    /// delivers from the queue so filled, with no requests coming in, counted from the start of
    /// its process. `key` is the admin key of a database used before; on a new one the server
    /// prints one.
    private func aloneRates(
        database: String, key: String?, sinkPort: Int?, deliveryArguments: [String] = []
    ) async throws -> Alone {
        let api = try await Server.start(binary: binary, database: database, key: key, extraArguments: ["--no-workers"])
        let auth = [("Authorization", "Bearer \(api.key)")]
        let admin = try await HTTPLoadConnection.connect(host: "127.0.0.1", port: api.port)
        if key == nil, let sinkPort { try await setUp(admin, auth: auth, sinkPort: sinkPort) }
        let delivered = try await successCount(admin, auth: auth)
        await admin.close()
        let clients = try await (0..<connections).asyncMap { _ in try await HTTPLoadConnection.connect(host: "127.0.0.1", port: api.port)
        }
        let cpuAtStart = api.cpuSeconds()
        let start = ContinuousClock.now
        let closed = try await closedLoop(clients, auth: auth).count
        let apiRate = Double(closed) / (ContinuousClock.now - start).seconds
        let apiCPU = (api.cpuSeconds() - cpuAtStart) / Double(closed) * 1e6
        // The fixed rate again, with no delivery competing for the cores: what the request path
        // alone costs in latency.
        let fixed = try await fixedRateLatencies(clients, auth: auth)
        let sent = closed + fixed.count
        for client in clients { await client.close() }
        api.stop()

        let started = ContinuousClock.now
        let server = try await Server.start(binary: binary, database: database, key: api.key, extraArguments: deliveryArguments)
        defer { server.stop() }
        let watcher = try await HTTPLoadConnection.connect(host: "127.0.0.1", port: server.port)
        try await waitForDeliveries(watcher, auth: auth, total: delivered + sent)
        let rate = Double(sent) / (ContinuousClock.now - started).seconds
        // Counted from the process's start, as the rate is.
        let deliveryCPU = server.cpuSeconds() / Double(sent) * 1e6
        await watcher.close()
        return Alone(
            api: apiRate, fixedP50: percentile(fixed, 0.5), fixedP99: percentile(fixed, 0.99), delivery: rate, apiCPU: apiCPU,
            deliveryCPU: deliveryCPU)
    }

    struct Alone {
        var api, fixedP50, fixedP99, delivery, apiCPU, deliveryCPU: Double
    }

    /// With `tuning`, on a database `measure` set up: the fixed rate with delivery running, then
    /// delivery alone of a queue filled by `herald serve --no-workers`.
    private func tunedRates(database: String, key: String) async throws -> (fixedP50: Double, fixedP99: Double, delivery: Double) {
        let fixed = try await fixedRateWithDelivery(database: database, key: key, arguments: Self.tuning)
        let delivery = try await aloneRates(database: database, key: key, sinkPort: nil, deliveryArguments: Self.tuning).delivery
        return (percentile(fixed, 0.5), percentile(fixed, 0.99), delivery)
    }

    /// The fixed rate's latencies on a `herald serve` started with `arguments`; returns once the
    /// sends are delivered.
    private func fixedRateWithDelivery(database: String, key: String, arguments: [String]) async throws -> [Double] {
        let server = try await Server.start(binary: binary, database: database, key: key, extraArguments: arguments)
        defer { server.stop() }
        let auth = [("Authorization", "Bearer \(key)")]
        let admin = try await HTTPLoadConnection.connect(host: "127.0.0.1", port: server.port)
        let delivered = try await successCount(admin, auth: auth)
        let clients = try await (0..<connections).asyncMap { _ in
            try await HTTPLoadConnection.connect(host: "127.0.0.1", port: server.port)
        }
        let fixed = try await fixedRateLatencies(clients, auth: auth)
        try await waitForDeliveries(admin, auth: auth, total: delivered + fixed.count)
        for client in clients { await client.close() }
        await admin.close()
        return fixed
    }

    /// An account on smtp-sink and the bench's template.
    private func setUp(_ admin: HTTPLoadConnection, auth: [(String, String)], sinkPort: Int) async throws {
        let account = try await admin.request(
            .POST, "/api/v1/accounts", headers: auth,
            body: Array(
                #"{"name":"sink","email":"bench@example.com","smtp_host":"127.0.0.1","smtp_port":\#(sinkPort),"security":"none"}"#.utf8))
        let template = try await admin.request(.POST, "/api/v1/templates", headers: auth, body: Array(Self.templateBody.utf8))
        guard account.status == 201, template.status == 201 else {
            throw BenchmarkError("set-up failed: \(String(decoding: account.body + template.body, as: UTF8.self))")
        }
    }

    /// Returns when `total` messages have succeeded. Watches the newest message (they go out
    /// roughly in order), then confirms the count once: polling the statistics all the time would
    /// load the server being measured.
    private func waitForDeliveries(_ client: HTTPLoadConnection, auth: [(String, String)], total: Int) async throws {
        let lastID = try await newestMessageID(client, auth: auth)
        let deadline = ContinuousClock.now + .seconds(300)
        while true {
            if try await messageStatus(client, auth: auth, id: lastID) == "success", try await successCount(client, auth: auth) >= total {
                return
            }
            if ContinuousClock.now > deadline { throw BenchmarkError("delivery did not finish within 5 minutes") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Open loop: `fixedRate` sends a second for `fixedSeconds`, spread over the connections; the
    /// latency of each in ms, counted from its scheduled time, so a server that falls behind shows it.
    private func fixedRateLatencies(_ clients: [HTTPLoadConnection], auth: [(String, String)]) async throws -> [Double] {
        let requests = fixedRate * fixedSeconds
        let interval = 1.0 / Double(fixedRate)
        let fixedStart = ContinuousClock.now + .milliseconds(100)
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    var mine: [Double] = []
                    for request in stride(from: index, to: requests, by: clients.count) {
                        let scheduled = fixedStart + .milliseconds(Int64(Double(request) * interval * 1000))
                        if scheduled > .now { try await Task.sleep(until: scheduled) }
                        try await Self.postSend(client, auth: auth)
                        mine.append((ContinuousClock.now - scheduled).seconds * 1000)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// `herald-bench load --port N --key K [--rate R] [--seconds S]`: the fixed rate alone, against a
    /// server started by hand (with the bench's template, e.g. for profiling it). Prints p50/p99.
    func load(arguments: [String]) async throws {
        guard let port = arguments.value(of: "--port").flatMap(Int.init), let key = arguments.value(of: "--key") else {
            throw BenchmarkError("load needs --port and --key")
        }
        var bench = self
        bench.fixedRate = arguments.value(of: "--rate").flatMap(Int.init) ?? fixedRate
        bench.fixedSeconds = arguments.value(of: "--seconds").flatMap(Int.init) ?? fixedSeconds
        let clients = try await (0..<connections).asyncMap { _ in try await HTTPLoadConnection.connect(host: "127.0.0.1", port: port) }
        let fixed = try await bench.fixedRateLatencies(clients, auth: [("Authorization", "Bearer \(key)")])
        for client in clients { await client.close() }
        print(
            String(
                format: "requests=%d p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f", fixed.count, percentile(fixed, 0.5),
                percentile(fixed, 0.9), percentile(fixed, 0.99), percentile(fixed, 1)))
    }

    /// Posts the bench's send; anything but 202 ends the benchmark.
    private static func postSend(_ client: HTTPLoadConnection, auth: [(String, String)]) async throws {
        let answer = try await client.request(.POST, "/api/v1/messages/email/send", headers: auth, body: sendBody)
        guard answer.status == 202 else {
            throw BenchmarkError("send answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
    }

    /// Each connection posts its share of `count` sends back to back; the latency of each, in ms.
    private func closedLoop(_ clients: [HTTPLoadConnection], auth: [(String, String)]) async throws -> [Double] {
        let perConnection = count / clients.count
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for client in clients {
                group.addTask {
                    var mine: [Double] = []
                    for _ in 0..<perConnection {
                        let sent = ContinuousClock.now
                        try await Self.postSend(client, auth: auth)
                        mine.append((ContinuousClock.now - sent).seconds * 1000)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    private func newestMessageID(_ client: HTTPLoadConnection, auth: [(String, String)]) async throws -> Int64 {
        let answer = try await client.request(.GET, "/api/v1/messages?limit=1", headers: auth)
        let json = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        let messages = (json?["data"] as? [String: Any])?["messages"] as? [[String: Any]]
        guard let id = messages?.first?["id"] as? Int else { throw BenchmarkError("no messages listed") }
        return Int64(id)
    }

    private func messageStatus(_ client: HTTPLoadConnection, auth: [(String, String)], id: Int64) async throws -> String? {
        let answer = try await client.request(.GET, "/api/v1/messages/\(id)", headers: auth)
        let json = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        return (json?["data"] as? [String: Any])?["status"] as? String
    }

    private func successCount(_ client: HTTPLoadConnection, auth: [(String, String)]) async throws -> Int {
        let answer = try await client.request(.GET, "/api/v1/stats", headers: auth)
        let json = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        let windows = (json?["data"] as? [String: Any])?["windows"] as? [String: Any]
        let counts = (windows?["1h"] as? [String: Any])?["counts_by_status"] as? [String: Any]
        return counts?["success"] as? Int ?? 0
    }

    private func sourceRate(port: Int) throws -> Double {
        let start = ContinuousClock.now
        _ = try runCommand([
            "\(tools)/smtp-source", "-d", "-s", "1", "-l", "1024", "-m", String(count), "-f", "bench@example.com", "-t", "sink@example.com",
            "127.0.0.1:\(port)",
        ])
        return Double(count) / (ContinuousClock.now - start).seconds
    }

    /// A running `herald serve`: its port, the admin key it printed, and a way to stop it.
    struct Server {
        /// Reads and drops what the server writes once it has started, until the pipe closes. A
        /// handler that does not read is called again at once while the pipe holds data: the
        /// load generator spun a core on the server's first log line after start-up, in every
        /// phase that followed. And a pipe that nobody reads fills and blocks the server.
        static let discard: @Sendable (FileHandle) -> Void = { handle in
            if handle.availableData.isEmpty { handle.readabilityHandler = nil }
        }

        let process: Process
        let port: Int
        let key: String

        /// `key`: the admin key of a database used before; otherwise the key the server prints.
        static func start(binary: String, database: String, key: String? = nil, extraArguments: [String] = []) async throws -> Server {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments =
                ["serve", "--port", "0", "--database", database] + extraArguments
            var environment = ProcessInfo.processInfo.environment
            environment["HERALD_RATE_LIMIT"] = "100000000"
            environment["HERALD_LOG_LEVEL"] = "info"
            environment["HERALD_SECRET_KEY"] = Data(repeating: 7, count: 32).base64EncodedString()
            process.environment = environment
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let text = NIOLockedText()
            out.fileHandleForReading.readabilityHandler = { text.append($0.availableData) }
            err.fileHandleForReading.readabilityHandler = { text.append($0.availableData) }
            try process.run()
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let output = text.value
                if let key = key ?? output.range(of: #"hk_[A-Za-z0-9_-]+"#, options: .regularExpression).map({ String(output[$0]) }),
                    let url = output.range(of: #"url=http://127\.0\.0\.1:\d+"#, options: .regularExpression),
                    let port = Int(output[url].split(separator: ":").last ?? "")
                {
                    out.fileHandleForReading.readabilityHandler = Self.discard
                    err.fileHandleForReading.readabilityHandler = Self.discard
                    return Server(process: process, port: port, key: key)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            process.terminate()
            throw BenchmarkError("herald serve did not start: \(text.value)")
        }

        /// CPU seconds the server has used so far, user and system, from `/proc`.
        func cpuSeconds() -> Double {
            guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return 0 }
            // After the command's ")": state is field 3, utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }

        func peakRSSMegabytes() -> Int {
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
            else { return 0 }
            return kb / 1024
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// Text appended from pipe handlers.
final class NIOLockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ data: Data) { lock.withLock { text += String(decoding: data, as: UTF8.self) } }
    var value: String { lock.withLock { text } }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
