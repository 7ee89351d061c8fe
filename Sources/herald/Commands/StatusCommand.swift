import ArgumentParser
import Foundation
import HeraldAPI
import HeraldStore

/// `herald status`: what happened to a message, read from the store, as `GET /api/v1/messages/{id}`
/// shows it.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what happened to a message: its status, every attempt and each recipient's outcome.",
        discussion: "Example: herald status 4   (--json prints the data of GET /api/v1/messages/4)")

    @OptionGroup var databaseOptions: DatabaseOptions
    @Argument(help: "The message id (message_id in the answer to a send).") var id: Int64
    @Flag(help: "Print the message as JSON, as the API's data.") var json = false

    func validate() throws {
        guard id > 0 else { throw ValidationError("the message id must be a positive whole number") }
    }

    func run() async throws {
        let id = id
        let data = try await AccountsCommand.withStore(databaseOptions, command: "status") { store in
            try await MessageDetail.json(of: id, in: store)
        }
        guard let data else {
            FileHandle.standardError.write(Data("herald status: there is no message \(id)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else if let view = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
            print(Self.describe(view), terminator: "")
        }
    }

    /// The view as lines a person reads.
    static func describe(_ view: [String: Any]) -> String {
        func text(_ key: String, in object: [String: Any] = view) -> String? {
            switch object[key] {
            case let value as String: value
            case let value as NSNumber: value.stringValue
            default: nil
            }
        }
        /// An account by name with its id, or by id once it is gone.
        func account(_ object: [String: Any]) -> String? {
            guard let id = text("account_id", in: object) else { return nil }
            return text("account_name", in: object).map { "\($0) (\(id))" } ?? id
        }
        var lines = [
            "message \(text("id") ?? "?"): \(text("status") ?? "?") (attempts: \(text("retry_count") ?? "0") of \(text("max_attempts") ?? "?"))"
        ]
        let to = (view["to"] as? [String] ?? []).joined(separator: ", ")
        var fields: [(String, String?)] = [
            ("from", text("from")), ("to", to), ("subject", text("subject")), ("template", text("template_code")),
            ("account", account(view)), ("created", text("created_at")), ("send at", text("send_at")),
            ("next try", text("next_attempt_at")), ("sent", text("sent_at")), ("reply", text("smtp_reply")),
        ]
        if let code = text("error_code") { fields.append(("error", "\(code): \(text("error_message") ?? "")")) }
        for case let (name, value?) in fields where !value.isEmpty {
            lines.append("  " + (name + ":").padding(toLength: 10, withPad: " ", startingAt: 0) + value)
        }
        let attempts = view["attempts"] as? [[String: Any]] ?? []
        if !attempts.isEmpty { lines.append("attempts:") }
        for attempt in attempts {
            var parts = [text("number", in: attempt) ?? "?", text("started_at", in: attempt) ?? "", text("outcome", in: attempt) ?? ""]
            if let account = account(attempt) { parts.append("account \(account)") }
            if let code = text("error_code", in: attempt) {
                parts.append("\(text("error_class", in: attempt) ?? "") \(code): \(text("error_message", in: attempt) ?? "")")
            } else if let reply = text("reply", in: attempt) {
                parts.append([text("smtp_code", in: attempt), reply].compactMap { $0 }.joined(separator: " "))
            }
            lines.append("  " + parts.joined(separator: "  "))
        }
        let recipients = view["recipients"] as? [[String: Any]] ?? []
        if !recipients.isEmpty { lines.append("recipients:") }
        for recipient in recipients {
            let reply = [text("smtp_code", in: recipient), text("reply", in: recipient)].compactMap { $0 }.joined(separator: " ")
            lines.append(
                "  \(text("address", in: recipient) ?? "?") (\(text("kind", in: recipient) ?? "")): \(text("outcome", in: recipient) ?? "")"
                    + (reply.isEmpty ? "" : "  \(reply)"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
