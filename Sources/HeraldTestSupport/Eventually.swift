/// A condition a test waited for did not hold in time.
public struct ConditionTimeout: Error, CustomStringConvertible {
    public var description: String
}

/// Polls `probe` every 20 ms until it returns a value, and returns it; throws `ConditionTimeout`
/// (failing the test) once `timeout` has passed. Tests wait for conditions this way, never by sleeping.
public func eventually<T>(
    timeout: Duration = .seconds(20), file: StaticString = #filePath, line: UInt = #line, _ probe: () async throws -> T?
) async throws -> T {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if let value = try await probe() { return value }
        if clock.now >= deadline { throw ConditionTimeout(description: "condition not met within \(timeout) at \(file):\(line)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
