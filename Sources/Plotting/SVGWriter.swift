/// A minimal SVG text builder: escapes text and attributes and formats coordinates.
struct SVGWriter {
  private(set) var text = ""
  private var indent = 0

  /// Appends one element line, `<name a="v" .../>` or, with `content`, `<name ...>content</name>`.
  mutating func element(_ name: String, _ attributes: [(String, String)], content: String? = nil) {
    var line = String(repeating: "  ", count: indent) + "<" + name
    for (key, value) in attributes { line += " \(key)=\"\(escapeXML(value))\"" }
    if let content {
      line += ">" + escapeXML(content) + "</" + name + ">\n"
    } else {
      line += "/>\n"
    }
    text += line
  }

  /// Opens `<name ...>` and indents what follows until ``close(_:)``.
  mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
    var line = String(repeating: "  ", count: indent) + "<" + name
    for (key, value) in attributes { line += " \(key)=\"\(escapeXML(value))\"" }
    text += line + ">\n"
    indent += 1
  }

  /// Closes the element opened last.
  mutating func close(_ name: String) {
    indent -= 1
    text += String(repeating: "  ", count: indent) + "</" + name + ">\n"
  }

  /// Appends raw, already well-formed markup.
  mutating func raw(_ markup: String) { text += markup }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values, and drops characters
/// XML 1.0 forbids (control characters other than tab, newline and carriage return).
public func escapeXML(_ text: String) -> String {
  var out = ""
  out.reserveCapacity(text.utf8.count)
  for scalar in text.unicodeScalars {
    switch scalar {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&apos;"
    case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
    default:
      if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
      out.unicodeScalars.append(scalar)
    }
  }
  return out
}

/// A coordinate with at most two decimals and no trailing zeros (`12.5`, `3`).
func coordinate(_ value: Double) -> String { trimZeros(formatFixed(value, decimals: 2)) }
