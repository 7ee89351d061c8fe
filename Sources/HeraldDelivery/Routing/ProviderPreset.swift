import HeraldMIME
import HeraldSMTP
import HeraldStore

/// Host, port, security and rules of a well-known mail provider, so that an account needs only
/// an address and a password (`--provider qq`).
///
/// Each preset cites the provider's own page for its settings.
public struct ProviderPreset: Sendable, Hashable {
    /// Who may appear as the sender.
    public enum SenderRule: Sendable, Hashable {
        /// Any address the provider lets the account send as.
        case any
        /// The envelope sender and the From address must be the login account; the provider
        /// refuses anything else (QQ's "501 mail from address must be same as authorization user").
        case mustBeLogin
    }

    public var name: String
    public var host: String
    public var port: Int
    public var security: AccountSecurity
    public var senderRule: SenderRule
    /// The login when it is not the email address (SendGrid's literal `apikey`).
    public var username: String?
    /// What the user must know, in a sentence (e.g. that an authorisation code is needed).
    public var note: String

    /// Every preset, by name.
    public static let all: [String: ProviderPreset] = Dictionary(uniqueKeysWithValues: presets.map { ($0.name, $0) })

    /// The preset called `name`; `region` is required by `ses` and ignored by the others.
    public static func named(_ name: String, region: String? = nil) throws(DeliveryError) -> ProviderPreset {
        let key = name.lowercased()
        if key == "ses" {
            guard let region, !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                throw DeliveryError(
                    code: "delivery.preset_region_required", errorClass: .permanent,
                    message: "the ses preset needs the AWS region, e.g. us-east-1")
            }
            // https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html: email-smtp.REGION.amazonaws.com, STARTTLS on 587.
            return ProviderPreset(
                name: "ses", host: "email-smtp.\(region.lowercased()).amazonaws.com", port: 587, security: .starttls,
                senderRule: .any, note: "Use SES SMTP credentials (not IAM keys); the From address must be a verified identity.")
        }
        guard let preset = all[key] else {
            throw DeliveryError(
                code: "delivery.unknown_preset", errorClass: .permanent,
                message: "there is no provider preset \(name); known: \((all.keys + ["ses"]).sorted().joined(separator: ", "))")
        }
        return preset
    }

    /// Account settings for this provider with the given address; the caller adds a name and a password.
    public func settings(name: String, email: String, displayName: String? = nil) -> AccountSettings {
        AccountSettings(
            name: name, email: email, displayName: displayName, smtpHost: host, smtpPort: port, security: security,
            username: username, provider: self.name)
    }

    private static let presets: [ProviderPreset] = [
        // https://service.mail.qq.com/detail/0/427: smtp.qq.com, SSL on 465; the password is an authorisation code (授权码).
        ProviderPreset(
            name: "qq", host: "smtp.qq.com", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Log in with the authorisation code (授权码) from QQ Mail's settings, not the QQ password."),
        // https://open.work.weixin.qq.com/help2/pc/19886 (Tencent Exmail client settings): smtp.exmail.qq.com, SSL on 465.
        ProviderPreset(
            name: "exmail", host: "smtp.exmail.qq.com", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Use the client-specific password if the mailbox has secure login enabled."),
        // https://help.mail.163.com/faqDetail.do?code=d7a5dc8471cd0c0e8b4b8f4f8e49998b374173cfe9171305fa1ce630d7f67ac2: smtp.163.com, SSL 465.
        ProviderPreset(
            name: "163", host: "smtp.163.com", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Enable SMTP in the mailbox settings and log in with the authorisation code it gives."),
        // https://help.mail.163.com (NetEase 126 uses the same service): smtp.126.com, SSL 465.
        ProviderPreset(
            name: "126", host: "smtp.126.com", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Enable SMTP in the mailbox settings and log in with the authorisation code it gives."),
        // https://help.mail.163.com (NetEase yeah.net uses the same service): smtp.yeah.net, SSL 465.
        ProviderPreset(
            name: "yeah", host: "smtp.yeah.net", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Enable SMTP in the mailbox settings and log in with the authorisation code it gives."),
        // https://help.aliyun.com/zh/direct-mail/smtp-endpoints: Alibaba Cloud DirectMail, smtpdm.aliyun.com, SSL on 465.
        ProviderPreset(
            name: "aliyun", host: "smtpdm.aliyun.com", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "DirectMail: log in as the configured sender address with its SMTP password."),
        // https://www.feishu.cn/hc/zh-CN/articles/360049068017: smtp.feishu.cn, SSL on 465.
        ProviderPreset(
            name: "feishu", host: "smtp.feishu.cn", port: 465, security: .tls, senderRule: .mustBeLogin,
            note: "Log in with the IMAP/SMTP password generated in Feishu Mail's settings."),
        // https://support.google.com/a/answer/176600: smtp.gmail.com, SSL on 465 (or STARTTLS on 587).
        ProviderPreset(
            name: "gmail", host: "smtp.gmail.com", port: 465, security: .tls, senderRule: .any,
            note: "Log in with an app password; Gmail rewrites a From that is not one of the account's addresses."),
        // https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365:
        // smtp.office365.com, STARTTLS on 587.
        ProviderPreset(
            name: "outlook", host: "smtp.office365.com", port: 587, security: .starttls, senderRule: .any,
            note: "SMTP AUTH must be enabled for the mailbox; sending as another address needs Send As rights."),
        // https://support.apple.com/en-us/102525: smtp.mail.me.com, STARTTLS on 587.
        ProviderPreset(
            name: "icloud", host: "smtp.mail.me.com", port: 587, security: .starttls, senderRule: .any,
            note: "Log in with an app-specific password."),
        // https://help.yahoo.com/kb/SLN4724.html: smtp.mail.yahoo.com, SSL on 465.
        ProviderPreset(
            name: "yahoo", host: "smtp.mail.yahoo.com", port: 465, security: .tls, senderRule: .any,
            note: "Log in with an app password."),
        // https://www.zoho.com/mail/help/zoho-smtp.html: smtp.zoho.com, SSL on 465.
        ProviderPreset(
            name: "zoho", host: "smtp.zoho.com", port: 465, security: .tls, senderRule: .any,
            note: "Use smtp.zoho.eu (or your data centre's host) if the account is not in the US data centre."),
        // https://www.twilio.com/docs/sendgrid/for-developers/sending-email/integrating-with-the-smtp-api:
        // smtp.sendgrid.net, STARTTLS on 587, user "apikey", password an API key.
        ProviderPreset(
            name: "sendgrid", host: "smtp.sendgrid.net", port: 587, security: .starttls, senderRule: .any, username: "apikey",
            note: "The password is a SendGrid API key; the From address must be a verified sender."),
        // https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-smtp: smtp.mailgun.org, STARTTLS on 587.
        ProviderPreset(
            name: "mailgun", host: "smtp.mailgun.org", port: 587, security: .starttls, senderRule: .any,
            note: "Use the domain's SMTP credentials; EU domains use smtp.eu.mailgun.org."),
    ]
}

extension AccountSettings {
    /// A new account's connection settings: a provider preset, whose host, port and security
    /// `host`, `port` and `security` may override, or else `host` with `port` and `security`.
    /// Used by `POST /accounts`, `PUT /accounts/{id}` and `herald accounts add`, which add the rest.
    ///
    /// What is left out follows from what is given: the security from the port (465: tls,
    /// otherwise starttls), the port from the security (tls: 465, otherwise 587). A preset keeps
    /// its own pair unless one of them is overridden; `provider: gmail` with `port: 587` is
    /// STARTTLS on 587, not the preset's implicit TLS on the wrong port.
    ///
    /// A pair that cannot work on a well-known port is refused rather than stored to fail at the
    /// first send: 465 is implicit TLS (RFC 8314), so `starttls` or `none` there waits for a
    /// greeting that never comes ("Unexpected EOF received"); 25 and 587 greet in plain text, so
    /// `tls` there starts a handshake the server does not answer. Any other port takes any
    /// security.
    ///
    /// Throws the preset's error for an unknown provider or a missing region,
    /// `delivery.host_required` when neither a provider nor a host is given,
    /// `delivery.security_contradicts_port` for a pair that cannot work. The callers check the
    /// display name (`displayNameProblem`) beside their other fields.
    public static func forNewAccount(
        provider: String?, region: String?, host: String?, port: Int?, security: AccountSecurity? = nil, name: String, email: String,
        displayName: String?
    ) throws(DeliveryError) -> AccountSettings {
        var settings: AccountSettings
        if let provider {
            settings = try ProviderPreset.named(provider, region: region).settings(name: name, email: email, displayName: displayName)
            if let host { settings.smtpHost = host }
        } else {
            guard let host else {
                throw DeliveryError(
                    code: "delivery.host_required", errorClass: .permanent, message: "an account needs an SMTP host or a provider preset")
            }
            settings = AccountSettings(
                name: name, email: email, displayName: displayName, smtpHost: host, smtpPort: 587, security: .starttls)
        }
        switch (port, security) {
        case (nil, nil):
            break
        case (let port?, nil):
            if port != settings.smtpPort { settings.security = Self.security(forPort: port) }
            settings.smtpPort = port
        case (nil, let security?):
            if Self.contradiction(port: settings.smtpPort, security: security) != nil {
                settings.smtpPort = security == .tls ? 465 : 587
            }
            settings.security = security
        case (let port?, let security?):
            settings.smtpPort = port
            settings.security = security
        }
        if let problem = Self.contradiction(port: settings.smtpPort, security: settings.security) {
            throw DeliveryError(code: "delivery.security_contradicts_port", errorClass: .permanent, message: problem)
        }
        return settings
    }

    /// Why `displayName` cannot be an account's, or nil when it can. It goes into every From
    /// header the account sends, where a line break would end the header and start another.
    public static func displayNameProblem(_ displayName: String?) -> String? {
        guard let displayName, !displayName.isHeaderSafe else { return nil }
        return "must be one line: CR, LF and NUL are not allowed"
    }

    /// What the SMTP client assumes for a port: TLS from the first byte on 465, STARTTLS elsewhere.
    static func security(forPort port: Int) -> AccountSecurity {
        SMTPSecurity.inferred(fromPort: port) == .tls ? .tls : .starttls
    }

    /// Why `security` cannot work on `port`, or nil when it can (or the port is not a well-known one).
    public static func contradiction(port: Int, security: AccountSecurity) -> String? {
        switch (port, security) {
        case (465, .starttls), (465, .none):
            return "port 465 expects TLS from the first byte (implicit TLS); security=\(security.rawValue) would wait for a "
                + "greeting that never comes. Set security=tls, or use port 587 for STARTTLS"
        case (25, .tls), (587, .tls):
            return "port \(port) greets in plain text and upgrades with STARTTLS; security=tls would start a TLS handshake "
                + "the server does not answer. Set security=starttls, or use port 465 for implicit TLS"
        default:
            return nil
        }
    }
}
