// herald-bench NAME: Herald's benchmarks. Each prints a table and, last, one line of key=value pairs.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())

extension [String] {
    /// The argument after `flag` (`--count 100`), if any.
    func value(of flag: String) -> String? {
        firstIndex(of: flag).flatMap { $0 + 1 < count ? self[$0 + 1] : nil }
    }
}
let usage =
    "usage: herald-bench mime [--count N] [--python-count N] | smtp [--count N] "
    + "| queue [--count N] [--large N] [--only sqlite|postgres] | e2e [--count N] [--only sqlite|postgres]\n"
    + "       herald-bench load --port N --key KEY [--rate R] [--seconds S]  (the e2e fixed rate against a running server)\n"
if arguments.contains("--help") || arguments.contains("-h") {
    print(usage, terminator: "")
    exit(0)
}
do {
    switch arguments.first {
    case "mime":
        try MIMEBenchmark(arguments: Array(arguments.dropFirst())).run()
    case "smtp":
        try await SMTPBenchmark(arguments: Array(arguments.dropFirst())).run()
    case "store-micro":
        try await StoreMicroBenchmark().run()
    case "e2e":
        try await E2EBenchmark(arguments: Array(arguments.dropFirst())).run()
    case "load":
        try await E2EBenchmark(arguments: []).load(arguments: Array(arguments.dropFirst()))
    case "queue":
        try await QueueBenchmark(arguments: Array(arguments.dropFirst())).run()
    default:
        FileHandle.standardError.write(Data(usage.utf8))
        exit(2)
    }
} catch {
    // A benchmark that cannot finish says why in one line rather than with a crash report.
    FileHandle.standardError.write(Data("herald-bench: \(error)\n".utf8))
    exit(1)
}
