import ArrayCore

/// An array read from an IDX file, the format of the MNIST and Fashion-MNIST distributions
/// (Y. LeCun, "THE MNIST DATABASE of handwritten digits", http://yann.lecun.com/exdb/mnist/,
/// section "FILE FORMATS FOR THE MNIST DATABASE"):
///
/// - a 4-byte magic number: two zero bytes, a type byte (`0x08` unsigned byte, `0x09` signed
///   byte, `0x0B` int16, `0x0C` int32, `0x0D` float32, `0x0E` float64) and the number of
///   dimensions (1 to 255... here at most 8);
/// - each dimension as a big-endian unsigned 32-bit integer;
/// - the values, big-endian, row-major; nothing after them.
///
/// The file may be gzip-compressed (detected by its magic number, as the distributed
/// `*-ubyte.gz` files). Files and decompressed contents larger than `maximumSize` (1 GiB) are
/// refused.
public struct IDXArray: Sendable {
  /// The largest file, and the largest decompressed content, accepted: 1 GiB (MNIST's largest
  /// file is 47 MB).
  public static let maximumSize = 1 << 30
  /// The element type byte of the header (`0x08` for the MNIST files).
  public let typeCode: UInt8
  /// The dimensions (`[60000, 28, 28]` for MNIST's training images).
  public let dimensions: [Int]
  /// The raw values of unsigned-byte files (empty for other types).
  public let bytes: [UInt8]
  /// The values as doubles for the other types (empty for unsigned-byte files).
  public let values: [Double]

  /// The number of elements (the product of the dimensions, and of any of their subsets,
  /// stays within ``maximumSize``, so it never overflows).
  public var elementCount: Int { dimensions.reduce(1, *) }

  /// Reads an IDX file (plain or gzip).
  /// - Throws: `DatasetError/unreadableFile(path:reason:)` when it cannot be read or is over
  ///   the size limit, `DatasetError/malformedFile(source:reason:)` for bad gzip data, a bad
  ///   magic number, an unknown type, too many dimensions, or a dimension product that does not
  ///   match the file's size (truncated or with extra bytes).
  public init(contentsOfFile path: String) throws(DatasetError) {
    var data: [UInt8]
    do {
      data = try FileIO.readBytes(atPath: path, limit: Self.maximumSize)
      if Gzip.isGzip(data) { data = try Gzip.decompress(data, source: path, maxOutputSize: Self.maximumSize) }
    } catch let error {
      switch error {
      case let .fileSystem(_, _, message): throw .unreadableFile(path: path, reason: message)
      case let .malformed(_, _, reason), let .unsupported(_, _, reason), let .invalidArgument(_, reason):
        throw .malformedFile(source: path, reason: "bad gzip data: \(reason)")
      }
    }
    try self.init(bytes: data, source: path)
  }

  /// Parses the (decompressed) bytes of an IDX file; `source` names it in errors.
  /// - Throws: `DatasetError/malformedFile(source:reason:)` (see `init(contentsOfFile:)`).
  public init(bytes data: [UInt8], source: String) throws(DatasetError) {
    func bad(_ reason: String) -> DatasetError { .malformedFile(source: source, reason: reason) }
    guard data.count >= 4 else { throw bad("truncated: \(data.count) bytes, an IDX header needs at least 4") }
    guard data[0] == 0, data[1] == 0 else {
      throw bad("bad magic number \(hex(data[0..<4])): an IDX file starts with two zero bytes, a type byte and a rank byte")
    }
    let type = data[2], rank = Int(data[3])
    let sizes: [UInt8: Int] = [0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8]
    guard let width = sizes[type] else {
      throw bad("bad magic number \(hex(data[0..<4])): unknown type byte 0x\(hex([type])) (expected 08, 09, 0B, 0C, 0D or 0E)")
    }
    guard (1...8).contains(rank) else { throw bad("the header gives \(rank) dimensions; 1 to 8 are supported") }
    let headerSize = 4 + 4 * rank
    guard data.count >= headerSize else {
      throw bad("truncated header: \(rank) dimensions need \(headerSize) bytes, the file has \(data.count)")
    }
    var dims: [Int] = []
    var product = 1
    // The product of the non-zero dimensions is bounded too: `[0, 2³² − 1, 2³² − 1]` holds no
    // value, but an item of `dims.dropFirst()` would have more elements than `Int` counts.
    var nonZeroProduct = 1
    for i in 0..<rank {
      let p = 4 + 4 * i
      let d = Int(data[p]) << 24 | Int(data[p + 1]) << 16 | Int(data[p + 2]) << 8 | Int(data[p + 3])
      dims.append(d)
      let (next, overflow) = nonZeroProduct.multipliedReportingOverflow(by: Swift.max(d, 1))
      guard !overflow, next <= Self.maximumSize else {
        throw bad("the dimensions \(dims) in the header describe more than \(Self.maximumSize) elements")
      }
      nonZeroProduct = next
      product *= d
    }
    let expected = headerSize + product * width
    guard data.count == expected else {
      throw bad(
        "the header's dimensions \(dims) (\(product) values of \(width) byte\(width == 1 ? "" : "s")) need \(expected) bytes, the file has \(data.count)\(data.count < expected ? " (truncated)" : " (extra bytes after the data)")")
    }
    typeCode = type
    dimensions = dims
    if type == 0x08 {
      bytes = Array(data[headerSize...])
      values = []
      return
    }
    bytes = []
    values = (0..<product).map { i in
      let p = headerSize + i * width
      var u: UInt64 = 0
      for k in 0..<width { u = u << 8 | UInt64(data[p + k]) }
      switch type {
      case 0x09: return Double(Int8(bitPattern: UInt8(u)))
      case 0x0B: return Double(Int16(bitPattern: UInt16(u)))
      case 0x0C: return Double(Int32(bitPattern: UInt32(u)))
      case 0x0D: return Double(Float(bitPattern: UInt32(u)))
      default: return Double(bitPattern: u)
      }
    }
  }

  /// The values as doubles (whatever the type).
  public var doubles: [Double] { typeCode == 0x08 ? bytes.map(Double.init) : values }

  /// The bytes of an IDX file holding `values` as unsigned bytes with these dimensions (for
  /// tests and fixtures); uncompressed.
  public static func encode(unsignedBytes values: [UInt8], dimensions: [Int]) -> [UInt8] {
    var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for d in dimensions { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    return out + values
  }
}

private func hex(_ bytes: some Collection<UInt8>) -> String {
  bytes.map { b in
    let s = String(b, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
  }.joined()
}
