import Testing

@testable import HeraldMIME

@Suite struct EmailAddressTests {
    @Test(arguments: [
        ("user@example.com", "user", "example.com"),
        ("first.last+tag@Sub.Example.CO.uk", "first.last+tag", "sub.example.co.uk"),
        ("\"john doe\"@example.com", "\"john doe\"", "example.com"),
        ("\"john\"@example.com", "john", "example.com"),
        ("\"a\\\"b\"@example.com", "\"a\\\"b\"", "example.com"),
        ("user@bücher.de", "user", "xn--bcher-kva.de"),
        ("user@München.DE", "user", "xn--mnchen-3ya.de"),
        ("r0@例え.jp", "r0", "xn--r8jz45g.jp"),
        ("user@[192.0.2.1]", "user", "[192.0.2.1]"),
        ("user@[IPv6:2001:DB8::1]", "user", "[IPv6:2001:db8::1]"),
        ("root@localhost", "root", "localhost"),
    ])
    func validAddressesAreKeptInWireForm(input: String, local: String, domain: String) throws {
        let address = try EmailAddress(input)
        #expect(address.localPart == local)
        #expect(address.domain == domain)
        #expect(address.description == "\(local)@\(domain)")
        #expect(!address.requiresSMTPUTF8)
    }

    @Test func internationalisedLocalPartNeedsSMTPUTF8() throws {
        let address = try EmailAddress("用户@例子.测试")
        #expect(address.requiresSMTPUTF8)
        #expect(address.localPart == "用户")
        #expect(address.domain == "xn--fsqu00a.xn--0zwm56d")
    }

    @Test(arguments: [
        "", "no-at-sign", "@example.com", "user@", "a..b@example.com", ".a@example.com", "a.@example.com",
        "user@-bad.com", "user@bad-.com", "user@exa..mple.com", "user@exa mple.com", "user name@example.com",
        "user@example.123", "user@[300.1.1.1]", "user@[1.2.3]", "\"unclosed@example.com", "a\"b@example.com",
        String(repeating: "x", count: 65) + "@example.com", "user@" + String(repeating: "a", count: 64) + ".com",
        "user@exam_ple.com",
    ])
    func invalidAddressesAreRefused(input: String) throws {
        #expect(throws: MIMEError.self) { try EmailAddress(input) }
        do {
            _ = try EmailAddress(input)
        } catch {
            #expect(error.code == .invalidAddress)
            #expect(error.message.contains("is not a valid email address"))
            let rule = try #require(error.rule, "the rule is given alone, for callers that name the address themselves")
            #expect(error.message.hasSuffix(": \(rule)") && !rule.contains(input.prefix(80)), "\(rule)")
        }
    }

    @Test(arguments: ["user@example.com\r\nBcc: x@evil.com", "user\n@example.com", "user@example.com\0"])
    func lineBreaksAndNULAreHeaderInjection(input: String) {
        let expected = MIMEError(
            .headerInjection, "an address contains CR, LF or NUL, which are not allowed in a header",
            rule: "it contains CR, LF or NUL, which are not allowed in a header")
        #expect(throws: expected) { try EmailAddress(input) }
    }
}

@Suite struct MailboxTests {
    @Test(arguments: [
        ("系统通知 <1905985427@qq.com>", "系统通知", "1905985427@qq.com"),
        ("\"Doe, John\" <john@example.com>", "Doe, John", "john@example.com"),
        ("\"A \\\"quoted\\\" name\" <a@example.com>", "A \"quoted\" name", "a@example.com"),
        ("  Plain Name   <plain@example.com> ", "Plain Name", "plain@example.com"),
        ("\"Uses <angles>\" <x@example.com>", "Uses <angles>", "x@example.com"),
    ])
    func parsesNameAndAddress(input: String, name: String, address: String) throws {
        let mailbox = try Mailbox(parsing: input)
        #expect(mailbox.displayName == name)
        #expect(mailbox.address.description == address)
    }

    @Test(arguments: ["<bare@example.com>", "bare@example.com", "\"\" <bare@example.com>"])
    func mailboxWithoutNameHasNone(input: String) throws {
        let mailbox = try Mailbox(parsing: input)
        #expect(mailbox.displayName == nil)
        #expect(mailbox.address.description == "bare@example.com")
    }

    @Test(arguments: ["Name <bad-address>", "Name bad@example.com>", "\"Unterminated <a@example.com>"])
    func malformedMailboxesAreRefused(input: String) {
        #expect(throws: MIMEError.self) { try Mailbox(parsing: input) }
    }

    @Test func displayNameWithLineBreakIsRefused() throws {
        let address = try EmailAddress("a@example.com")
        #expect(throws: MIMEError.self) { try Mailbox(address, displayName: "Support\r\nBcc: victim@example.com") }
        #expect(throws: MIMEError.self) { try Mailbox(parsing: "Support\nBcc: victim@example.com <a@example.com>") }
    }
}

@Suite struct EnvelopeTests {
    @Test func needsARecipient() throws {
        #expect(throws: MIMEError.self) { try Envelope(sender: EmailAddress("a@example.com"), recipients: []) }
    }

    @Test func duplicateRecipientsAreSentOnce() throws {
        let recipients = try ["b@example.com", "B@EXAMPLE.com", "c@example.com"].map(EmailAddress.init)
        let envelope = try Envelope(sender: EmailAddress("a@example.com"), recipients: recipients)
        #expect(envelope.recipients.map(\.description) == ["b@example.com", "c@example.com"])
    }

    @Test func smtputf8IsNeededForAnInternationalisedRecipient() throws {
        let envelope = try Envelope(sender: EmailAddress("a@example.com"), recipients: [EmailAddress("用户@example.com")])
        #expect(envelope.requiresSMTPUTF8)
    }
}
