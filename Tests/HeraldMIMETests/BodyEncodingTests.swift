import Testing

@testable import HeraldMIME

@Suite struct BodyEncodingTests {
    func encoded(_ text: String) -> (BodyPart.TransferEncoding, String) {
        let part = BodyPart.text(text, subtype: "plain")
        return (part.transferEncoding, String(decoding: part.content, as: UTF8.self))
    }

    @Test func asciiTextIsSevenBitWithCRLF() {
        #expect(encoded("one\ntwo\r\nthree\rfour") == (.sevenBit, "one\r\ntwo\r\nthree\r\nfour\r\n"))
    }

    @Test func mostlyASCIITextIsQuotedPrintable() {
        #expect(
            encoded("Héllo wörld, this is a longer line of mostly ASCII text.\n")
                == (.quotedPrintable, "H=C3=A9llo w=C3=B6rld, this is a longer line of mostly ASCII text.\r\n"))
    }

    @Test func quotedPrintableSoftBreaksAt76AndEncodesTrailingSpace() {
        let (encoding, content) = encoded(String(repeating: "a", count: 100) + "é\né \nx=y")
        #expect(encoding == .quotedPrintable)
        #expect(
            content
                == String(repeating: "a", count: 75) + "=\r\n" + String(repeating: "a", count: 25) + "=C3=A9\r\n"
                + "=C3=A9=20\r\nx=3Dy\r\n")
    }

    @Test func chineseTextIsBase64In76CharacterLines() {
        let (encoding, content) = encoded(String(repeating: "您好，世界。", count: 10))
        #expect(encoding == .base64)
        let lines = content.components(separatedBy: "\r\n").dropLast()
        #expect(lines.map(\.count) == [76, 76, 76, 12])
        #expect(lines.dropLast().allSatisfy { $0.count == 76 })
        #expect(lines.first == "5oKo5aW977yM5LiW55WM44CC5oKo5aW977yM5LiW55WM44CC5oKo5aW977yM5LiW55WM44CC5oKo")
    }

    @Test func asciiLineOver998OctetsIsNotSentAsSevenBit() {
        let (encoding, content) = encoded(String(repeating: "x", count: 5000))
        #expect(encoding != .sevenBit)
        #expect(content.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 76 })
    }

    @Test func base64EncoderMatchesRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (input, output) in vectors {
            #expect(Base64.string(Array(input.utf8)) == output)
        }
    }
}
