import ArgumentParser
import Foundation
import HeraldMIME
import HeraldSMTP

/// `herald check`: diagnoses an SMTP server step by step and says which security mode works.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Diagnose an SMTP server: TCP, TLS or STARTTLS, greeting, capabilities, AUTH, and a test send.",
        discussion: """
            Example: printf %s "$AUTH_CODE" | herald check smtp.qq.com:465 --user 1905985427@qq.com --password-stdin

            The port defaults to 465 with --security tls, 25 with none, 587 otherwise. When the chosen \
            security mode fails, the others are tried and the one that works is named. Exits 0 only if \
            everything asked for worked. The password is never printed; --password-stdin keeps it out of \
            the process list too, where --password shows it to every user of the machine.
            """
    )

    @Argument(help: "The server, HOST or HOST:PORT.") var server: String
    @Option(help: "auto (from the port), tls, starttls or none.") var security: String = "auto"
    @Option(help: "The username for AUTH.") var user: String?
    @Option(help: "The password or authorisation code for AUTH (visible in the process list; prefer --password-stdin).")
    var password: String?
    @Flag(help: "Read the password or authorisation code from standard input.") var passwordStdin = false
    @Option(name: .customLong("ca-file"), help: "A PEM file of extra trusted CA certificates.") var caFile: String?
    @Flag(help: "Do not verify the server's certificate (testing only).") var insecure = false
    @Option(help: "Send a test message from this address (needs --to).") var from: String?
    @Option(help: "Send the test message to this address.") var to: String?
    @Flag(help: "Print the report as one JSON object.") var json = false

    func run() async throws {
        let request: SMTPCheck.Request
        do {
            request = try makeRequest()
        } catch {
            FileHandle.standardError.write(Data("herald check: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let report = await SMTPCheck.run(request)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.render(report))
        }
        if !report.ok { throw ExitCode.failure }
    }

    private func makeRequest() throws -> SMTPCheck.Request {
        let chosen: SMTPSecurity?
        switch security.lowercased() {
        case "auto": chosen = nil
        case "tls", "ssl": chosen = .tls
        case "starttls": chosen = .startTLS
        case "none", "plain": chosen = SMTPSecurity.plaintext
        default: throw CommandError("--security must be auto, tls, starttls or none")
        }
        let (host, explicitPort) = try Self.split(server)
        let port = explicitPort ?? (chosen == .tls ? 465 : chosen == SMTPSecurity.plaintext ? 25 : 587)
        var request = SMTPCheck.Request(host: host, port: port, security: chosen)
        if passwordStdin && password != nil { throw CommandError("give --password or --password-stdin, not both") }
        let secret = passwordStdin ? try AccountsCommand.passwordFromStandardInput() : password
        switch (user, secret) {
        case (let user?, let secret?): request.credentials = .password(username: user, password: secret)
        case (nil, nil): break
        default: throw CommandError("--user and --password (or --password-stdin) go together")
        }
        if let caFile {
            guard let pem = FileManager.default.contents(atPath: caFile) else { throw CommandError("cannot read the CA file: \(caFile)") }
            request.trustRootsPEM = String(decoding: pem, as: UTF8.self)
        }
        request.verifyCertificates = !insecure
        switch (from, to) {
        case (let from?, let to?):
            let sender = try Mailbox(parsing: from)
            var email = Email(
                from: sender, to: [try Mailbox(parsing: to)], subject: "Herald check", text: "A test message sent by herald check.\n")
            email.date = Date()
            let composed = try MessageComposer().compose(email)
            let envelope = try SMTPEnvelope(
                sender: composed.envelope.sender.description, recipients: composed.envelope.recipients.map(\.description),
                requiresSMTPUTF8: composed.requiresSMTPUTF8)
            request.testMessage = (envelope, composed.bytes)
        case (nil, nil): break
        default: throw CommandError("--from and --to go together")
        }
        return request
    }

    static func split(_ server: String) throws -> (String, Int?) {
        if server.hasPrefix("["), let close = server.firstIndex(of: "]") {
            let host = String(server[server.index(after: server.startIndex)..<close])
            let rest = server[server.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { throw CommandError("cannot read the server '\(server)'") }
            return (host, rest.isEmpty ? nil : try port(String(rest.dropFirst())))
        }
        let parts = server.split(separator: ":", omittingEmptySubsequences: false)
        guard !server.isEmpty, parts.count <= 2, !parts[0].isEmpty else { throw CommandError("the server must be HOST or HOST:PORT") }
        return (String(parts[0]), parts.count == 2 ? try port(String(parts[1])) : nil)
    }

    private static func port(_ text: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else { throw CommandError("'\(text)' is not a port number") }
        return port
    }

    static func render(_ report: SMTPCheck.Report) -> String {
        var lines = ["herald check \(report.host):\(report.port) (security=\(report.security))"]
        for step in report.steps {
            let time = step.milliseconds.map { String(format: "%7.1f ms", $0) } ?? String(repeating: " ", count: 10)
            lines.append(
                "  \(step.ok ? "ok  " : "FAIL") \(step.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(time)  \(step.detail)")
        }
        if !report.authMechanisms.isEmpty { lines.append("  AUTH mechanisms: \(report.authMechanisms.joined(separator: " "))") }
        if let diagnosis = report.error?.diagnosis { lines.append("  diagnosis: \(diagnosis)") }
        lines.append(report.verdict)
        return lines.joined(separator: "\n")
    }
}
