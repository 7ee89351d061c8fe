import Logging
import NIOCore
import NIOPosix

/// The diagnose probe behind `herald check` and the account test: opens a session step by step,
/// optionally sends a test message, and when the chosen security mode fails tries the others to
/// say which one works. Credentials are used only over TLS (or to loopback) and never reported.
public enum SMTPCheck {
    public struct Request: Sendable {
        public var host: String
        public var port: Int
        /// nil: inferred from the port.
        public var security: SMTPSecurity?
        public var credentials: SMTPCredentials?
        public var trustRootsPEM: String?
        public var verifyCertificates = true
        /// A message to send once logged in (envelope and the bytes DATA carries).
        public var testMessage: (envelope: SMTPEnvelope, message: [UInt8])?
        public var timeouts = SMTPTimeouts.uniform(.seconds(20))

        public init(host: String, port: Int, security: SMTPSecurity? = nil) {
            self.host = host
            self.port = port
            self.security = security
        }
    }

    /// The outcome, step by step, with a one-line verdict.
    public struct Report: Sendable, Codable, Hashable {
        public struct Step: Sendable, Codable, Hashable {
            public let name: String
            public let ok: Bool
            public let milliseconds: Double?
            public let detail: String
        }

        public struct Failure: Sendable, Codable, Hashable {
            public let code: String
            public let classification: String
            public let phase: String
            public let message: String
            public let diagnosis: String?
        }

        public let host: String
        public let port: Int
        public let security: String
        public var steps: [Step] = []
        public var authMechanisms: [String] = []
        public var error: Failure?
        /// The security mode that worked, when the requested one did not.
        public var workingSecurity: String?
        public var ok = false
        public var verdict = ""
        public var recommendation: String?

        /// snake_case, as everything else Herald writes in JSON (the API and `herald check --json`).
        enum CodingKeys: String, CodingKey {
            case host, port, security, steps, error, ok, verdict, recommendation
            case authMechanisms = "auth_mechanisms"
            case workingSecurity = "working_security"
        }
    }

    public static func run(
        _ request: Request, eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "herald.check")
    ) async -> Report {
        let security = request.security ?? .inferred(fromPort: request.port)
        var report = Report(host: request.host, port: request.port, security: security.rawValue)
        let endpoint = "\(request.host):\(request.port)"
        do {
            let connection = try await SMTPConnection.connect(
                configuration(request, security), eventLoopGroup: eventLoopGroup, logger: logger)
            report.steps += connection.steps.map { Report.Step(name: $0.name, ok: true, milliseconds: $0.milliseconds, detail: $0.detail) }
            report.authMechanisms = connection.capabilities.authMechanisms
            if let test = request.testMessage {
                let start = ContinuousClock.now
                do {
                    let result = try await connection.send(test.envelope, message: test.message)
                    let refused = result.refused.map { "\($0.recipient): \($0.reply)" }
                    report.steps.append(
                        Report.Step(
                            name: "send", ok: refused.isEmpty, milliseconds: milliseconds(since: start),
                            detail: ([result.reply.description] + refused.map { "refused \($0)" }).joined(separator: "; ")))
                    if !refused.isEmpty {
                        report.verdict = "FAILED: the test message was refused for some recipients by \(endpoint)."
                        await connection.close()
                        return report
                    }
                } catch {
                    let error = smtpError(error)
                    report.steps.append(
                        Report.Step(name: "send", ok: false, milliseconds: milliseconds(since: start), detail: error.message))
                    report.error = failure(error)
                    report.verdict = "FAILED: \(endpoint) refused the test message (\(error.code))."
                    report.recommendation = error.diagnosis
                    await connection.close()
                    return report
                }
            }
            await connection.close()
            report.ok = true
            let login = request.credentials.map { " and AUTH as \($0.username)" } ?? ""
            report.verdict = "OK: \(endpoint) works with security=\(security.rawValue)\(login)."
            return report
        } catch {
            let error = smtpError(error)
            let detail = error.message + (error.reply.map { " (server: \($0))" } ?? "")
            report.steps.append(Report.Step(name: error.phase.rawValue, ok: false, milliseconds: nil, detail: detail))
            report.error = failure(error)
            report.recommendation = error.diagnosis
            report.verdict = "FAILED: \(endpoint) with security=\(security.rawValue): \(error.message)."
            // Only a failure before the session is established can be the security mode's fault.
            let beforeSession = [.greeting, .tls, .startTLS, .ehlo].contains(error.phase)
            guard error.classification == .tls || (beforeSession && [.network, .timeout].contains(error.classification)) else {
                return report
            }
        }

        // The requested mode failed in a way another mode might not: try the others, without credentials.
        for alternative in SMTPSecurity.allCases where alternative != security {
            var probe = request
            probe.credentials = nil
            probe.testMessage = nil
            // At most 10 s a phase, and never longer than the caller allowed the requested mode.
            probe.timeouts = .uniform(min(request.timeouts.connect, .seconds(10)))
            let start = ContinuousClock.now
            guard
                let connection = try? await SMTPConnection.connect(
                    configuration(probe, alternative), eventLoopGroup: eventLoopGroup, logger: logger)
            else { continue }
            let greeting = connection.greeting?.description ?? "no greeting"
            await connection.close()
            report.steps.append(
                Report.Step(
                    name: "try security=\(alternative.rawValue)", ok: true, milliseconds: milliseconds(since: start),
                    detail: "works: \(greeting)"))
            report.workingSecurity = alternative.rawValue
            report.recommendation = report.recommendation ?? "Set security=\(alternative.rawValue)."
            report.verdict =
                "FAILED: security=\(security.rawValue) does not work with \(endpoint); security=\(alternative.rawValue) does. "
                + "Set security=\(alternative.rawValue)."
            return report
        }
        return report
    }

    static func configuration(_ request: Request, _ security: SMTPSecurity) -> SMTPClientConfiguration {
        var configuration = SMTPClientConfiguration(
            host: request.host, port: request.port, security: security, credentials: request.credentials)
        configuration.trustRootsPEM = request.trustRootsPEM
        configuration.verifyCertificates = request.verifyCertificates
        configuration.timeouts = request.timeouts
        return configuration
    }

    private static func smtpError(_ error: Error) -> SMTPError {
        error as? SMTPError ?? SMTPError(code: "smtp.unexpected", classification: .protocol, phase: .connect, message: "\(error)")
    }

    private static func failure(_ error: SMTPError) -> Report.Failure {
        Report.Failure(
            code: error.code, classification: error.classification.rawValue, phase: error.phase.rawValue, message: error.message,
            diagnosis: error.diagnosis)
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15
    }
}
