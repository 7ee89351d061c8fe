import Foundation
import HeraldSMTP

/// Sends 1 KB messages to Postfix's smtp-sink on loopback over 1 and 8 connections, and in the
/// same run measures smtp-source and aiosmtplib doing the same; prints rates, ratios and peak RSS.
struct SMTPBenchmark {
    var count = 20_000
    let tools: String

    init(arguments: [String]) {
        count = arguments.value(of: "--count").flatMap(Int.init) ?? count
        tools = ProcessInfo.processInfo.environment["HERALD_BENCH_POSTFIX"] ?? "/usr/sbin"
    }

    /// A 1 KB message: headers and lines of text, CRLF.
    static let message: [UInt8] = {
        var text =
            "From: bench@example.com\r\nTo: sink@example.com\r\nSubject: Herald SMTP benchmark\r\n"
            + "Message-ID: <bench@example.com>\r\nDate: Sat, 25 Oct 2025 09:05:00 +0000\r\n\r\n"
        let line = String(repeating: "x", count: 62) + "\r\n"
        while text.utf8.count + line.utf8.count <= 1024 { text += line }
        text += String(repeating: "y", count: 1022 - text.utf8.count) + "\r\n"
        return Array(text.utf8)
    }()

    func run() async throws {
        let port = try Self.freePort()
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "\(tools)/smtp-sink")
        sink.arguments = ["-u", "nobody", "127.0.0.1:\(port)", "1024"]
        sink.standardOutput = FileHandle.nullDevice
        sink.standardError = FileHandle.nullDevice
        try sink.run()
        // smtp-sink drops to user nobody and does not always stop on SIGTERM.
        defer { kill(sink.processIdentifier, SIGKILL) }
        try await waitForPort(port)

        let herald1 = try await heraldRate(port: port, connections: 1)
        let herald8 = try await heraldRate(port: port, connections: 8)
        let source1 = try sourceRate(port: port, sessions: 1)
        let source8 = try sourceRate(port: port, sessions: 8)
        let messageFile = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-\(getpid()).eml")
        try Data(Self.message).write(to: messageFile)
        defer { try? FileManager.default.removeItem(at: messageFile) }
        let aio1 = try aiosmtplibRate(port: port, file: messageFile.path, connections: 1)
        let aio8 = try aiosmtplibRate(port: port, file: messageFile.path, connections: 8)
        let rss = peakRSSMegabytes()

        print("smtp: \(count) messages of \(Self.message.count) bytes to smtp-sink on 127.0.0.1, msg/s")
        print(pad("client", 26) + pad("1 connection", 16, right: true) + pad("8 connections", 16, right: true))
        for (name, one, eight) in [("herald", herald1, herald8), ("smtp-source -d", source1, source8), ("aiosmtplib", aio1, aio8)] {
            print(pad(name, 26) + pad(String(Int(one)), 16, right: true) + pad(String(Int(eight)), 16, right: true))
        }
        print(
            pad("herald / smtp-source", 26) + pad(ratio(herald1, source1), 16, right: true) + pad(ratio(herald8, source8), 16, right: true))
        print(pad("herald / aiosmtplib", 26) + pad(ratio(herald1, aio1), 16, right: true) + pad(ratio(herald8, aio8), 16, right: true))
        print("peak RSS of herald-bench: \(rss) MB")
        print(
            "herald_1conn=\(Int(herald1)) herald_8conn=\(Int(herald8)) smtp_source_1conn=\(Int(source1)) "
                + "smtp_source_8conn=\(Int(source8)) aiosmtplib_1conn=\(Int(aio1)) aiosmtplib_8conn=\(Int(aio8)) peak_rss_mb=\(rss)")
    }

    /// Messages per `SMTPConnection.send(_:)` call.
    static let batchSize = 50

    private func heraldRate(port: Int, connections: Int) async throws -> Double {
        var client = SMTPClientConfiguration(host: "127.0.0.1", port: port, security: .plaintext)
        client.localHostname = "bench.example.com"
        let configuration = client
        let envelope = try SMTPEnvelope(sender: "bench@example.com", recipients: ["sink@example.com"])
        let perConnection = count / connections
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    // Batches, two at a time, so the session's queue never runs dry: each
                    // message's MAIL, RCPT and DATA ride behind the previous content (RFC 2920).
                    let connection = try await SMTPConnection.connect(configuration)
                    let batches = stride(from: 0, to: perConnection, by: Self.batchSize).map { min(Self.batchSize, perConnection - $0) }
                    try await withThrowingTaskGroup(of: Void.self) { senders in
                        for lane in 0..<2 {
                            senders.addTask {
                                for size in batches.enumerated().filter({ $0.offset % 2 == lane }).map(\.element) {
                                    let batch = Array(repeating: SMTPOutgoingMessage(envelope: envelope, bytes: Self.message), count: size)
                                    for outcome in await connection.send(batch) { _ = try outcome.get() }
                                }
                            }
                        }
                        try await senders.waitForAll()
                    }
                    await connection.close()
                }
            }
            try await group.waitForAll()
        }
        return Double(perConnection * connections) / (ContinuousClock.now - start).seconds
    }

    private func sourceRate(port: Int, sessions: Int) throws -> Double {
        let start = ContinuousClock.now
        _ = try runCommand([
            "\(tools)/smtp-source", "-d", "-s", String(sessions), "-l", String(Self.message.count), "-m", String(count),
            "-f", "bench@example.com", "-t", "sink@example.com", "127.0.0.1:\(port)",
        ])
        return Double(count) / (ContinuousClock.now - start).seconds
    }

    private func aiosmtplibRate(port: Int, file: String, connections: Int) throws -> Double {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("python/smtp_aiosmtplib.py")
        let output = try runCommand(["python3", script.path, String(port), file, String(count), String(connections)])
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("rate=") }), let rate = Double(line.dropFirst(5)) else {
            throw BenchmarkError("smtp_aiosmtplib.py printed no rate: \(output)")
        }
        return rate
    }

    private func waitForPort(_ port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            var configuration = SMTPClientConfiguration(host: "127.0.0.1", port: port, security: .plaintext)
            configuration.timeouts = .uniform(.seconds(2))
            if let connection = try? await SMTPConnection.connect(configuration) {
                await connection.close()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchmarkError("smtp-sink did not start on port \(port)")
    }

    static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw BenchmarkError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2fx", a / b) }

func peakRSSMegabytes() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss / 1024
}
