import ArgumentParser
import Foundation
import HeraldMIME

/// `herald compose`: prints the RFC 5322 bytes Herald would send, for debugging a provider's rejection.
struct ComposeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Print the message Herald would send (the bytes DATA carries, before dot-stuffing).",
        discussion: """
            Addresses may carry a display name: --from '系统通知 <notify@example.com>'. \
            With --dkim-domain, --dkim-selector and --dkim-key (an RSA or Ed25519 PKCS#8 PEM file) \
            the message is DKIM-signed (relaxed/relaxed).
            """
    )

    @Option(help: "The author, as 'addr' or 'Name <addr>'.") var from: String?
    @Option(help: "A recipient (repeatable).") var to: [String] = []
    @Option(help: "A carbon-copy recipient (repeatable).") var cc: [String] = []
    @Option(name: .customLong("reply-to"), help: "Where replies go (repeatable).") var replyTo: [String] = []
    @Option(help: "The subject.") var subject: String = ""
    @Option(help: "The plain-text body.") var text: String?
    @Option(help: "The HTML body.") var html: String?
    @Option(name: .customLong("attach"), help: "A file to attach (repeatable).") var attachments: [String] = []
    @Option(name: .customLong("header"), help: "An extra header, 'Name: value' (repeatable).") var headers: [String] = []
    @Option(name: .customLong("dkim-domain"), help: "The DKIM signing domain (d=).") var dkimDomain: String?
    @Option(name: .customLong("dkim-selector"), help: "The DKIM selector (s=).") var dkimSelector: String?
    @Option(name: .customLong("dkim-key"), help: "A PEM file with the DKIM private key.") var dkimKey: String?

    func run() async throws {
        do {
            let message = try compose()
            FileHandle.standardOutput.write(Data(message.bytes))
        } catch {
            FileHandle.standardError.write(Data("herald compose: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func compose() throws -> ComposedMessage {
        guard let from else { throw CommandError("--from is required") }
        guard !to.isEmpty || !cc.isEmpty else { throw CommandError("at least one --to or --cc is required") }
        var email = Email(
            from: try Mailbox(parsing: from), to: try to.map(Mailbox.init(parsing:)), cc: try cc.map(Mailbox.init(parsing:)),
            subject: subject, text: text, html: html)
        email.replyTo = try replyTo.map(Mailbox.init(parsing:))
        email.headers = try headers.map(Header.init(parsing:))
        email.attachments = try attachments.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandError("cannot read the file to attach: \(path)")
            }
            return try Attachment(filename: URL(fileURLWithPath: path).lastPathComponent, data: Array(data))
        }
        return try MessageComposer(dkim: try signer()).compose(email)
    }

    private func signer() throws -> DKIMSigner? {
        let given = [dkimDomain, dkimSelector, dkimKey].compactMap { $0 }
        if given.isEmpty { return nil }
        guard let dkimDomain, let dkimSelector, let dkimKey else {
            throw CommandError("DKIM signing needs all of --dkim-domain, --dkim-selector and --dkim-key")
        }
        guard let pem = FileManager.default.contents(atPath: dkimKey) else {
            throw CommandError("cannot read the DKIM key file: \(dkimKey)")
        }
        return try DKIMSigner(domain: dkimDomain, selector: dkimSelector, privateKeyPEM: String(decoding: pem, as: UTF8.self))
    }
}

/// A command-line mistake, printed as one line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
