/// A template's locale, a BCP 47 tag such as `zh-CN` or `zh-Hant-TW`; `""` is the default variant.
///
/// Tags are compared without regard to case or to `_` against `-` (BCP 47 tags are
/// case-insensitive, and `zh_CN` is a common spelling), so each is kept in one canonical form:
/// the language lower-case, a script title-case, a region upper-case (`zh-hant-tw` is
/// `zh-Hant-TW`).
public enum TemplateLocale {
    public static func canonical(_ locale: String) -> String {
        let subtags = locale.split(whereSeparator: { $0 == "-" || $0 == "_" })
        return subtags.enumerated().map { index, subtag in
            if index == 0 { return subtag.lowercased() }
            if subtag.count == 4, subtag.allSatisfy(\.isLetter) { return subtag.prefix(1).uppercased() + subtag.dropFirst().lowercased() }
            if subtag.count == 2 && subtag.allSatisfy(\.isLetter) || subtag.count == 3 && subtag.allSatisfy(\.isNumber) {
                return subtag.uppercased()
            }
            return subtag.lowercased()
        }
        .joined(separator: "-")
    }

    /// The variants to try for `locale`, most specific first, ending with the default:
    /// `zh-Hant-TW`, `zh-Hant`, `zh`, `""`.
    public static func fallbacks(_ locale: String) -> [String] {
        var subtags = canonical(locale).split(separator: "-").map(String.init)
        var candidates: [String] = []
        while !subtags.isEmpty {
            candidates.append(subtags.joined(separator: "-"))
            subtags.removeLast()
        }
        return candidates + [""]
    }

    /// Whether `locale` can be a tag: up to 35 letters, digits, `-` and `_`; empty for the default.
    public static func isWellFormed(_ locale: String) -> Bool {
        locale.count <= 35 && locale.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }
            && !locale.hasPrefix("-") && !locale.hasPrefix("_")
    }
}
