/// A parsed JSON value (RFC 8259), as the safetensors header needs it: objects keep their key
/// order, numbers keep their literal text (so integers are read exactly).
enum JSONValue: Equatable {
  case null
  case bool(Bool)
  case number(String)
  case string(String)
  case array([JSONValue])
  case object([JSONMember])

  /// The value as an exact non-negative integer, if it is an integer literal that fits `Int`.
  var nonNegativeInteger: Int? {
    guard case let .number(text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
      return nil
    }
    return Int(text)
  }

  /// A short name of the value's kind, for error messages.
  var kind: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }
}

/// One `"key": value` pair of a JSON object.
struct JSONMember: Equatable {
  var key: String
  var value: JSONValue
}

/// A strict recursive-descent JSON parser over UTF-8 bytes: rejects duplicate keys, trailing
/// garbage (whitespace is allowed), invalid UTF-8, and nesting deeper than `maxDepth`.
struct JSONParser {
  private let bytes: [UInt8]
  private var position: Int
  private let end: Int
  private let maxDepth = 64

  /// Parses `bytes[range]` as one JSON value.
  static func parse(_ bytes: [UInt8], range: Range<Int>) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(bytes: bytes, position: range.lowerBound, end: range.upperBound)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    guard parser.position == parser.end else { throw parser.error("unexpected text after the JSON value") }
    return value
  }

  private init(bytes: [UInt8], position: Int, end: Int) {
    self.bytes = bytes
    self.position = position
    self.end = end
  }

  private func error(_ message: String) -> JSONSyntaxError {
    JSONSyntaxError(message: message, offset: position)
  }

  private mutating func skipWhitespace() {
    while position < end, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
    guard position < end, bytes[position] == byte else { throw error("expected \(what)") }
    position += 1
  }

  private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
    guard position < end else { throw error("unexpected end of JSON") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try parseLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[position])))'")
    }
  }

  private mutating func parseLiteral(_ word: String) throws(JSONSyntaxError) {
    for b in word.utf8 { try expect(b, "'\(word)'") }
  }

  private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    position += 1
    var members: [JSONMember] = []
    var seen = Set<[UInt8]>()  // keys compare as byte strings (NFC and NFD "é" are two keys)
    skipWhitespace()
    if position < end, bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < end, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
      let key = try parseString()
      guard seen.insert(Array(key.utf8)).inserted else { throw error("duplicate key \"\(SafeText.excerpt(key))\"") }
      skipWhitespace()
      try expect(UInt8(ascii: ":"), "':'")
      skipWhitespace()
      members.append(JSONMember(key: key, value: try parseValue(depth: depth + 1)))
      skipWhitespace()
      guard position < end else { throw error("unexpected end of JSON in an object") }
      if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
      try expect(UInt8(ascii: "}"), "',' or '}'")
      return .object(members)
    }
  }

  private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    position += 1
    var items: [JSONValue] = []
    skipWhitespace()
    if position < end, bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(items)
    }
    while true {
      skipWhitespace()
      items.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard position < end else { throw error("unexpected end of JSON in an array") }
      if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
      try expect(UInt8(ascii: "]"), "',' or ']'")
      return .array(items)
    }
  }

  private mutating func parseNumber() throws(JSONSyntaxError) -> String {
    let start = position
    func digits(_ p: inout Int) -> Int {
      let s = p
      while p < end, bytes[p] >= 0x30, bytes[p] <= 0x39 { p += 1 }
      return p - s
    }
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    let intStart = position
    let n = digits(&position)
    guard n > 0 else { throw error("invalid number") }
    if n > 1, bytes[intStart] == UInt8(ascii: "0") { throw error("invalid number (leading zero)") }
    if position < end, bytes[position] == UInt8(ascii: ".") {
      position += 1
      guard digits(&position) > 0 else { throw error("invalid number (no digits after '.')") }
    }
    if position < end, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
      position += 1
      if position < end, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
      guard digits(&position) > 0 else { throw error("invalid number (no exponent digits)") }
    }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
    guard position + 4 <= end else { throw error("truncated \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[position]
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      default: throw error("invalid \\u escape")
      }
      v = v * 16 + d
      position += 1
    }
    return v
  }

  private mutating func parseString() throws(JSONSyntaxError) -> String {
    position += 1
    var out: [UInt8] = []
    while true {
      guard position < end else { throw error("unterminated string") }
      let c = bytes[position]
      position += 1
      switch c {
      case UInt8(ascii: "\""):
        guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return s
      case UInt8(ascii: "\\"):
        guard position < end else { throw error("unterminated escape") }
        let e = bytes[position]
        position += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
          var code = try hex4()
          if (0xD800..<0xDC00).contains(code) {
            guard position + 2 <= end, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
              throw error("unpaired surrogate in \\u escape")
            }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          } else if (0xDC00..<0xE000).contains(code) {
            throw error("unpaired surrogate in \\u escape")
          }
          guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
        }
      case 0x00..<0x20:
        throw error("unescaped control character in a string")
      default:
        out.append(c)
      }
    }
  }
}

/// A JSON syntax error at a byte offset.
struct JSONSyntaxError: Error {
  var message: String
  var offset: Int
}

/// `text` as a JSON string literal: `"` + ``escapeJSON(_:)`` + `"`.
func jsonQuoted(_ text: String) -> String { "\"" + escapeJSON(text) + "\"" }

/// Escapes a string for the inside of a JSON string literal (quotes, backslashes and control
/// characters; RFC 8259 section 7).
public func escapeJSON(_ text: String) -> String {
  var out = ""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out
}
