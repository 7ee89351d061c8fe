import ArgumentParser
import Foundation
import HeraldAPI
import HeraldStore

/// `herald send`: one message from the command line, through the API's own validation and composition.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Queue one message (delivered by a running herald serve or herald worker).",
        discussion: """
            Example: herald send --to 205672513@qq.com --template-code test_email --var timestamp="2025-10-25 17:05:00"
            """)

    @OptionGroup var databaseOptions: DatabaseOptions
    @Option(help: "A recipient (repeatable).") var to: [String] = []
    @Option(help: "A Cc recipient (repeatable).") var cc: [String] = []
    @Option(help: "A Bcc recipient (repeatable).") var bcc: [String] = []
    @Option(help: "A Reply-To address (repeatable).") var replyTo: [String] = []
    @Option(help: "The template to render.") var templateCode: String?
    @Option(name: .customLong("var"), help: "A template variable, NAME=VALUE (repeatable).") var variables: [String] = []
    @Option(help: "The subject, without a template.") var subject: String?
    @Option(help: "The text body, without a template.") var text: String?
    @Option(help: "The HTML body, without a template.") var html: String?
    @Option(help: "The template's locale variant, e.g. zh-CN (falls back to the language, then the default).") var locale: String?
    @Option(help: "The account to send through.") var fromAccount: String?
    @Option(parsing: .unconditional, help: "0 (first) to 9; default 5.") var priority: Int?
    @Option(help: "When to send, ISO 8601 with a zone (2025-10-25T17:05:00+08:00).") var sendAt: String?
    @Option(help: "When to give up if not yet sent, ISO 8601 with a zone.") var expiresAt: String?
    @Option(help: "A tag (repeatable), for routing and filtering.") var tag: [String] = []
    @Option(name: .customLong("header"), help: "An extra header, NAME=VALUE (repeatable).") var headers: [String] = []

    func validate() throws {
        if let pair = variables.first(where: { !$0.contains("=") }) { throw ValidationError("--var takes NAME=VALUE, got \(pair)") }
        if let pair = headers.first(where: { !$0.contains("=") }) { throw ValidationError("--header takes NAME=VALUE, got \(pair)") }
    }

    /// `NAME=VALUE` pairs (checked by `validate()`) as a dictionary.
    private static func pairs(_ texts: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for pair in texts {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            values[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return values
    }

    func run() async throws {
        var request = SendRequest(to: to, templateCode: templateCode, subject: subject, text: text)
        request.cc = cc.isEmpty ? nil : AddressList(cc)
        request.bcc = bcc.isEmpty ? nil : AddressList(bcc)
        request.replyTo = replyTo.isEmpty ? nil : AddressList(replyTo)
        request.html = html
        request.locale = locale
        request.fromAccount = fromAccount
        request.priority = priority
        request.sendAt = sendAt
        request.expiresAt = expiresAt
        request.tags = tag.isEmpty ? nil : tag
        request.headers = headers.isEmpty ? nil : Self.pairs(headers)
        if !variables.isEmpty { request.templateVariables = Self.pairs(variables).mapValues { .string($0) } }
        let sent = request
        do {
            let message = try await AccountsCommand.withStore(databaseOptions, command: "send", existing: false) { store in
                try await MessageFactory(store: store).send(sent, origin: .init(requestID: "cli-\(UUID().uuidString.lowercased())")).message
            }
            print("message \(message.id) queued (\(message.status.rawValue))")
        } catch let error as APIError {
            FileHandle.standardError.write(Data("herald send: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
