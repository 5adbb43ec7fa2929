/// NumPy's `.npy` format (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html):
/// the magic string `\x93NUMPY`, a major and minor version byte, the header length (`u16` in
/// version 1.0, `u32` in 2.0 and 3.0, little-endian), then an ASCII header holding a Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a
/// newline so the data starts on a 64-byte boundary, then the raw elements.
///
/// Supported element types: `'<f4'` (float32), `'<f8'` (float64), `'<i4'` (int32) and `'|b1'`
/// (bool), little-endian, C (row-major) order. Fortran order, big-endian data, other dtypes,
/// truncated data, trailing bytes and headers longer than ``maxHeaderLength`` are thrown
/// errors. The writer produces byte-for-byte what `numpy.save` writes for the same array.
public enum NPYFormat {
  /// The longest header accepted when reading, in bytes (NumPy's own `max_header_size`
  /// guard is 10,000 characters).
  public static let maxHeaderLength = 100_000

  private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

  /// The `descr` string of a dtype (`'<f4'`).
  public static func descriptor(of dtype: DType) -> String {
    switch dtype {
    case .float32: "<f4"
    case .float64: "<f8"
    case .int32: "<i4"
    case .bool: "|b1"
    }
  }

  /// The `.npy` bytes of `array`: version 1.0 (2.0 if the header needs more than 65,535 bytes),
  /// with the header NumPy writes (keys sorted, 21 spare spaces minus the digits of the first
  /// dimension so the shape can grow, padded to a 64-byte boundary).
  public static func encode(_ array: NDArray) -> [UInt8] {
    let dims = array.shape.dimensions
    let shapeText: String
    switch dims.count {
    case 0: shapeText = "()"
    case 1: shapeText = "(\(dims[0]),)"
    default: shapeText = "(" + dims.map(String.init).joined(separator: ", ") + ")"
    }
    var header = "{'descr': '\(descriptor(of: array.dtype))', 'fortran_order': False, 'shape': \(shapeText), }"
    if let first = dims.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
    var headerBytes = Array(header.utf8)
    let unpadded = headerBytes.count + 1  // + the final newline
    let versionOnePadding = 64 - (10 + unpadded) % 64
    let version: UInt8 = unpadded + versionOnePadding <= 65_535 ? 1 : 2
    let padding = version == 1 ? versionOnePadding : 64 - (12 + unpadded) % 64
    headerBytes += [UInt8](repeating: 0x20, count: padding)
    headerBytes.append(0x0A)
    var out = magic + [version, 0]
    let length = headerBytes.count
    if version == 1 {
      out += [UInt8(length & 0xFF), UInt8(length >> 8)]
    } else {
      out += (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
    }
    out += headerBytes
    array.withUnsafeRawBytes { out.append(contentsOf: $0) }
    return out
  }

  /// Reads an array from `.npy` bytes (versions 1.0, 2.0 and 3.0).
  /// - Parameter source: the name used in error messages (a path, or `<bytes>`).
  /// - Throws: ``ArrayFileError/malformed(format:source:reason:)`` for a bad magic string,
  ///   header or length, and ``ArrayFileError/unsupported(format:source:reason:)`` for Fortran
  ///   order, big-endian data or an unsupported dtype.
  public static func decode(_ bytes: [UInt8], source: String = "<bytes>") throws(ArrayFileError) -> NDArray {
    func malformed(_ reason: String) -> ArrayFileError { .malformed(format: "npy", source: source, reason: reason) }
    func unsupported(_ reason: String) -> ArrayFileError { .unsupported(format: "npy", source: source, reason: reason) }
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw malformed("it does not start with the magic string \\x93NUMPY")
    }
    let major = bytes[6]
    let headerLength: Int
    let headerStart: Int
    switch major {
    case 1:
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    case 2, 3:
      guard bytes.count >= 12 else { throw malformed("file ends inside the header length") }
      headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
      headerStart = 12
    default:
      throw unsupported("format version \(major).\(bytes[7]) (supported: 1.0, 2.0, 3.0)")
    }
    guard headerLength <= maxHeaderLength else {
      throw malformed("header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes")
    }
    guard headerStart + headerLength <= bytes.count else {
      throw malformed("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
    }
    let headerBytes = Array(bytes[headerStart..<headerStart + headerLength])
    guard major == 3 || headerBytes.allSatisfy({ $0 < 0x80 }) else { throw malformed("header is not ASCII") }
    guard let headerText = String(validating: headerBytes, as: UTF8.self) else {
      throw malformed("header is not valid UTF-8")
    }
    let header: NPYHeader
    do {
      header = try NPYHeaderParser.parse(headerText)
    } catch {
      throw malformed("header \(headerText.trimmingSpaces.debugDescription): \(error.message)")
    }
    if header.fortranOrder {
      throw unsupported("fortran_order is True (only C order is supported; save with np.ascontiguousarray)")
    }
    let dtype: DType
    switch header.descr {
    case "<f4": dtype = .float32
    case "<f8": dtype = .float64
    case "<i4": dtype = .int32
    case "|b1": dtype = .bool
    case ">f4", ">f8", ">i4", ">i8", ">f2", ">u4", ">i2":
      throw unsupported("big-endian dtype '\(header.descr)' (only little-endian is supported)")
    default:
      throw unsupported("dtype '\(header.descr)' (supported: '<f4', '<f8', '<i4', '|b1')")
    }
    var count = 1
    for d in header.shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      guard !overflow else { throw malformed("shape \(header.shape) has too many elements") }
      count = product
    }
    let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else { throw malformed("shape \(header.shape) has too many elements") }
    let dataStart = headerStart + headerLength
    let available = bytes.count - dataStart
    guard available >= byteCount else {
      throw malformed("data is truncated: shape \(header.shape) of \(header.descr) needs \(byteCount) bytes, the file has \(available)")
    }
    guard available == byteCount else {
      throw malformed("\(available - byteCount) unexpected bytes after the \(byteCount) bytes of data")
    }
    return NDArray(littleEndianBytes: bytes, range: dataStart..<dataStart + byteCount, shape: Shape(header.shape), dtype: dtype)
  }
}

extension NDArray {
  /// Creates an array from little-endian raw bytes (bool bytes: any non-zero byte is `true`).
  /// - Precondition: `range.count == shape.elementCount * dtype.byteSize` (checked by callers).
  init(littleEndianBytes bytes: [UInt8], range: Range<Int>, shape: Shape, dtype: DType) {
    self.init(uninitializedShape: shape, dtype: dtype)
    let destination = storage.bytes
    bytes.withUnsafeBytes { raw in
      if dtype == .bool {
        let p = destination.bindMemory(to: Bool.self, capacity: range.count)
        for i in 0..<range.count { (p + i).initialize(to: raw[range.lowerBound + i] != 0) }
      } else if let base = raw.baseAddress, range.count > 0 {
        destination.copyMemory(from: base + range.lowerBound, byteCount: range.count)
      }
    }
  }

  /// Reads a NumPy `.npy` file (see ``NPYFormat``).
  /// - Throws: ``ArrayFileError`` naming the file and the problem.
  public init(npyFile path: String) throws(ArrayFileError) {
    let bytes = try FileIO.readBytes(atPath: path)
    self = try NPYFormat.decode(bytes, source: path)
  }

  /// Writes the array as a NumPy `.npy` file, atomically (see ``FileIO/writeAtomically(_:toPath:)``);
  /// `numpy.load(path)` reads it back.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``.
  public func writeNPY(toPath path: String) throws(ArrayFileError) {
    try FileIO.writeAtomically(NPYFormat.encode(self), toPath: path)
  }
}

/// The three keys of a `.npy` header.
struct NPYHeader {
  var descr: String
  var fortranOrder: Bool
  var shape: [Int]
}

/// A parser for the restricted Python literal of a `.npy` header: a dict with exactly the keys
/// `'descr'` (a string), `'fortran_order'` (`True`/`False`) and `'shape'` (a tuple of
/// non-negative integers), in any order, with optional trailing commas.
struct NPYHeaderParser {
  struct Failure: Error { var message: String }

  private var chars: [Character]
  private var i = 0

  static func parse(_ text: String) throws(Failure) -> NPYHeader {
    var p = NPYHeaderParser(chars: Array(text))
    return try p.parseDict()
  }

  private init(chars: [Character]) { self.chars = chars }

  private mutating func skipSpace() {
    while i < chars.count, chars[i] == " " || chars[i] == "\n" || chars[i] == "\t" || chars[i] == "\r" { i += 1 }
  }

  private mutating func expect(_ c: Character) throws(Failure) {
    skipSpace()
    guard i < chars.count, chars[i] == c else {
      throw Failure(message: "expected '\(c)' at character \(i)")
    }
    i += 1
  }

  private mutating func peek() -> Character? {
    skipSpace()
    return i < chars.count ? chars[i] : nil
  }

  private mutating func parseString() throws(Failure) -> String {
    skipSpace()
    guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else {
      throw Failure(message: "expected a string at character \(i)")
    }
    let quote = chars[i]
    i += 1
    var s = ""
    while i < chars.count, chars[i] != quote {
      if chars[i] == "\\" { throw Failure(message: "escapes are not supported in header strings") }
      s.append(chars[i])
      i += 1
    }
    guard i < chars.count else { throw Failure(message: "unterminated string") }
    i += 1
    return s
  }

  private mutating func parseWord() -> String {
    skipSpace()
    var s = ""
    while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" {
      s.append(chars[i])
      i += 1
    }
    return s
  }

  private mutating func parseShape() throws(Failure) -> [Int] {
    try expect("(")
    var dims: [Int] = []
    while true {
      if peek() == ")" { i += 1; break }
      let word = parseWord()
      guard let d = Int(word), d >= 0, word.allSatisfy({ $0.isASCII && $0.isNumber }) else {
        throw Failure(message: "shape entries must be non-negative integers, got '\(word)'")
      }
      dims.append(d)
      guard dims.count <= 64 else { throw Failure(message: "shape has more than 64 dimensions") }
      if peek() == "," { i += 1; continue }
      try expect(")")
      break
    }
    return dims
  }

  private mutating func parseDict() throws(Failure) -> NPYHeader {
    try expect("{")
    var descr: String?
    var fortran: Bool?
    var shape: [Int]?
    while true {
      if peek() == "}" { i += 1; break }
      let key = try parseString()
      try expect(":")
      switch key {
      case "descr":
        guard descr == nil else { throw Failure(message: "key 'descr' is repeated") }
        guard peek() == "'" || peek() == "\"" else {
          throw Failure(message: "'descr' must be a simple dtype string (structured dtypes are not supported)")
        }
        descr = try parseString()
      case "fortran_order":
        guard fortran == nil else { throw Failure(message: "key 'fortran_order' is repeated") }
        switch parseWord() {
        case "True": fortran = true
        case "False": fortran = false
        case let w: throw Failure(message: "'fortran_order' must be True or False, got '\(w)'")
        }
      case "shape":
        guard shape == nil else { throw Failure(message: "key 'shape' is repeated") }
        shape = try parseShape()
      default:
        throw Failure(message: "unexpected key '\(key)'")
      }
      if peek() == "," { i += 1; continue }
      try expect("}")
      break
    }
    skipSpace()
    guard i == chars.count else { throw Failure(message: "unexpected text after the dict") }
    guard let descr, let fortran, let shape else {
      throw Failure(message: "the header must have the keys 'descr', 'fortran_order' and 'shape'")
    }
    return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
  }
}

extension String {
  /// The string without leading and trailing spaces and newlines.
  var trimmingSpaces: String {
    var s = Substring(self)
    while let f = s.first, f == " " || f == "\n" { s.removeFirst() }
    while let l = s.last, l == " " || l == "\n" { s.removeLast() }
    return String(s)
  }
}
