import Foundation
import HeraldMIME

/// Composes the same 1 KB message (text + HTML, Chinese subject and sender name) many times with
/// Herald and, in the same run, with Python's `email` package; prints both rates and their ratio.
struct MIMEBenchmark {
    var count = 100_000
    /// Python's email package is about a hundred times slower: it composes fewer messages per
    /// round, and the rates are compared.
    var pythonCount = 10_000
    var rounds = 3

    static let fromName = "系统通知"
    static let fromAddress = "notify@example.com"
    static let toAddress = "205672513@qq.com"
    static let subject = "【测试】系统通知 - 2025-10-25 17:05:00"
    static let text = String(
        repeating: "您好，这是一封来自 Herald 的测试邮件。Hello from Herald: your order has shipped.\n", count: 4)
    static let html = "<html><body>" + String(repeating: "<p>您好，这是一封测试邮件。Your order has shipped.</p>\n", count: 4) + "</body></html>"

    init(arguments: [String]) {
        count = arguments.value(of: "--count").flatMap(Int.init) ?? count
        pythonCount = arguments.value(of: "--python-count").flatMap(Int.init) ?? min(pythonCount, count)
    }

    func run() throws {
        let email = try Self.email()
        let size = try MessageComposer().compose(email).bytes.count
        let herald = try (0..<rounds).map { _ in try composeRate(email) }.sorted()[rounds / 2]
        let python = try pythonRate()

        print("mime: one message of \(size) bytes (text + HTML, Chinese subject); median of \(rounds) rounds")
        print("herald composes \(count) per round, python \(pythonCount)")
        print(pad("implementation", 24) + pad("messages/s", 14, right: true))
        print(pad("herald", 24) + pad(String(Int(herald)), 14, right: true))
        print(pad("python email", 24) + pad(String(Int(python)), 14, right: true))
        print(pad("ratio herald/python", 24) + pad(String(format: "%.1fx", herald / python), 14, right: true))
        print("herald_per_s=\(Int(herald)) python_per_s=\(Int(python))")
    }

    static func email() throws -> Email {
        var email = Email(
            from: try Mailbox(EmailAddress(fromAddress), displayName: fromName),
            to: [try Mailbox(EmailAddress(toAddress))], subject: subject, text: text, html: html)
        email.date = Date(timeIntervalSince1970: 1_761_383_100)
        return email
    }

    private func composeRate(_ email: Email) throws -> Double {
        let composer = MessageComposer()
        var bytes = 0
        let start = ContinuousClock.now
        for _ in 0..<count {
            bytes &+= try composer.compose(email).bytes.count
        }
        let elapsed = ContinuousClock.now - start
        precondition(bytes > 0)
        return Double(count) / elapsed.seconds
    }

    /// Runs Benchmarks/python/mime_compose.py on the same content; it prints `python_per_s=N`.
    private func pythonRate() throws -> Double {
        let spec: [String: Any] = [
            "from_name": Self.fromName, "from_address": Self.fromAddress, "to": Self.toAddress,
            "subject": Self.subject, "text": Self.text, "html": Self.html, "count": pythonCount, "rounds": rounds,
        ]
        let specFile = FileManager.default.temporaryDirectory.appendingPathComponent("herald-mime-bench-\(getpid()).json")
        try JSONSerialization.data(withJSONObject: spec).write(to: specFile)
        defer { try? FileManager.default.removeItem(at: specFile) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("python/mime_compose.py")
        let output = try runCommand(["python3", script.path, specFile.path])
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("python_per_s=") }),
            let rate = Double(line.dropFirst("python_per_s=".count))
        else {
            throw BenchmarkError("mime_compose.py printed no rate: \(output)")
        }
        return rate
    }
}

func runCommand(_ command: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchmarkError("\(command.joined(separator: " ")) failed") }
    return String(decoding: data, as: UTF8.self)
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
