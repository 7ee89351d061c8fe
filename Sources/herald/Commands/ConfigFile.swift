import Foundation

/// Herald's configuration file: `HERALD_*` settings as `KEY=VALUE` lines (the environment's
/// names; `#` starts a comment; quotes around a value are removed). It is read before the command
/// line is parsed and fills in only what the environment does not set, so flags win over the
/// environment, which wins over the file.
///
/// The file is `--config PATH`, else `$HERALD_CONFIG`, else `herald.env` in the working folder
/// when it exists.
enum ConfigFile {
    /// A setting that cannot work, from the file or the environment: printed alone, without the
    /// usage that ArgumentParser adds to a `ValidationError`.
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads the file named by `arguments` or the environment into the environment.
    static func load(arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var path: String?
        var explicit = true
        if let index = arguments.firstIndex(of: "--config"), index + 1 < arguments.count {
            path = arguments[index + 1]
        } else if let argument = arguments.first(where: { $0.hasPrefix("--config=") }) {
            path = String(argument.dropFirst("--config=".count))
        } else if let named = environment["HERALD_CONFIG"], !named.isEmpty {
            path = named
        } else if FileManager.default.fileExists(atPath: "herald.env") {
            path = "herald.env"
            explicit = false
        }
        guard let path else { return }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if explicit { throw Problem(description: "herald: cannot read the configuration file \(path)") }
            return
        }
        for (key, value) in try parse(text, path: path) where environment[key] == nil {
            setenv(key, value, 1)
        }
    }

    /// The settings of a file, in order; an unknown or malformed line is an error naming it.
    static func parse(_ text: String, path: String) throws -> [(String, String)] {
        var settings: [(String, String)] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw Problem(description: "herald: \(path):\(number + 1): expected KEY=VALUE")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            guard known.contains(key) else {
                throw Problem(
                    description: "herald: \(path):\(number + 1): unknown setting \(key); known: \(known.sorted().joined(separator: ", "))")
            }
            settings.append((key, value))
        }
        return settings
    }

    /// Checks the settings that must be numbers or names: a typo such as `HERALD_PORT=80800` or
    /// `HERALD_CONCURRENCY=sixteen` is an error naming it, not a silent default.
    static func check(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        for (key, rule) in rules.sorted(by: { $0.key < $1.key }) {
            guard let value = environment[key], !value.isEmpty else { continue }
            if let problem = rule(value.trimmingCharacters(in: .whitespaces)) {
                throw Problem(description: "herald: \(key)=\(value) (from the environment or the configuration file) \(problem)")
            }
        }
    }

    /// For each checked setting: nil when a value is right, else what is wrong with it.
    private static let rules: [String: @Sendable (String) -> String?] = [
        "HERALD_PORT": { whole($0, in: 0...65535, "must be a port number, 0 to 65535 (0 picks a free port)") },
        "HERALD_RATE_LIMIT": { Double($0).map { $0 > 0 && $0.isFinite } == true ? nil : "must be a number of requests per second above 0" },
        "HERALD_CONCURRENCY": { whole($0, in: 1...100_000, "must be a whole number, at least 1") },
        "HERALD_CONCURRENCY_UNDER_LOAD": { whole($0, in: 1...100_000, "must be a whole number, at least 1") },
        "HERALD_CONNECTIONS_PER_ACCOUNT": { whole($0, in: 1...10_000, "must be a whole number, at least 1") },
        "HERALD_SENDS_PER_CONNECTION": { whole($0, in: 1...1_000, "must be a whole number, at least 1") },
        "HERALD_DRAIN_TIMEOUT": { whole($0, in: 0...86_400, "must be a whole number of seconds, 0 or more") },
        "HERALD_LOG_LEVEL": {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            return levels.contains($0.lowercased()) ? nil : "must be one of \(levels.joined(separator: ", "))"
        },
        "HERALD_SQLITE_SYNCHRONOUS": { ["full", "normal"].contains($0.lowercased()) ? nil : "must be full or normal" },
        "HERALD_RETENTION": { WorkerOptions.retentionProblem($0) },
        "HERALD_ALERT_WEBHOOK": { WorkerOptions.webhookProblem($0) },
        "HERALD_SUPPRESS_HARD_BOUNCES": { (truthy.union(falsy)).contains($0.lowercased()) ? nil : "must be true or false" },
    ]

    /// How a yes/no setting may be written (any case).
    private static let truthy: Set<String> = ["true", "1", "yes"]
    private static let falsy: Set<String> = ["false", "0", "no"]

    /// A yes/no setting's value: true, 1 or yes (any case).
    static func isTrue(_ text: String?) -> Bool {
        truthy.contains(text?.lowercased().trimmingCharacters(in: .whitespaces) ?? "")
    }

    private static func whole(_ text: String, in range: ClosedRange<Int>, _ problem: String) -> String? {
        Int(text).map(range.contains) == true ? nil : problem
    }

    /// Every setting the environment (and so the file) can give.
    static let known: Set<String> = [
        "HERALD_HOST", "HERALD_PORT", "HERALD_DATABASE_URL", "HERALD_SECRET_KEY", "HERALD_LOG_LEVEL", "HERALD_RATE_LIMIT",
        "HERALD_SQLITE_SYNCHRONOUS", "HERALD_CONCURRENCY", "HERALD_CONCURRENCY_UNDER_LOAD", "HERALD_CONNECTIONS_PER_ACCOUNT",
        "HERALD_SENDS_PER_CONNECTION", "HERALD_DRAIN_TIMEOUT", "HERALD_ALERT_WEBHOOK", "HERALD_RETENTION", "HERALD_SUPPRESS_HARD_BOUNCES",
    ]
}
