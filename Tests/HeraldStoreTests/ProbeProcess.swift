import Foundation
import HeraldTestSupport
import Synchronization
import Testing

/// `herald-store-probe` run as a separate process: its output lines as they arrive, and a way
/// to kill it mid-stride.
final class ProbeProcess: Sendable {
    private let process: Process
    private let out = Pipe()
    private let err = Pipe()
    private let lines = Mutex<[String]>([])
    private let partial = Mutex<String>("")
    private let errors = Mutex<String>("")
    /// Signalled by each reader thread at end of file.
    private let finished = DispatchSemaphore(value: 0)

    static let binary: URL = {
        let testBinary = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var directory = testBinary.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("herald-store-probe").path) && directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("herald-store-probe")
    }()

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        self.process = process
        // One plain thread per pipe reads until end of file (readabilityHandler's dispatch sources
        // have crashed the test process on Linux when torn down).
        let outHandle = out.fileHandleForReading
        let errHandle = err.fileHandleForReading
        Thread { [weak self] in
            while case let data = outHandle.availableData, !data.isEmpty { self?.received(data) }
            self?.finished.signal()
        }.start()
        Thread { [weak self] in
            while case let data = errHandle.availableData, !data.isEmpty {
                let text = String(decoding: data, as: UTF8.self)
                self?.errors.withLock { $0 += text }
            }
            self?.finished.signal()
        }.start()
        try process.run()
    }

    private func received(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        let complete = partial.withLock { partial -> [String] in
            partial += text
            var parts = partial.components(separatedBy: "\n")
            partial = parts.removeLast()
            return parts
        }
        lines.withLock { $0 += complete }
    }

    /// Waits (a few seconds at most) for the reader threads to read what the ended process left.
    private func drain() {
        for _ in 0..<2 { _ = finished.wait(timeout: .now() + 10) }
    }

    /// Every complete line printed so far.
    var output: [String] { lines.withLock { $0 } }
    var standardError: String { errors.withLock { $0 } }

    /// The ids on lines starting with `prefix` (e.g. "acked 12 3" -> 12).
    func ids(_ prefix: String) -> [Int64] {
        output.compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, fields[0] == prefix else { return nil }
            return Int64(fields[1])
        }
    }

    /// Waits, polling, until `condition` holds for the output or the process ended; fails after `timeout`.
    func wait(timeout: Duration = .seconds(60), until condition: ([String]) -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !condition(output) {
            if !process.isRunning { return }
            if clock.now >= deadline {
                Issue.record("the probe did not get there within \(timeout); stderr: \(standardError)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Kills the process with SIGKILL: no clean-up, no flush, like a power cut to the process.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        drain()
    }

    /// Waits for the process to end by itself (polling, with a deadline) and returns its status.
    func exitStatus(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            if clock.now >= deadline {
                kill()
                Issue.record("the probe did not finish within \(timeout)")
                return -1
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        drain()
        return process.terminationStatus
    }
}

/// The probe's `--sqlite PATH` or `--postgres URL` for a test database.
func probeLocation(_ database: TestDatabase) -> [String] {
    switch database.kind {
    case .sqlite: ["--sqlite", database.location]
    case .postgres: ["--postgres", database.location]
    }
}
