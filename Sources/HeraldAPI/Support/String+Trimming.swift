extension String {
    /// Without leading and trailing white space and line breaks (Unicode's White_Space property,
    /// as `CharacterSet.whitespacesAndNewlines`). Foundation's `trimmingCharacters(in:)` bridges
    /// to `NSString` on Linux, which cost about 4% of a send request.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
