import Crypto
import CryptoExtras
import Foundation
import Testing

@testable import HeraldMIME

@Suite struct DKIMSignerTests {
    static let rsaKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let ed25519Key = Curve25519.Signing.PrivateKey()

    static func signers() throws -> [DKIMSigner] {
        [
            try DKIMSigner(domain: "qq.com", selector: "herald", rsaKey: rsaKey),
            try DKIMSigner(domain: "qq.com", selector: "herald", ed25519Key: ed25519Key),
        ]
    }

    static func signedMessage(_ signer: DKIMSigner) throws -> String {
        var email = try MessageComposerTests.seedEmail()
        email.html = "<p>您好  world </p>\n\n\n"
        email.headers = [try Header(name: "List-Unsubscribe", value: "<mailto:u@qq.com>")]
        return try Fixtures.compose(email, dkim: signer)
    }

    /// dkimpy verifies with the public key handed to it (no DNS).
    static func verify(_ message: String, _ signer: DKIMSigner) throws -> Python.Result {
        let directory = try Python.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("signed.eml")
        try Data(message.utf8).write(to: file)
        return try Python.run("dkim_verify.py", [file.path, signer.dnsRecord])
    }

    @Test func signaturesVerifyWithDkimpyForBothAlgorithms() throws {
        for signer in try Self.signers() {
            let message = try Self.signedMessage(signer)
            #expect(message.hasPrefix("DKIM-Signature: v=1; a=\(signer.algorithm.rawValue); c=relaxed/relaxed; d=qq.com;"))
            let result = try Self.verify(message, signer)
            #expect(result.status == 0, "\(signer.algorithm): \(result.output)")
        }
    }

    @Test func changedBytesBreakTheSignature() throws {
        for signer in try Self.signers() {
            let message = try Self.signedMessage(signer)
            let tampered = message.replacingOccurrences(of: "This is a test email.", with: "This is a test emai1.")
            #expect(tampered != message)
            #expect(try Self.verify(tampered, signer).status == 1)
            let addedFrom = message.replacingOccurrences(of: "\r\nTo: ", with: "\r\nFrom: attacker@evil.example\r\nTo: ")
            #expect(try Self.verify(addedFrom, signer).status == 1, "From is oversigned")
        }
    }

    @Test func fromIsOversignedAndOnlyPresentHeadersAreListed() throws {
        let message = try Self.signedMessage(try Self.signers()[1])
        let field = Fixtures.headers(message).components(separatedBy: "\r\nDate:")[0].replacingOccurrences(of: "\r\n", with: "")
        #expect(field.contains("h=from: from: subject: date: message-id: to: mime-version: content-type: list-unsubscribe;"))
        #expect(Fixtures.headers(message).components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test func relaxedCanonicalizationFollowsRFC6376Example() {
        // RFC 6376 section 3.4.6.
        var headers: [UInt8] = []
        DKIMCanonicalization.relaxedHeader(ArraySlice("A: X".utf8), into: &headers)
        DKIMCanonicalization.relaxedHeader(ArraySlice("B : Y\t\r\n\tZ  ".utf8), into: &headers)
        #expect(String(decoding: headers, as: UTF8.self) == "a:X\r\nb:Y Z\r\n")
        let body = DKIMCanonicalization.relaxedBody(ArraySlice(" C \r\nD \t E\r\n\r\n\r\n".utf8))
        #expect(String(decoding: body, as: UTF8.self) == " C\r\nD E\r\n")
        #expect(DKIMCanonicalization.relaxedBody(ArraySlice("\r\n\r\n".utf8)).isEmpty)
    }

    @Test func keysLoadFromPEM() throws {
        let rsa = try DKIMSigner(domain: "example.com", selector: "s1", privateKeyPEM: Self.rsaKey.pemRepresentation)
        #expect(rsa.algorithm == .rsaSHA256)
        let ed = try DKIMSigner(domain: "example.com", selector: "s1", privateKeyPEM: Self.ed25519Key.pemRepresentation)
        #expect(ed.algorithm == .ed25519SHA256)
        #expect(throws: MIMEError.self) { try DKIMSigner(domain: "example.com", selector: "s1", privateKeyPEM: "not a key") }
        #expect(throws: MIMEError.self) { try DKIMSigner(domain: "bad domain", selector: "s1", ed25519Key: Self.ed25519Key) }
        #expect(throws: MIMEError.self) { try DKIMSigner(domain: "example.com", selector: "s 1", ed25519Key: Self.ed25519Key) }
    }
}
