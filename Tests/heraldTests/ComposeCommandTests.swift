import Crypto
import CryptoExtras
import Foundation
import Testing

/// `herald compose` run as a user runs it: the built binary, its stdout, stderr and exit status.
@Suite struct ComposeCommandTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let binary: URL = {
        let testBinary = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var directory = testBinary.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("herald").path) && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("herald")
    }()

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs the built `herald` and waits for it. `stdin` is written and closed when given;
    /// `environment` is laid over this process's, after `unset` names are removed; `folder` is the
    /// working directory. With `timeout`, a process still running then is sent SIGTERM, so that a
    /// command expected to stop at once fails its test instead of hanging it.
    static func herald(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], unset: [String] = [], in folder: URL? = nil,
        timeout: Duration? = nil
    ) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = folder }
        if !environment.isEmpty || !unset.isEmpty {
            var base = ProcessInfo.processInfo.environment
            for name in unset { base.removeValue(forKey: name) }
            process.environment = base.merging(environment) { $1 }
        }
        let input = Pipe()
        if stdin != nil { process.standardInput = input }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if let timeout {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { if process.isRunning { process.terminate() } }
        }
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func printsTheMessageWithTheEncodedDisplayName() throws {
        let run = try Self.herald([
            "compose", "--from", "系统通知 <1905985427@qq.com>", "--to", "205672513@qq.com", "--to", "Ops <ops@example.com>",
            "--cc", "cc@example.com", "--subject", "【测试】系统通知 - 2025-10-25 17:05:00", "--text", "Hello", "--html", "<p>Hello</p>",
            "--header", "List-Unsubscribe: <mailto:u@qq.com>",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\r\nFrom: =?UTF-8?B?57O757uf6YCa55+l?= <1905985427@qq.com>\r\n"))
        #expect(run.stdout.contains("\r\nTo: 205672513@qq.com, Ops <ops@example.com>\r\n"))
        #expect(run.stdout.contains("\r\nCc: cc@example.com\r\n"))
        #expect(run.stdout.contains("\r\nList-Unsubscribe: <mailto:u@qq.com>\r\n"))
        #expect(run.stdout.contains("Content-Type: multipart/alternative;"))
        #expect(run.stderr.isEmpty)
    }

    @Test func attachesFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("报告.csv")
        try Data("a,b\n1,2\n".utf8).write(to: file)
        let run = try Self.herald([
            "compose", "--from", "a@example.com", "--to", "b@example.com", "--text", "see attached", "--attach", file.path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Content-Type: text/csv; name*=utf-8''%E6%8A%A5%E5%91%8A.csv\r\n"))
        #expect(run.stdout.contains("\r\n\r\n\(Data("a,b\n1,2\n".utf8).base64EncodedString())\r\n"))
    }

    @Test(arguments: [
        (["--from", "a@example.com", "--to", "not-an-address"], "'not-an-address' is not a valid email address"),
        (["--to", "b@example.com"], "--from is required"),
        (["--from", "a@example.com"], "at least one --to or --cc is required"),
        (["--from", "a@example.com", "--to", "b@example.com", "--subject", "x\r\nBcc: victim@example.com"], "CR, LF or NUL"),
        (["--from", "a@example.com", "--to", "b@example.com", "--header", "X-A: 1\r\nBcc: victim@example.com"], "CR, LF or NUL"),
        (["--from", "a@example.com", "--to", "b@example.com", "--header", "Bcc: victim@example.com"], "is set by Herald"),
        (["--from", "a@example.com", "--to", "b@example.com", "--attach", "/nonexistent/file.pdf"], "cannot read the file"),
        (["--from", "a@example.com", "--to", "b@example.com", "--dkim-domain", "example.com"], "DKIM signing needs all of"),
    ])
    func invalidInputExitsWithOneLine(arguments: [String], expected: String) throws {
        let run = try Self.herald(["compose"] + arguments)
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(expected), "\(run.stderr)")
        #expect(run.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1, "\(run.stderr)")
    }

    @Test func signsWithRSAAndEd25519KeysFromPEMFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ed25519 = Curve25519.Signing.PrivateKey()
        let keys = [
            ("rsa.pem", rsa.pemRepresentation, "v=DKIM1; k=rsa; p=\(rsa.publicKey.derRepresentation.base64EncodedString())"),
            (
                "ed25519.pem", ed25519.pemRepresentation,
                "v=DKIM1; k=ed25519; p=\(ed25519.publicKey.rawRepresentation.base64EncodedString())"
            ),
        ]
        for (name, pem, record) in keys {
            let keyFile = directory.appendingPathComponent(name)
            try Data(pem.utf8).write(to: keyFile)
            let run = try Self.herald([
                "compose", "--from", "系统通知 <notify@example.com>", "--to", "b@example.com", "--subject", "签名测试",
                "--text", "signed body", "--dkim-domain", "example.com", "--dkim-selector", "s2025", "--dkim-key", keyFile.path,
            ])
            #expect(run.status == 0, "\(run.stderr)")
            let message = directory.appendingPathComponent("\(name).eml")
            try Data(run.stdout.utf8).write(to: message)
            let verify = Process()
            verify.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            verify.arguments = [
                "python3", Self.repository.appendingPathComponent("Tests/python/dkim_verify.py").path, message.path, record,
            ]
            try verify.run()
            verify.waitUntilExit()
            #expect(verify.terminationStatus == 0, "\(name) did not verify")
        }
    }
}
