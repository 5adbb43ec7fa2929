/// Named arrays in the safetensors format (https://github.com/huggingface/safetensors), the
/// pickle-free tensor file that PyTorch, JAX, MLX and `safetensors.numpy` read and write:
///
/// ```text
/// [8 bytes: N, little-endian u64] [N bytes: JSON header] [data buffer]
/// header = {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
///           "__metadata__": {"key": "value", ...}}   (the metadata is optional)
/// ```
///
/// Offsets are relative to the start of the data buffer; data is little-endian, row-major.
/// Supported dtypes: `F32`, `F64`, `I32`, `BOOL`.
///
/// The reader follows the reference implementation's checks: header length at most
/// ``maxHeaderLength`` and inside the file, valid UTF-8 JSON without duplicate keys, known
/// dtypes, each tensor's byte range equal to its element count times its element size,
/// ranges contiguous and non-overlapping, and the data buffer covered exactly.
/// The writer sorts tensors by name (UTF-8 byte order) so equal contents give identical files,
/// and pads the header with spaces to a multiple of 8 bytes.
///
/// ```swift
/// let file = SafetensorsFile(tensors: ["w": w, "b": b], metadata: ["layers": "64,128,10"])
/// try file.write(toPath: "model.safetensors")
/// let back = try SafetensorsFile(contentsOfFile: "model.safetensors")
/// ```
public struct SafetensorsFile: Sendable, Equatable {
  /// The largest header accepted when reading, in bytes (the reference implementation's limit).
  public static let maxHeaderLength = 100_000_000

  /// The arrays, by name.
  public var tensors: [String: NDArray]
  /// Free-form string metadata (the header's `__metadata__`).
  public var metadata: [String: String]

  /// Creates a file's contents from named arrays and metadata.
  public init(tensors: [String: NDArray] = [:], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.metadata = metadata
  }

  /// The safetensors dtype name of a dtype (`F32`).
  public static func dtypeName(_ dtype: DType) -> String {
    switch dtype {
    case .float32: "F32"
    case .float64: "F64"
    case .int32: "I32"
    case .bool: "BOOL"
    }
  }

  /// The tensor whose name is byte for byte `name` (the format compares names as byte strings;
  /// Swift's `String` equality, used by ``tensors``' subscript, treats canonically equivalent
  /// names such as NFC and NFD "é" as one).
  public func tensor(named name: String) -> NDArray? {
    guard let index = tensors.index(forKey: name), tensors[index].key.utf8.elementsEqual(name.utf8) else { return nil }
    return tensors[index].value
  }

  /// The tensor names in file order: sorted by their UTF-8 bytes.
  public var sortedNames: [String] {
    tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  }

  /// The file's bytes.
  /// - Throws: ``ArrayFileError/invalidArgument(format:reason:)`` for the reserved name
  ///   `__metadata__` or an empty name.
  public func encoded() throws(ArrayFileError) -> [UInt8] {
    var entries: [String] = []
    if !metadata.isEmpty {
      let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      let pairs = keys.map { jsonQuoted($0) + ":" + jsonQuoted(metadata[$0] ?? "") }
      entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
    }
    var offset = 0
    let names = sortedNames
    for name in names {
      guard !name.isEmpty else { throw .invalidArgument(format: "safetensors", reason: "a tensor name is empty") }
      guard name != "__metadata__" else {
        throw .invalidArgument(format: "safetensors", reason: "the tensor name '__metadata__' is reserved")
      }
      guard let array = tensors[name] else { continue }
      let size = array.elementCount * array.dtype.byteSize
      let shape = "[" + array.shape.dimensions.map(String.init).joined(separator: ",") + "]"
      entries.append(
        jsonQuoted(name) + ":{\"dtype\":\"\(Self.dtypeName(array.dtype))\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + size)]}")
      offset += size
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
    var out = (0..<8).map { UInt8((UInt64(header.count) >> (8 * UInt64($0))) & 0xFF) }
    out.reserveCapacity(8 + header.count + offset)
    out += header
    for name in names {
      tensors[name]?.withUnsafeRawBytes { out.append(contentsOf: $0) }
    }
    return out
  }

  /// Writes the file atomically (see ``FileIO/writeAtomically(_:toPath:)``).
  /// - Throws: ``ArrayFileError``.
  public func write(toPath path: String) throws(ArrayFileError) {
    try FileIO.writeAtomically(encoded(), toPath: path)
  }

  /// Reads a safetensors file.
  /// - Throws: ``ArrayFileError`` naming the file and the problem.
  public init(contentsOfFile path: String) throws(ArrayFileError) {
    try self.init(bytes: FileIO.readBytes(atPath: path), source: path)
  }

  /// Parses safetensors bytes.
  /// - Parameter source: the name used in error messages (a path, or `<bytes>`).
  /// - Throws: ``ArrayFileError/malformed(format:source:reason:)`` or
  ///   ``ArrayFileError/unsupported(format:source:reason:)``.
  public init(bytes: [UInt8], source: String = "<bytes>") throws(ArrayFileError) {
    func malformed(_ reason: String) -> ArrayFileError { .malformed(format: "safetensors", source: source, reason: reason) }
    guard bytes.count >= 8 else { throw malformed("file has \(bytes.count) bytes, fewer than the 8-byte header length") }
    let declared = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
    guard declared <= UInt64(Self.maxHeaderLength) else {
      throw malformed("header length \(declared) exceeds the limit of \(Self.maxHeaderLength) bytes")
    }
    let headerLength = Int(declared)
    guard 8 + headerLength <= bytes.count else {
      throw malformed("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
    }
    let json: JSONValue
    do {
      json = try JSONParser.parse(bytes, range: 8..<8 + headerLength)
    } catch {
      throw malformed("header is not valid JSON: \(error.message) at byte \(error.offset)")
    }
    guard case let .object(members) = json else { throw malformed("header is \(json.kind), not a JSON object") }

    struct Entry { var name: String; var dtype: DType; var shape: [Int]; var begin: Int; var end: Int }
    var entries: [Entry] = []
    var metadata: [String: String] = [:]
    for member in members {
      if member.key == "__metadata__" {
        guard case let .object(pairs) = member.value else { throw malformed("__metadata__ is \(member.value.kind), not an object") }
        for pair in pairs {
          guard case let .string(text) = pair.value else {
            throw malformed("__metadata__ value for '\(pair.key)' is \(pair.value.kind), not a string")
          }
          metadata[pair.key] = text
        }
        continue
      }
      let name = member.key
      guard case let .object(fields) = member.value else { throw malformed("tensor '\(name)' is \(member.value.kind), not an object") }
      func field(_ key: String) throws(ArrayFileError) -> JSONValue {
        guard let f = fields.first(where: { $0.key == key }) else { throw malformed("tensor '\(name)' has no \"\(key)\"") }
        return f.value
      }
      guard case let .string(dtypeName) = try field("dtype") else { throw malformed("tensor '\(name)': dtype is not a string") }
      let dtype: DType
      switch dtypeName {
      case "F32": dtype = .float32
      case "F64": dtype = .float64
      case "I32": dtype = .int32
      case "BOOL": dtype = .bool
      default:
        throw .unsupported(
          format: "safetensors", source: source, reason: "tensor '\(name)' has dtype \(dtypeName) (supported: F32, F64, I32, BOOL)")
      }
      guard case let .array(shapeValues) = try field("shape") else { throw malformed("tensor '\(name)': shape is not an array") }
      var shape: [Int] = []
      var count = 1
      for v in shapeValues {
        guard let d = v.nonNegativeInteger else { throw malformed("tensor '\(name)': shape entries must be non-negative integers") }
        shape.append(d)
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow else { throw malformed("tensor '\(name)': shape \(shape) overflows") }
        count = product
      }
      guard case let .array(offsets) = try field("data_offsets"), offsets.count == 2,
        let begin = offsets[0].nonNegativeInteger, let end = offsets[1].nonNegativeInteger
      else { throw malformed("tensor '\(name)': data_offsets must be [begin, end] with non-negative integers") }
      guard begin <= end else { throw malformed("tensor '\(name)' has data_offsets [\(begin), \(end)] with begin > end") }
      let (size, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
      guard !overflow else { throw malformed("tensor '\(name)': shape \(shape) overflows") }
      guard end - begin == size else {
        throw malformed(
          "tensor '\(name)' has data_offsets [\(begin), \(end)] (\(end - begin) bytes) but dtype \(dtypeName) and shape \(shape) need \(size) bytes")
      }
      entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
    }
    let dataStart = 8 + headerLength
    let dataLength = bytes.count - dataStart
    entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var covered = 0
    for e in entries {
      guard e.end <= dataLength else {
        throw malformed("tensor '\(e.name)' has data_offsets [\(e.begin), \(e.end)] beyond the \(dataLength)-byte data buffer")
      }
      guard e.begin >= covered else {
        throw malformed("tensor '\(e.name)' has data_offsets [\(e.begin), \(e.end)] overlapping the previous tensor (which ends at \(covered))")
      }
      guard e.begin == covered else {
        throw malformed("tensor '\(e.name)' starts at \(e.begin), leaving a gap after byte \(covered) of the data buffer")
      }
      covered = e.end
    }
    guard covered == dataLength else {
      throw malformed("the tensors cover \(covered) bytes but the data buffer has \(dataLength)")
    }
    var tensors: [String: NDArray] = [:]
    for e in entries {
      if let index = tensors.index(forKey: e.name) {
        let other = tensors[index].key
        // Distinct byte strings (the JSON parser refused exact duplicates) that Swift's
        // String compares equal: one `[String: NDArray]` cannot hold both.
        throw ArrayFileError.unsupported(
          format: "safetensors", source: source,
          reason: "tensor names \"\(SafeText.excerpt(other))\" and \"\(SafeText.excerpt(e.name))\" are different byte strings but canonically equivalent Unicode (NFC/NFD); this reader cannot hold both")
      }
      tensors[e.name] = NDArray(
        littleEndianBytes: bytes, range: dataStart + e.begin..<dataStart + e.end, shape: Shape(e.shape), dtype: e.dtype)
    }
    self.init(tensors: tensors, metadata: metadata)
  }

  /// Equal names, metadata and bit-identical arrays (so NaN payloads compare equal).
  public static func == (lhs: SafetensorsFile, rhs: SafetensorsFile) -> Bool {
    lhs.metadata == rhs.metadata && lhs.tensors.count == rhs.tensors.count
      && lhs.tensors.allSatisfy { name, a in rhs.tensors[name].map { a.isBitIdentical(to: $0) } ?? false }
  }
}
