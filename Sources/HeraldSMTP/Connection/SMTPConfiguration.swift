import NIOSSL

/// How the connection is secured: one value, never two contradicting booleans.
public enum SMTPSecurity: String, Sendable, Hashable, CaseIterable {
    /// Implicit TLS from the first byte (RFC 8314; port 465).
    case tls
    /// Plain connect, then STARTTLS, required: the session stops before AUTH if it fails (RFC 3207).
    case startTLS = "starttls"
    /// Plaintext (`none` in configuration). AUTH over it only to a loopback host or when explicitly
    /// allowed. Not named `none`, which would read as `Optional.none` where a mode is optional.
    case plaintext = "none"

    /// The mode a port implies when none is given: 465 is implicit TLS, anything else STARTTLS.
    public static func inferred(fromPort port: Int) -> SMTPSecurity { port == 465 ? .tls : .startTLS }
}

/// Credentials for AUTH (RFC 4954). Never printed: `description` hides the secret.
public enum SMTPCredentials: Sendable, Hashable, CustomStringConvertible {
    /// AUTH PLAIN or LOGIN.
    case password(username: String, password: String)
    /// AUTH XOAUTH2 with a bearer token.
    case oauth2(username: String, accessToken: String)

    public var username: String {
        switch self {
        case .password(let username, _), .oauth2(let username, _): return username
        }
    }

    public var description: String { "credentials for \(username) (secret hidden)" }
}

/// Per-phase timeouts; defaults follow RFC 5321 4.5.3.2.
public struct SMTPTimeouts: Sendable, Hashable {
    /// TCP connect.
    public var connect: Duration = .seconds(30)
    /// The TLS handshake (implicit TLS or after STARTTLS).
    public var tlsHandshake: Duration = .seconds(30)
    /// The 220 greeting: 5 minutes by RFC 5321.
    public var greeting: Duration = .seconds(300)
    /// EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET, NOOP: 5 minutes.
    public var command: Duration = .seconds(300)
    /// DATA's 354: 2 minutes.
    public var dataInitiation: Duration = .seconds(120)
    /// Sending the content and reading the reply to the final dot: 3 + 10 minutes.
    public var dataTermination: Duration = .seconds(780)
    /// After this long without a greeting, a side probe checks whether the port expects implicit
    /// TLS, so that mistake is reported in seconds rather than after the greeting timeout.
    public var silentGreetingProbe: Duration = .seconds(3)

    public init() {}

    /// The same timeout for every phase (tests, `herald check`).
    public static func uniform(_ duration: Duration) -> SMTPTimeouts {
        var timeouts = SMTPTimeouts()
        timeouts.connect = duration
        timeouts.tlsHandshake = duration
        timeouts.greeting = duration
        timeouts.command = duration
        timeouts.dataInitiation = duration
        timeouts.dataTermination = duration
        return timeouts
    }
}

/// Everything needed to open a session with one server.
public struct SMTPClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var security: SMTPSecurity
    public var credentials: SMTPCredentials?
    /// Verify the server's certificate chain and host name (the default).
    public var verifyCertificates: Bool = true
    /// Extra trust roots, PEM (a private CA); the system's roots are used when nil.
    public var trustRootsPEM: String?
    /// Allow AUTH over `security = none` to a non-loopback host.
    public var allowPlaintextAuth: Bool = false
    /// The name sent in EHLO/HELO.
    public var localHostname: String = "localhost"
    public var timeouts = SMTPTimeouts()

    /// A configuration; `security` is inferred from the port when nil.
    public init(host: String, port: Int = 587, security: SMTPSecurity? = nil, credentials: SMTPCredentials? = nil) {
        self.host = host
        self.port = port
        self.security = security ?? .inferred(fromPort: port)
        self.credentials = credentials
    }

    /// Throws `smtp.invalid_ca` unless `pem` holds at least one certificate and every
    /// `CERTIFICATE` block in it reads: a CA is checked when an account is saved, not found
    /// broken at its first send.
    public static func checkTrustRoots(_ pem: String) throws(SMTPError) {
        _ = try trustRoots(fromPEM: pem)
    }

    static func trustRoots(fromPEM pem: String) throws(SMTPError) -> [NIOSSLCertificate] {
        do {
            return try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw SMTPError(
                code: "smtp.invalid_ca", classification: .tls, phase: .connect,
                message: "the CA certificate (PEM) could not be read: give one or more -----BEGIN CERTIFICATE----- blocks")
        }
    }

    /// True for `localhost` and loopback literals, where plaintext AUTH is allowed by default.
    public var hostIsLoopback: Bool {
        let host = host.lowercased()
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }
}
