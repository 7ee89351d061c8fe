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
    @Option(help: "The template to render.") var templateCode: String?
    @Option(name: .customLong("var"), help: "A template variable, NAME=VALUE (repeatable).") var variables: [String] = []
    @Option(help: "The subject, without a template.") var subject: String?
    @Option(help: "The text body, without a template.") var text: String?
    @Option(help: "The HTML body, without a template.") var html: String?
    @Option(help: "The account to send through.") var fromAccount: String?

    func validate() throws {
        if let pair = variables.first(where: { !$0.contains("=") }) { throw ValidationError("--var takes NAME=VALUE, got \(pair)") }
    }

    func run() async throws {
        var request = SendRequest(to: to, templateCode: templateCode, subject: subject, text: text)
        request.cc = cc.isEmpty ? nil : AddressList(cc)
        request.html = html
        request.fromAccount = fromAccount
        if !variables.isEmpty {
            var values: [String: JSONValue] = [:]
            for pair in variables {
                guard let equals = pair.firstIndex(of: "=") else { continue }  // refused by validate()
                values[String(pair[..<equals])] = .string(String(pair[pair.index(after: equals)...]))
            }
            request.templateVariables = values
        }
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
