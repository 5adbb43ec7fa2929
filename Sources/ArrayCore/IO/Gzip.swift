/// Decompression of gzip files (RFC 1952) holding DEFLATE data (RFC 1951), in plain Swift, so
/// data sets shipped as `.csv.gz` can be read without zlib.
///
/// Every member of a multi-member file is decompressed and checked against its CRC-32 and
/// length. Output beyond `maxOutputSize` is refused (a guard against decompression bombs); the
/// limit is for the whole decompressed stream, all members together, not per member.
public enum Gzip {
  /// Whether `bytes` starts with the gzip magic number `1f 8b`.
  public static func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
  }

  /// The decompressed contents of gzip `bytes`.
  /// - Parameters:
  ///   - source: the name used in error messages.
  ///   - maxOutputSize: the largest output accepted, all members together, in bytes (1 GiB by
  ///     default).
  /// - Throws: ``ArrayFileError/malformed(format:source:reason:)`` for a bad header, corrupt
  ///   DEFLATE data, a CRC-32 or length mismatch, truncation, or output over the limit.
  public static func decompress(_ bytes: [UInt8], source: String = "<bytes>", maxOutputSize: Int = 1 << 30)
    throws(ArrayFileError) -> [UInt8]
  {
    func malformed(_ reason: String) -> ArrayFileError { .malformed(format: "gzip", source: source, reason: reason) }
    var output: [UInt8] = []
    var position = 0
    repeat {
      guard bytes.count - position >= 18 else { throw malformed("truncated: a gzip member needs at least 18 bytes") }
      guard bytes[position] == 0x1F, bytes[position + 1] == 0x8B else { throw malformed("no gzip magic number at byte \(position)") }
      guard bytes[position + 2] == 8 else { throw malformed("compression method \(bytes[position + 2]) is not DEFLATE (8)") }
      let flags = bytes[position + 3]
      guard flags & 0xE0 == 0 else { throw malformed("reserved header flags are set") }
      var p = position + 10
      if flags & 0x04 != 0 {  // FEXTRA
        guard p + 2 <= bytes.count else { throw malformed("truncated header") }
        p += 2 + (Int(bytes[p]) | Int(bytes[p + 1]) << 8)
      }
      for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
        while p < bytes.count, bytes[p] != 0 { p += 1 }
        p += 1
      }
      if flags & 0x02 != 0 { p += 2 }  // FHCRC
      guard p <= bytes.count else { throw malformed("truncated header") }
      let start = output.count
      var inflater = Inflater(input: bytes, position: p, limit: maxOutputSize)
      do {
        try inflater.inflate(into: &output)
      } catch {
        throw malformed(error.message)
      }
      p = inflater.bytePosition
      guard p + 8 <= bytes.count else { throw malformed("truncated: the CRC-32 and length trailer is missing") }
      let storedCRC = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[p + $1]) << (8 * UInt32($1)) }
      let storedSize = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[p + 4 + $1]) << (8 * UInt32($1)) }
      let crc = crc32(output[start...])
      guard crc == storedCRC else { throw malformed("CRC-32 mismatch (data corrupt)") }
      guard UInt32(truncatingIfNeeded: output.count - start) == storedSize else { throw malformed("length mismatch (data corrupt)") }
      position = p + 8
    } while position < bytes.count && bytes[position] == 0x1F
    return output
  }

  /// The CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of `bytes`.
  public static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }

  private static let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }
}

/// A DEFLATE error with its reason.
struct InflateError: Error { var message: String }

/// A canonical Huffman code: the number of codes of each length and the symbols in code order.
private struct Huffman {
  var counts = [Int](repeating: 0, count: 16)
  var symbols: [Int] = []

  /// Builds the code from per-symbol code lengths (0 = unused).
  init(lengths: [Int]) throws(InflateError) {
    for l in lengths { counts[l] += 1 }
    counts[0] = 0
    var left = 1
    for len in 1..<16 {
      left = left * 2 - counts[len]
      guard left >= 0 else { throw InflateError(message: "over-subscribed Huffman code") }
    }
    var offsets = [Int](repeating: 0, count: 16)
    for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
    symbols = [Int](repeating: 0, count: lengths.count)
    for (symbol, l) in lengths.enumerated() where l != 0 {
      symbols[offsets[l]] = symbol
      offsets[l] += 1
    }
  }
}

/// An LSB-first bit reader and DEFLATE decoder; `limit` bounds the length of the whole output
/// array (every member decoded so far included).
private struct Inflater {
  let input: [UInt8]
  var bytePosition: Int
  var bitBuffer: UInt64 = 0
  var bitCount = 0
  let limit: Int

  init(input: [UInt8], position: Int, limit: Int) {
    self.input = input
    self.bytePosition = position
    self.limit = limit
  }

  mutating func bits(_ n: Int) throws(InflateError) -> Int {
    while bitCount < n {
      guard bytePosition < input.count else { throw InflateError(message: "truncated DEFLATE data") }
      bitBuffer |= UInt64(input[bytePosition]) << UInt64(bitCount)
      bytePosition += 1
      bitCount += 8
    }
    let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
    bitBuffer >>= UInt64(n)
    bitCount -= n
    return v
  }

  mutating func decode(_ h: Huffman) throws(InflateError) -> Int {
    var code = 0, first = 0, index = 0
    for len in 1..<16 {
      code |= try bits(1)
      let count = h.counts[len]
      if code - first < count { return h.symbols[index + code - first] }
      index += count
      first = (first + count) << 1
      code <<= 1
    }
    throw InflateError(message: "invalid Huffman code")
  }

  static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
  static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
  static let distanceBase = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193,
    12289, 16385, 24577,
  ]
  static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
  static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  /// Decodes one DEFLATE stream (all its blocks) onto `output`; leaves `bytePosition` at the
  /// first byte after the stream.
  mutating func inflate(into output: inout [UInt8]) throws(InflateError) {
    let start = output.count
    var last = false
    while !last {
      last = try bits(1) == 1
      switch try bits(2) {
      case 0:
        bitBuffer = 0
        bitCount = 0  // stored blocks start on a byte boundary
        guard bytePosition + 4 <= input.count else { throw InflateError(message: "truncated stored block") }
        let len = Int(input[bytePosition]) | Int(input[bytePosition + 1]) << 8
        let nlen = Int(input[bytePosition + 2]) | Int(input[bytePosition + 3]) << 8
        guard len == ~nlen & 0xFFFF else { throw InflateError(message: "stored block length check failed") }
        bytePosition += 4
        guard bytePosition + len <= input.count else { throw InflateError(message: "truncated stored block") }
        guard output.count + len <= limit else { throw InflateError(message: "output exceeds the limit of \(limit) bytes") }
        output.append(contentsOf: input[bytePosition..<bytePosition + len])
        bytePosition += len
      case 1:
        let lit = try Huffman(lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
          + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8))
        let dist = try Huffman(lengths: [Int](repeating: 5, count: 30))
        try codes(lit, dist, start: start, into: &output)
      case 2:
        let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw InflateError(message: "too many length or distance codes") }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<ncode { codeLengths[Self.codeLengthOrder[i]] = try bits(3) }
        let lencode = try Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < nlen + ndist {
          let symbol = try decode(lencode)
          switch symbol {
          case 0..<16: lengths.append(symbol)
          case 16:
            guard let previous = lengths.last else { throw InflateError(message: "repeat with no previous length") }
            lengths += [Int](repeating: previous, count: 3 + (try bits(2)))
          case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
          default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
          }
        }
        guard lengths.count == nlen + ndist else { throw InflateError(message: "code lengths overflow the table") }
        guard lengths[256] != 0 else { throw InflateError(message: "no end-of-block code") }
        try codes(Huffman(lengths: Array(lengths[0..<nlen])), Huffman(lengths: Array(lengths[nlen...])), start: start, into: &output)
      default:
        throw InflateError(message: "invalid block type 3")
      }
    }
    // Unused bits of the last byte are padding; whole unread bytes go back to the input.
    bytePosition -= bitCount / 8
    bitCount = 0
    bitBuffer = 0
  }

  /// Decodes literal/length and distance codes until the end-of-block symbol.
  mutating func codes(_ lit: Huffman, _ dist: Huffman, start: Int, into output: inout [UInt8]) throws(InflateError) {
    while true {
      let symbol = try decode(lit)
      if symbol < 256 {
        guard output.count < limit else { throw InflateError(message: "output exceeds the limit of \(limit) bytes") }
        output.append(UInt8(symbol))
      } else if symbol == 256 {
        return
      } else {
        let s = symbol - 257
        guard s < 29 else { throw InflateError(message: "invalid length symbol \(symbol)") }
        let length = Self.lengthBase[s] + (try bits(Self.lengthExtra[s]))
        let d = try decode(dist)
        guard d < 30 else { throw InflateError(message: "invalid distance symbol \(d)") }
        let distance = Self.distanceBase[d] + (try bits(Self.distanceExtra[d]))
        guard distance <= output.count - start else { throw InflateError(message: "distance \(distance) reaches before the start of the data") }
        guard output.count + length <= limit else { throw InflateError(message: "output exceeds the limit of \(limit) bytes") }
        let from = output.count - distance
        for i in 0..<length { output.append(output[from + i]) }
      }
    }
  }
}
