/// Text from outside (file contents, file names, command-line values) made safe to print in
/// an error message: control characters (C0, DEL, C1, which start terminal escape sequences),
/// bidirectional overrides and U+FFFD are written as `\u{1B}` escapes, and the text is cut to
/// a bounded length with `…` and the original length.
///
/// Every error message of the package that quotes input goes through ``excerpt(_:limit:)``
/// (cells, labels, header names, JSON keys) or ``printable(_:limit:)`` (whole messages, paths),
/// so a crafted file cannot set the terminal's title or fill the screen with a 10 MB line.
public enum SafeText {
  /// `text` with unsafe characters escaped, cut to `limit` characters (default 40):
  /// `"abc\u{1B}]0;pwned…" (10485760 characters)`.
  public static func excerpt(_ text: some StringProtocol, limit: Int = 40) -> String {
    printable(text, limit: limit, keepNewlines: false)
  }

  /// A whole message with unsafe characters escaped (newlines kept when `keepNewlines`), cut to
  /// `limit` characters (default 2000).
  public static func printable(_ text: some StringProtocol, limit: Int = 2000, keepNewlines: Bool = false) -> String {
    var out = ""
    var count = 0
    var total = 0
    for scalar in text.unicodeScalars {
      total += 1
      if count >= limit { continue }
      count += 1
      if isUnsafe(scalar) && !(keepNewlines && scalar == "\n") {
        out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    if total > limit { out += "… (\(total) characters)" }
    return out
  }

  /// Whether `scalar` is escaped: C0 controls (tab included), DEL, C1 controls, bidirectional
  /// embeddings/overrides/isolates, the line and paragraph separators, and U+FFFD (what invalid
  /// UTF-8 decodes to).
  public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0..<0x20, 0x7F...0x9F, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFFFD: true
    default: false
    }
  }
}
