import NIOCore
import NIOTestUtils
import Testing

@testable import HeraldSMTP

@Suite struct SMTPReplyDecoderTests {
    /// Feeds every input whole and byte by byte (swift-nio's verifier), and checks the replies.
    func verify(_ pairs: [(String, [SMTPReply])]) throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: pairs, decoderFactory: { SMTPReplyDecoder() })
    }

    @Test func singleAndMultiLineReplies() throws {
        try verify([
            ("220 smtp.qq.com Esmtp QQ Mail Server\r\n", [SMTPReply(code: 220, lines: ["smtp.qq.com Esmtp QQ Mail Server"])]),
            (
                "250-smtp.qq.com\r\n250-PIPELINING\r\n250-SIZE 73400320\r\n250 AUTH LOGIN PLAIN\r\n",
                [SMTPReply(code: 250, lines: ["smtp.qq.com", "PIPELINING", "SIZE 73400320", "AUTH LOGIN PLAIN"])]
            ),
            ("250\r\n", [SMTPReply(code: 250, lines: [""])]),
            ("354 go ahead\n", [SMTPReply(code: 354, lines: ["go ahead"])]),
            ("250 ok\r\n221 bye\r\n", [SMTPReply(code: 250, lines: ["ok"]), SMTPReply(code: 221, lines: ["bye"])]),
        ])
    }

    @Test func enhancedStatusCodeIsKeptBesideTheBasicCode() throws {
        let reply = SMTPReply(code: 550, lines: ["5.1.1 <nobody@qq.com>: Recipient address rejected", "5.1.1 more"])
        #expect(reply.enhancedCode == EnhancedStatusCode(statusClass: 5, subject: 1, detail: 1))
        #expect(reply.lines == ["<nobody@qq.com>: Recipient address rejected", "more"])
        #expect(reply.description == "550 5.1.1 <nobody@qq.com>: Recipient address rejected")
        #expect(SMTPReply(code: 250, lines: ["5.1.1 mismatched class"]).enhancedCode == nil)
        #expect(SMTPReply(code: 250, lines: ["2.0.0"]).enhancedCode?.description == "2.0.0")
    }

    @Test(
        arguments: [
            ("5.7.1 denied", 550, "5.7.1", "denied"), ("4.2.100   later", 451, "4.2.100", "later"), ("5.01.1 x", 550, "5.1.1", "x"),
            ("2.0.0", 250, "2.0.0", ""), ("5.1.1234 x", 550, nil, "5.1.1234 x"), ("5..1 x", 550, nil, "5..1 x"),
            ("5.1. x", 550, nil, "5.1. x"), ("5.1.1.1 x", 550, nil, "5.1.1.1 x"), ("x5.1.1 y", 550, nil, "x5.1.1 y"),
            ("5.+1.1 x", 550, nil, "5.+1.1 x"), ("3.1.1 x", 354, nil, "3.1.1 x"), ("5.7.1\tdenied", 550, nil, "5.7.1\tdenied"),
            ("邮件 5.7.1", 550, nil, "邮件 5.7.1"),
        ] as [(String, Int, String?, String)])
    func enhancedCodesAreReadOnlyWhenWellFormed(line: String, code: Int, enhanced: String?, text: String) {
        let reply = SMTPReply(code: code, lines: [line])
        #expect(reply.enhancedCode?.description == enhanced)
        #expect(reply.lines == [text])
    }

    @Test func laterLinesLoseTheCodeOnlyWhenTheyRepeatIt() {
        let reply = SMTPReply(code: 550, lines: ["5.1.1 first", "5.1.1  second", "5.1.10 other", "5.1.1", "no code"])
        #expect(reply.lines == ["first", "second", "5.1.10 other", "", "no code"])
    }

    @Test(arguments: [
        "hello\r\n", "2x0 bad\r\n", "250-first\r\n251 second\r\n", "250*weird\r\n", "999 out of range\r\n",
    ])
    func malformedRepliesAreProtocolErrors(input: String) {
        var decoder = SMTPReplyDecoder()
        var buffer = ByteBuffer(string: input)
        #expect(throws: SMTPError.self) {
            while try decoder.decode(buffer: &buffer) != nil {}
        }
    }

    @Test func overlongLinesAndRepliesAreRefused() {
        var decoder = SMTPReplyDecoder()
        var buffer = ByteBuffer(string: "250 " + String(repeating: "x", count: SMTPReplyDecoder.maxLineLength + 10))
        #expect(throws: SMTPError.self) { _ = try decoder.decode(buffer: &buffer) }
        var many = SMTPReplyDecoder()
        var lines = ByteBuffer(string: String(repeating: "250-x\r\n", count: SMTPReplyDecoder.maxLines + 1))
        #expect(throws: SMTPError.self) { _ = try many.decode(buffer: &lines) }
    }
}

@Suite struct DotStuffingTests {
    func stuffed(_ text: String) -> String {
        var buffer = ByteBuffer()
        DotStuffing.write(Array(text.utf8), into: &buffer)
        return String(buffer: buffer)
    }

    @Test func leadingDotsAreDoubledAndLineBreaksBecomeCRLF() {
        #expect(stuffed(".hidden\r\nmiddle.dot\n.\r\n..two") == "..hidden\r\nmiddle.dot\r\n..\r\n...two\r\n.\r\n")
        #expect(stuffed("bare\rcr") == "bare\r\ncr\r\n.\r\n")
        #expect(stuffed("ends with crlf\r\n") == "ends with crlf\r\n.\r\n")
        #expect(stuffed("") == ".\r\n")
    }

    @Test func commandsRefuseLineBreaksInArguments() {
        #expect(throws: SMTPError.self) { try SMTPEnvelope(sender: "a@example.com\r\nRCPT TO:<x@evil.com>", recipients: ["b@example.com"]) }
        #expect(throws: SMTPError.self) { try SMTPEnvelope(sender: "a@example.com", recipients: ["b@example.com\n"]) }
        #expect(throws: SMTPError.self) { try SMTPEnvelope(sender: "a@example.com", recipients: ["b\0@example.com"]) }
        #expect(throws: SMTPError.self) { try SMTPEnvelope(sender: "a@example.com", recipients: []) }
    }
}
