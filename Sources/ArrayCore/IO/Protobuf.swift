/// A small Protocol Buffers wire-format encoder, enough to write TensorFlow's and ONNX's
/// messages by hand (field numbers from their `.proto` files, noted where the messages are
/// built). The wire format (https://protobuf.dev/programming-guides/encoding/): each field is a
/// key `(field number << 3) | wire type` as a varint, then its value — wire type 0 a varint,
/// 1 eight little-endian bytes, 2 a varint length and that many bytes (strings, bytes, nested
/// messages, packed repeated numbers), 5 four little-endian bytes.
///
/// ```swift
/// var m = ProtobufWriter()
/// m.double(1, 1.5e9)          // Event.wall_time
/// m.int64(2, 7)               // Event.step
/// m.string(3, "brain.Event:2")
/// let bytes = m.bytes
/// ```
public struct ProtobufWriter: Sendable {
  /// The message's bytes so far.
  public private(set) var bytes: [UInt8] = []

  /// Creates an empty message.
  public init() {}

  /// Appends a varint (7 bits a byte, least significant group first, high bit = more).
  public mutating func appendVarint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7f) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  private mutating func key(_ field: Int, _ wireType: UInt64) {
    appendVarint(UInt64(field) << 3 | wireType)
  }

  /// A `uint64`/`uint32`/enum field (wire type 0).
  public mutating func varint(_ field: Int, _ value: UInt64) {
    key(field, 0)
    appendVarint(value)
  }
  /// An `int64`/`int32` field: negative values are their 64-bit two's complement (ten bytes).
  public mutating func int64(_ field: Int, _ value: Int64) { varint(field, UInt64(bitPattern: value)) }
  /// A `bool` field: 0 or 1.
  public mutating func bool(_ field: Int, _ value: Bool) { varint(field, value ? 1 : 0) }
  /// A `fixed64` field (wire type 1).
  public mutating func fixed64(_ field: Int, _ value: UInt64) {
    key(field, 1)
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
  }
  /// A `fixed32` field (wire type 5).
  public mutating func fixed32(_ field: Int, _ value: UInt32) {
    key(field, 5)
    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
  }
  /// A `double` field: its IEEE bits as fixed64.
  public mutating func double(_ field: Int, _ value: Double) { fixed64(field, value.bitPattern) }
  /// A `float` field: its IEEE bits as fixed32.
  public mutating func float(_ field: Int, _ value: Float) { fixed32(field, value.bitPattern) }
  /// A `bytes` field (wire type 2).
  public mutating func bytes(_ field: Int, _ value: [UInt8]) {
    key(field, 2)
    appendVarint(UInt64(value.count))
    bytes.append(contentsOf: value)
  }
  /// A `string` field: its UTF-8 bytes.
  public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }
  /// A nested message field.
  public mutating func message(_ field: Int, _ value: ProtobufWriter) { bytes(field, value.bytes) }
  /// A nested message field built by `body`.
  public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) throws -> Void) rethrows {
    var m = ProtobufWriter()
    try body(&m)
    bytes(field, m.bytes)
  }
  /// A packed `repeated double` field (one length-delimited run of fixed64 values).
  public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
    var m = ProtobufWriter()
    for v in values { for i in 0..<8 { m.bytes.append(UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt64(i)))) } }
    bytes(field, m.bytes)
  }
  /// A packed `repeated float` field.
  public mutating func packedFloats(_ field: Int, _ values: [Float]) {
    var m = ProtobufWriter()
    for v in values { for i in 0..<4 { m.bytes.append(UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32(i)))) } }
    bytes(field, m.bytes)
  }
  /// A packed `repeated int64`/`int32`/enum field (varints).
  public mutating func packedInts(_ field: Int, _ values: [Int64]) {
    var m = ProtobufWriter()
    for v in values { m.appendVarint(UInt64(bitPattern: v)) }
    bytes(field, m.bytes)
  }
}

/// One field read by ``ProtobufReader``.
public struct ProtobufField: Sendable {
  /// A field's value, by wire type.
  public enum Value: Sendable {
    /// Wire type 0.
    case varint(UInt64)
    /// Wire type 1.
    case fixed64(UInt64)
    /// Wire type 2: the bytes (a string, bytes, a nested message or a packed run).
    case bytes(ArraySlice<UInt8>)
    /// Wire type 5.
    case fixed32(UInt32)
  }
  /// The field number.
  public var number: Int
  /// The value.
  public var value: Value

  /// The value as an integer (varint, fixed64 or fixed32), truncated to `Int64`.
  public var integer: Int64? {
    switch value {
    case let .varint(v), let .fixed64(v): Int64(bitPattern: v)
    case let .fixed32(v): Int64(v)
    case .bytes: nil
    }
  }
  /// The value as a `double` (fixed64).
  public var double: Double? { if case let .fixed64(v) = value { Double(bitPattern: v) } else { nil } }
  /// The value as a `float` (fixed32).
  public var float: Float? { if case let .fixed32(v) = value { Float(bitPattern: v) } else { nil } }
  /// The value's bytes (wire type 2).
  public var data: ArraySlice<UInt8>? { if case let .bytes(b) = value { b } else { nil } }
  /// The value as UTF-8 text (wire type 2; invalid sequences become U+FFFD).
  public var string: String? { data.map { String(decoding: $0, as: UTF8.self) } }
}

/// A bounds-checked Protocol Buffers wire-format reader: iterates over a message's fields and
/// throws ``ArrayFileError/malformed(format:source:reason:)`` for truncated input, varints
/// longer than ten bytes, lengths past the end, group or unknown wire types, or field number 0.
/// It never traps on any input (fuzzed by `Fuzz/Sources/FuzzProtobuf`).
public struct ProtobufReader: Sendable {
  let bytes: ArraySlice<UInt8>
  var position: Int
  /// The format named in errors (`GraphDef`, `Event`).
  public let format: String
  /// The source named in errors (a file name or `<bytes>`).
  public let source: String

  /// Reads the fields of `bytes`.
  public init(_ bytes: ArraySlice<UInt8>, format: String, source: String = "<bytes>") {
    self.bytes = bytes
    self.position = bytes.startIndex
    self.format = format
    self.source = source
  }

  /// Reads the fields of `bytes`.
  public init(_ bytes: [UInt8], format: String, source: String = "<bytes>") {
    self.init(bytes[...], format: format, source: source)
  }

  /// The error for a malformed message, naming the format and source.
  public func fail(_ reason: String) -> ArrayFileError { .malformed(format: format, source: source, reason: reason) }

  mutating func readVarint() throws(ArrayFileError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard position < bytes.endIndex else { throw fail("truncated varint at byte \(position - bytes.startIndex)") }
      let b = bytes[position]
      position += 1
      if shift == 63 && b > 1 { throw fail("varint longer than 64 bits at byte \(position - bytes.startIndex)") }
      result |= UInt64(b & 0x7f) << shift
      if b & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw fail("varint longer than ten bytes at byte \(position - bytes.startIndex)") }
    }
  }

  mutating func readFixed(_ count: Int) throws(ArrayFileError) -> UInt64 {
    guard bytes.endIndex - position >= count else { throw fail("truncated \(count * 8)-bit field") }
    var v: UInt64 = 0
    for i in 0..<count { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
    position += count
    return v
  }

  /// The next field, or `nil` at the end of the message.
  public mutating func next() throws(ArrayFileError) -> ProtobufField? {
    guard position < bytes.endIndex else { return nil }
    let key = try readVarint()
    let number = key >> 3
    guard number > 0, number < 1 << 29 else { throw fail("invalid field number \(number)") }
    switch key & 7 {
    case 0: return ProtobufField(number: Int(number), value: .varint(try readVarint()))
    case 1: return ProtobufField(number: Int(number), value: .fixed64(try readFixed(8)))
    case 2:
      let length = try readVarint()
      guard length <= UInt64(bytes.endIndex - position) else {
        throw fail("field \(number) claims \(length) bytes but only \(bytes.endIndex - position) remain")
      }
      let start = position
      position += Int(length)
      return ProtobufField(number: Int(number), value: .bytes(bytes[start..<position]))
    case 5: return ProtobufField(number: Int(number), value: .fixed32(UInt32(try readFixed(4))))
    case let t: throw fail("unsupported wire type \(t) for field \(number)")
    }
  }

  /// Every field of the message, in order.
  public mutating func fields() throws(ArrayFileError) -> [ProtobufField] {
    var out: [ProtobufField] = []
    while let f = try next() { out.append(f) }
    return out
  }

  /// A reader for a nested message's bytes, with the same format and source in its errors.
  public func nested(_ data: ArraySlice<UInt8>, format: String? = nil) -> ProtobufReader {
    ProtobufReader(data, format: format ?? self.format, source: source)
  }

  /// Decodes a packed (or single) repeated varint field's values.
  public func packedVarints(_ field: ProtobufField) throws(ArrayFileError) -> [Int64] {
    switch field.value {
    case let .bytes(data):
      var r = nested(data)
      var out: [Int64] = []
      while r.position < r.bytes.endIndex { out.append(Int64(bitPattern: try r.readVarint())) }
      return out
    default: return field.integer.map { [$0] } ?? []
    }
  }

  /// Decodes a packed (or single) repeated `float` field's values.
  public func packedFloats(_ field: ProtobufField) throws(ArrayFileError) -> [Float] {
    switch field.value {
    case let .bytes(data):
      guard data.count % 4 == 0 else { throw fail("packed float field \(field.number) has \(data.count) bytes") }
      var r = nested(data)
      var out: [Float] = []
      while r.position < r.bytes.endIndex { out.append(Float(bitPattern: UInt32(try r.readFixed(4)))) }
      return out
    case let .fixed32(v): return [Float(bitPattern: v)]
    default: throw fail("field \(field.number) is not a float")
    }
  }

  /// Decodes a packed (or single) repeated `double` field's values.
  public func packedDoubles(_ field: ProtobufField) throws(ArrayFileError) -> [Double] {
    switch field.value {
    case let .bytes(data):
      guard data.count % 8 == 0 else { throw fail("packed double field \(field.number) has \(data.count) bytes") }
      var r = nested(data)
      var out: [Double] = []
      while r.position < r.bytes.endIndex { out.append(Double(bitPattern: try r.readFixed(8))) }
      return out
    case let .fixed64(v): return [Double(bitPattern: v)]
    default: throw fail("field \(field.number) is not a double")
    }
  }
}
