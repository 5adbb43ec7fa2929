/// Decompression of gzip files (RFC 1952) holding DEFLATE data (RFC 1951), in plain Swift, so
/// data sets shipped as `.csv.gz` can be read without zlib.
///
/// Every member of a multi-member file is decompressed and checked against its CRC-32 and
/// length. Output beyond `maxOutputSize` is refused (a guard against decompression bombs); the
/// limit is for the whole decompressed stream, all members together, not per member.
///
/// Speed comes from a 64-bit bit buffer refilled eight bytes at a time, table-driven Huffman
/// decoding (one lookup for codes of up to 10 bits, two for longer ones), back-references
/// copied through pointers into output grown ahead of need, and a slicing-by-8 CRC-32.
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
    let limit = max(0, maxOutputSize)
    // `output[..<count]` is the decompressed data; the rest is room to decode into.
    var output: [UInt8] = []
    var count = 0
    if bytes.count >= 18 {
      // The last member's stored length (its size mod 2^32) sizes the output of the usual
      // single-member file at once. Only capacity is reserved, bounded by the limit and by
      // DEFLATE's largest expansion (1032 to 1), so a lying trailer costs no touched memory.
      let isize = (1...4).reduce(0) { $0 << 8 | Int(bytes[bytes.count - $1]) }
      let (expansion, overflow) = bytes.count.multipliedReportingOverflow(by: 1032)
      output.reserveCapacity(min(isize, limit, overflow ? Int.max : expansion))
    }
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
      let start = count
      var inflater = Inflater(input: bytes, position: p, limit: limit)
      do {
        try inflater.inflate(into: &output, count: &count)
      } catch {
        throw malformed(error.message)
      }
      p = inflater.reader.bytePosition
      guard p + 8 <= bytes.count else { throw malformed("truncated: the CRC-32 and length trailer is missing") }
      let storedCRC = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[p + $1]) << (8 * UInt32($1)) }
      let storedSize = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[p + 4 + $1]) << (8 * UInt32($1)) }
      let crc = crc32(output[start..<count])
      guard crc == storedCRC else { throw malformed("CRC-32 mismatch (data corrupt)") }
      guard UInt32(truncatingIfNeeded: count - start) == storedSize else { throw malformed("length mismatch (data corrupt)") }
      position = p + 8
    } while position < bytes.count && bytes[position] == 0x1F
    output.removeSubrange(count...)
    return output
  }

  /// The CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of `bytes`.
  public static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
    if let crc = bytes.withContiguousStorageIfAvailable({ crc32(contiguous: $0) }) { return crc }
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTables[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }

  /// The CRC-32 of contiguous bytes, eight at a time (slicing-by-8): with the register `c`
  /// XORed into the next four bytes, the new register is the XOR of `T_(7-j)[byte j]` over the
  /// eight bytes `j = 0..<8`, where `T_k` is table `k` of ``crcTables``.
  private static func crc32(contiguous bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
    crcTables.withUnsafeBufferPointer { t in
      let raw = UnsafeRawBufferPointer(bytes)
      var c: UInt32 = 0xFFFF_FFFF
      var i = 0
      while i <= bytes.count - 8 {
        let lo = c ^ UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))
        let hi = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
        let first = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int(lo >> 8 & 0xFF)]
          ^ t[5 * 256 + Int(lo >> 16 & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
        let second = t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int(hi >> 8 & 0xFF)]
          ^ t[256 + Int(hi >> 16 & 0xFF)] ^ t[Int(hi >> 24)]
        c = first ^ second
        i += 8
      }
      while i < bytes.count {
        c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
        i += 1
      }
      return c ^ 0xFFFF_FFFF
    }
  }

  /// Eight CRC-32 tables of 256 entries, one after the other: table 0 is the classic one,
  /// `T_0[n]` = the register after byte `n` (eight reflected steps `c = c & 1 ? 0xEDB88320 ^
  /// c >> 1 : c >> 1`), and table `k` is byte `n` followed by `k` zero bytes,
  /// `T_k[n] = T_(k-1)[n] >> 8 ^ T_0[T_(k-1)[n] & 0xFF]`.
  private static let crcTables: [UInt32] = {
    var t = (0..<256).map { n in
      var c = UInt32(n)
      for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      return c
    }
    for i in 256..<(8 * 256) { t.append(t[i - 256] >> 8 ^ t[Int(t[i - 256] & 0xFF)]) }
    return t
  }()
}

/// A DEFLATE error with its reason.
struct InflateError: Error { var message: String }

/// Decoding tables of a canonical Huffman code (RFC 1951 §3.2.2).
///
/// DEFLATE sends a code's first bit first, so the next `primaryBits` bits of the bit buffer
/// (the lowest) index the primary table directly: a code of `l <= primaryBits` bits fills
/// every `2^(primaryBits - l)`-th entry from its bit-reversed value. A longer code fills a
/// subtable linked from the entry of its first `primaryBits` bits, indexed by the bits after
/// them and as large as the longest code with that start needs.
///
/// Each entry is a `UInt32`: bits 0–3 are the code length in bits (for a link, the subtable's
/// index bits; 0 for a bit pattern that is no code), bits 4–7 the extra bits that follow the
/// code, bits 8–12 the kind (at most one bit set), bits 16–31 the value (a literal byte, a base
/// length or distance, a symbol, or a subtable's offset).
private struct Huffman {
  /// The bits that index the primary table.
  static let primaryBits = 10
  /// Kind of an entry: a literal byte or plain symbol in the value (no kind bit set).
  static let literal: UInt32 = 0
  /// Kind bit of an entry: a base length or distance in the value, plus its extra bits.
  static let base: UInt32 = 1 << 8
  /// Kind bit of an entry: the end-of-block symbol.
  static let end: UInt32 = 1 << 9
  /// Kind bit of an entry: a link to a subtable (offset in the value, index bits in bits 0–3).
  static let link: UInt32 = 1 << 10
  /// Kind bit of an entry: a symbol DEFLATE does not allow (lengths 286 and 287).
  static let invalid: UInt32 = 1 << 11
  /// Kind bit of an entry: a bit pattern that starts no code (of an incomplete code).
  static let noCode: UInt32 = 1 << 12
  /// The mask of an entry's kind bits (one bit a kind, so that tests of single bits stay
  /// branches rather than becoming a jump table).
  static let kindMask: UInt32 = 0x1F << 8

  /// The primary table followed by the subtables.
  var entries: [UInt32]

  /// Builds the tables from per-symbol code lengths (0 = unused; at most 15); `payloads[s]` is
  /// symbol `s`'s entry without its code length (kind, extra bits and value).
  /// - Throws: for an over-subscribed code (Kraft sum `Σ 2^-l` over 1); an incomplete code is
  ///   accepted and its missing patterns decode as errors.
  init(lengths: [Int], payloads: [UInt32]) throws(InflateError) {
    var counts = [Int](repeating: 0, count: 16)
    for l in lengths { counts[l] += 1 }
    counts[0] = 0
    var left = 1
    for len in 1..<16 {
      left = left * 2 - counts[len]
      guard left >= 0 else { throw InflateError(message: "over-subscribed Huffman code") }
    }
    // The first canonical code of each length, read first bit highest.
    var next = [Int](repeating: 0, count: 16)
    for len in 1..<16 { next[len] = (next[len - 1] + counts[len - 1]) << 1 }
    let primary = Self.primaryBits, primaryMask = (1 << primary) - 1
    var reversed = [Int](repeating: 0, count: lengths.count)
    var subBits = [Int](repeating: 0, count: 1 << primary)
    for (symbol, l) in lengths.enumerated() where l != 0 {
      var code = next[l], r = 0
      next[l] += 1
      for _ in 0..<l {
        r = r << 1 | code & 1
        code >>= 1
      }
      reversed[symbol] = r
      if l > primary { subBits[r & primaryMask] = max(subBits[r & primaryMask], l - primary) }
    }
    entries = [UInt32](repeating: Self.noCode, count: 1 << primary)
    for prefix in 0..<(1 << primary) where subBits[prefix] > 0 {
      entries[prefix] = Self.link | UInt32(entries.count) << 16 | UInt32(subBits[prefix])
      entries += repeatElement(Self.noCode, count: 1 << subBits[prefix])
    }
    for (symbol, l) in lengths.enumerated() where l != 0 {
      let r = reversed[symbol], entry = payloads[symbol] | UInt32(l)
      if l <= primary {
        for i in stride(from: r, to: 1 << primary, by: 1 << l) { entries[i] = entry }
      } else {
        let link = entries[r & primaryMask], offset = Int(link >> 16)
        for i in stride(from: r >> primary, to: 1 << Int(link & 0xF), by: 1 << (l - primary)) { entries[offset + i] = entry }
      }
    }
  }

  /// The entry of the code that starts the bits of `buffer` (its lowest bit first).
  @inline(__always)
  func entry(_ buffer: UInt64) -> UInt32 {
    let e = entries[Int(truncatingIfNeeded: buffer) & ((1 << Self.primaryBits) - 1)]
    guard e & Self.link != 0 else { return e }
    let index = Int(truncatingIfNeeded: buffer >> UInt64(Self.primaryBits)) & ((1 << Int(e & 0xF)) - 1)
    return entries[Int(e >> 16) + index]
  }
}

/// An LSB-first reader of the bits of `input` from `bytePosition` on.
///
/// The 64-bit buffer is refilled eight bytes at a time while eight remain, then a byte at a
/// time; past the end of the input it is padded with zero bytes, counted in `padding`, and
/// consuming any padding bit is reported as truncation.
private struct BitReader {
  /// The bytes read.
  let input: [UInt8]
  /// The next input byte to load into the bit buffer.
  var bytePosition: Int
  /// Loaded bits, the next one lowest; bits above `bitCount` are zero or the input's next bits.
  var bitBuffer: UInt64 = 0
  /// How many bits of `bitBuffer` are loaded (at most 63), padding included.
  var bitCount = 0
  /// How many of the loaded bits (the highest ones) are zero padding past the input's end.
  var padding = 0

  /// The error for reading past the end of the input.
  static let truncated = InflateError(message: "truncated DEFLATE data")

  /// Loads input bytes until at least 56 bits are loaded: eight bytes at once (the whole bytes
  /// that fit go into `bitCount`) while eight remain, else one at a time, padded with zeros.
  @inline(__always)
  mutating func refill() {
    let at = bytePosition
    if at <= input.count - 8 {
      let word = input.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
      bitBuffer |= word &<< UInt64(bitCount)
      bytePosition += (63 - bitCount) >> 3
      bitCount |= 56
    } else {
      while bitCount < 56 {
        if bytePosition < input.count {
          bitBuffer |= UInt64(input[bytePosition]) &<< UInt64(bitCount)
          bytePosition += 1
        } else {
          padding += 8
        }
        bitCount += 8
      }
    }
  }

  /// Drops `n` (at most 56) loaded bits; throws if they reach into the padding.
  @inline(__always)
  mutating func drop(_ n: Int) throws(InflateError) {
    bitBuffer &>>= UInt64(n)
    bitCount -= n
    guard bitCount >= padding else { throw Self.truncated }
  }

  /// The next `n` (at most 16) bits as a number, the first bit lowest.
  mutating func bits(_ n: Int) throws(InflateError) -> Int {
    if bitCount < n { refill() }
    let v = Int(truncatingIfNeeded: bitBuffer) & ((1 << n) - 1)
    try drop(n)
    return v
  }

  /// Consumes the code of `h` that starts the loaded bits and returns its entry (a no-code
  /// entry consumes nothing); the bit buffer must hold 15 bits.
  @inline(__always)
  mutating func take(_ h: Huffman) throws(InflateError) -> UInt32 {
    let entry = h.entry(bitBuffer)
    try drop(Int(entry & 0xF))
    return entry
  }

  /// The error for a bit pattern that starts no code: truncation if fewer than 15 input bits
  /// were left, else an invalid code.
  func noCodeError() -> InflateError {
    bitCount - padding < 15 ? Self.truncated : InflateError(message: "invalid Huffman code")
  }

  /// Decodes one symbol of `h` and returns its value.
  mutating func decode(_ h: Huffman) throws(InflateError) -> Int {
    if bitCount < 15 { refill() }
    let entry = try take(h)
    guard entry & Huffman.noCode == 0 else { throw noCodeError() }
    return Int(entry >> 16)
  }

  /// The value of a base entry plus its extra bits (the bit buffer must hold them).
  @inline(__always)
  mutating func extended(_ entry: UInt32) throws(InflateError) -> Int {
    let extra = Int(entry >> 4 & 0xF)
    let v = Int(entry >> 16) + Int(truncatingIfNeeded: bitBuffer) & ((1 << extra) - 1)
    try drop(extra)
    return v
  }

  /// Drops the bits up to the next byte boundary and hands the whole bytes still in the bit
  /// buffer back to the input.
  mutating func alignToByte() {
    bytePosition -= (bitCount - padding) / 8
    bitBuffer = 0
    bitCount = 0
    padding = 0
  }
}

/// A DEFLATE decoder reading through `reader`; `limit` bounds the length of the whole output
/// (every member decoded so far included).
private struct Inflater {
  /// The reader of the DEFLATE stream's bits.
  var reader: BitReader
  let limit: Int

  /// A decoder of the stream that starts at `input[position]`.
  init(input: [UInt8], position: Int, limit: Int) {
    self.reader = BitReader(input: input, bytePosition: position)
    self.limit = limit
  }

  static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
  static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
  static let distanceBase = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193,
    12289, 16385, 24577,
  ]
  static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
  static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  /// The table entries (without code lengths) of the 288 literal/length symbols: literals
  /// 0–255, end of block 256, lengths 257–285 as base and extra bits, 286–287 invalid.
  static let literalLengthPayloads: [UInt32] = (0..<288).map { s in
    switch s {
    case 0..<256: Huffman.literal | UInt32(s) << 16
    case 256: Huffman.end
    case 257..<286: Huffman.base | UInt32(lengthExtra[s - 257]) << 4 | UInt32(lengthBase[s - 257]) << 16
    default: Huffman.invalid | UInt32(s) << 16
    }
  }
  /// The table entries (without code lengths) of the 30 distance symbols, as base and extra
  /// bits; symbols 30 and 31 take part in no code (RFC 1951 §3.2.6), so they decode as no code.
  static let distancePayloads: [UInt32] = (0..<30).map { s in
    Huffman.base | UInt32(distanceExtra[s]) << 4 | UInt32(distanceBase[s]) << 16
  }
  /// The table entries (without code lengths) of the 19 code-length symbols: the symbol itself.
  static let codeLengthPayloads: [UInt32] = (0..<19).map { Huffman.literal | UInt32($0) << 16 }

  /// Decodes one DEFLATE stream (all its blocks) onto `output[count...]`, advancing `count`
  /// and growing `output` as needed; leaves the reader at the first byte after the stream.
  mutating func inflate(into output: inout [UInt8], count: inout Int) throws(InflateError) {
    let start = count
    var last = false
    while !last {
      last = try reader.bits(1) == 1
      switch try reader.bits(2) {
      case 0:
        reader.alignToByte()  // stored blocks start on a byte boundary
        let input = reader.input, at = reader.bytePosition
        guard at + 4 <= input.count else { throw InflateError(message: "truncated stored block") }
        let len = Int(input[at]) | Int(input[at + 1]) << 8
        let nlen = Int(input[at + 2]) | Int(input[at + 3]) << 8
        guard len == ~nlen & 0xFFFF else { throw InflateError(message: "stored block length check failed") }
        guard at + 4 + len <= input.count else { throw InflateError(message: "truncated stored block") }
        try makeRoom(len, in: &output, count: count)
        output[count..<count + len] = input[at + 4..<at + 4 + len]
        count += len
        reader.bytePosition = at + 4 + len
      case 1:
        let lit = try Huffman(
          lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112) + [Int](repeating: 7, count: 24)
            + [Int](repeating: 8, count: 8),
          payloads: Self.literalLengthPayloads)
        let dist = try Huffman(lengths: [Int](repeating: 5, count: 30), payloads: Self.distancePayloads)
        try codes(lit, dist, start: start, into: &output, count: &count)
      case 2:
        let nlen = try reader.bits(5) + 257, ndist = try reader.bits(5) + 1, ncode = try reader.bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw InflateError(message: "too many length or distance codes") }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<ncode { codeLengths[Self.codeLengthOrder[i]] = try reader.bits(3) }
        let lencode = try Huffman(lengths: codeLengths, payloads: Self.codeLengthPayloads)
        var lengths: [Int] = []
        while lengths.count < nlen + ndist {
          let symbol = try reader.decode(lencode)
          switch symbol {
          case 0..<16: lengths.append(symbol)
          case 16:
            guard let previous = lengths.last else { throw InflateError(message: "repeat with no previous length") }
            lengths += [Int](repeating: previous, count: 3 + (try reader.bits(2)))
          case 17: lengths += [Int](repeating: 0, count: 3 + (try reader.bits(3)))
          default: lengths += [Int](repeating: 0, count: 11 + (try reader.bits(7)))
          }
        }
        guard lengths.count == nlen + ndist else { throw InflateError(message: "code lengths overflow the table") }
        guard lengths[256] != 0 else { throw InflateError(message: "no end-of-block code") }
        try codes(
          Huffman(lengths: Array(lengths[0..<nlen]), payloads: Self.literalLengthPayloads),
          Huffman(lengths: Array(lengths[nlen...]), payloads: Self.distancePayloads), start: start, into: &output,
          count: &count)
      default:
        throw InflateError(message: "invalid block type 3")
      }
    }
    // Unused bits of the last byte are padding; whole unread bytes go back to the input.
    reader.alignToByte()
  }

  /// Makes room for `needed` more bytes at `output[count...]` (new room is zero-filled), or
  /// throws if they would take the output over `limit`. The room grows geometrically, first up
  /// to the reserved capacity, never past `limit`.
  func makeRoom(_ needed: Int, in output: inout [UInt8], count: Int) throws(InflateError) {
    guard needed <= limit - count else { throw InflateError(message: "output exceeds the limit of \(limit) bytes") }
    guard output.count - count < needed else { return }
    var grow = max(output.count, 1 << 12)
    if output.capacity > output.count { grow = min(grow, output.capacity - output.count) }
    var added = min(limit - output.count, max(needed, grow))
    while added > 0 {
      let chunk = min(added, Self.zeros.count)
      output += Self.zeros[..<chunk]
      added -= chunk
    }
  }

  /// Zeros to grow the output with (appending an array is a copy even in debug builds, where
  /// appending `repeatElement` goes element by element).
  static let zeros = [UInt8](repeating: 0, count: 1 << 16)

  /// Where ``run(_:count:_:_:start:)`` stopped: at the end of the block, or at a literal or
  /// match that needs more room in the output.
  enum Stop {
    /// The end-of-block symbol was decoded.
    case endOfBlock
    /// A literal byte to write.
    case literal(UInt8)
    /// A back-reference to copy, its distance checked.
    case match(length: Int, distance: Int)
  }

  /// Decodes literal/length and distance codes until the end-of-block symbol onto
  /// `output[count...]`, advancing `count`.
  mutating func codes(_ lit: Huffman, _ dist: Huffman, start: Int, into output: inout [UInt8], count: inout Int)
    throws(InflateError)
  {
    while true {
      let stop = try output.withUnsafeMutableBufferPointer { (out) throws(InflateError) in
        try run(out, count: &count, lit, dist, start: start)
      }
      switch stop {
      case .endOfBlock:
        return
      case .literal(let byte):
        try makeRoom(1, in: &output, count: count)
        output[count] = byte
        count += 1
      case .match(let length, let distance):
        try makeRoom(length, in: &output, count: count)
        output.withUnsafeMutableBufferPointer { Self.copyMatch($0, at: count, distance: distance, length: length) }
        count += length
      }
    }
  }

  /// Decodes codes into `out[count...]` until the end of the block or until a literal or
  /// match does not fit in `out`, which is returned undone (its bits consumed).
  mutating func run(_ out: UnsafeMutableBufferPointer<UInt8>, count: inout Int, _ lit: Huffman, _ dist: Huffman, start: Int)
    throws(InflateError) -> Stop
  {
    // Local copies (kept in registers), written back however the loop ends.
    var n = count, r = reader
    defer {
      count = n
      reader = r
    }
    while true {
      // 48 bits cover the longest literal/length code, its extra bits, distance code and bits.
      if r.bitCount < 48 { r.refill() }
      let e = try r.take(lit)
      // Tested most frequent first, one kind bit at a time (a switch became an indirect jump).
      if e & Huffman.kindMask == Huffman.literal {
        let byte = UInt8(truncatingIfNeeded: e >> 16)
        guard n < out.count else { return .literal(byte) }
        out[n] = byte
        n += 1
      } else if e & Huffman.base != 0 {
        let length = try r.extended(e)
        let d = try r.take(dist)
        guard d & Huffman.base != 0 else { throw r.noCodeError() }  // the only other kind
        let distance = try r.extended(d)
        guard distance <= n - start else {
          throw InflateError(message: "distance \(distance) reaches before the start of the data")
        }
        guard length <= out.count - n else { return .match(length: length, distance: distance) }
        Self.copyMatch(out, at: n, distance: distance, length: length)
        n += length
      } else if e & Huffman.end != 0 {
        return .endOfBlock
      } else {
        throw e & Huffman.noCode != 0 ? r.noCodeError() : InflateError(message: "invalid length symbol \(e >> 16)")
      }
    }
  }

  /// Writes `out[at..<at + length]` as the `length` bytes starting `distance` bytes back, as if
  /// copied one byte at a time, so a match longer than its distance repeats its last `distance`
  /// bytes (RFC 1951 §3.2.3). Bytes after the match, up to 7 of them, may be overwritten.
  /// Requires `1 <= distance <= at` and `at + length <= out.count`.
  static func copyMatch(_ out: UnsafeMutableBufferPointer<UInt8>, at: Int, distance: Int, length: Int) {
    guard let base = out.baseAddress else { return }
    let from = base + (at - distance), to = base + at
    if distance >= 8 && out.count - at - length >= 7 {
      // Eight bytes at a time: with `distance >= 8` each load ends before its store begins and
      // reads only final bytes, so overlap is no matter; the last store may overshoot.
      var i = 0
      repeat {
        let word = UnsafeRawPointer(from + i).loadUnaligned(as: UInt64.self)
        UnsafeMutableRawPointer(to + i).storeBytes(of: word, as: UInt64.self)
        i += 8
      } while i < length
    } else if length <= distance {
      to.update(from: from, count: length)
    } else if distance == 1 {
      to.update(repeating: from.pointee, count: length)
    } else {
      // After `done` bytes (a multiple of `distance`), `from[0..<distance + done]` is the
      // pattern repeated and ends where the copy continues: copy it whole, doubling each time.
      var done = 0
      while done < length {
        let chunk = min(length - done, distance + done)
        (to + done).update(from: from, count: chunk)
        done += chunk
      }
    }
  }
}
