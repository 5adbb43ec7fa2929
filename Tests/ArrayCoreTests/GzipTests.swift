import ArrayCore
import Foundation
import Testing

private let root: String = {
  let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
  return parts.dropLast(3).joined(separator: "/")
}()

@Suite("gzip decompression")
struct GzipTests {
  @Test("CRC-32 check value")
  func crc() {
    #expect(Gzip.crc32(Array("123456789".utf8)) == 0xCBF4_3926)  // the standard check value
  }

  @Test("the digits .gz (dynamic Huffman blocks) decompresses to the committed CSV, byte for byte")
  func digits() throws {
    let gz = try FileIO.readBytes(atPath: root + "/Data/digits.csv.gz")
    let csv = try FileIO.readBytes(atPath: root + "/Data/digits.csv")
    #expect(Gzip.isGzip(gz) && !Gzip.isGzip(csv))
    #expect(try Gzip.decompress(gz) == csv)
  }

  @Test("stored and fixed-Huffman blocks and multi-member files written by Python's gzip")
  func pythonFixtures() throws {
    let text = Array("0,1,2,3\n4,5,6,7\nhello hello hello hello\n".utf8)
    #expect(try Gzip.decompress(FileIO.readBytes(atPath: root + "/Tests/Fixtures/stored.gz")) == text)
    #expect(try Gzip.decompress(FileIO.readBytes(atPath: root + "/Tests/Fixtures/fixed.gz")) == text)
    let two = try Gzip.decompress(FileIO.readBytes(atPath: root + "/Tests/Fixtures/two_members.gz"))
    #expect(two == Array("first member\nsecond member\n".utf8))
  }

  @Test("corrupt, truncated and oversized input are thrown errors")
  func errors() throws {
    let gz = try FileIO.readBytes(atPath: root + "/Tests/Fixtures/fixed.gz")
    func fails(_ bytes: [UInt8], limit: Int = 1 << 30, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
      #expect(sourceLocation: sourceLocation) { try Gzip.decompress(bytes, source: "x.gz", maxOutputSize: limit) } throws: {
        "\($0)".hasPrefix("x.gz: not a valid gzip file") && "\($0)".contains(fragment)
      }
    }
    fails(Array(gz.prefix(30)), "truncated")
    fails([0x1F, 0x8C] + gz.dropFirst(2), "magic")
    var crc = gz
    crc[crc.count - 8] ^= 0xFF
    fails(crc, "CRC-32 mismatch")
    var size = gz
    size[size.count - 4] ^= 0x01
    fails(size, "length mismatch")
    fails(gz, limit: 10, "exceeds the limit")
    var blockType = gz
    blockType[10] |= 0x06  // BTYPE = 3
    fails(blockType, "invalid block type 3")
  }
  @Test("files Python's gzip and zlib wrote: levels 0, 1, 6 and 9, flushes, codes of up to 15 bits", arguments: InflateFixtureData.names)
  func pythonLevels(name: String) throws {
    let gz = try FileIO.readBytes(atPath: root + "/Tests/Fixtures/inflate/\(name).gz")
    let expected = InflateFixtureData.data(name)
    #expect(!expected.isEmpty)
    #expect(try Gzip.decompress(gz) == expected)
    // Whole members one after another decode to the data one after another.
    #expect(try Gzip.decompress(gz + gz) == expected + expected)
  }

  @Test("a stream cut at any byte is a thrown truncation error, never a trap", arguments: ["tiny-6", "stored-0", "flushes-6", "fibonacci-huffman"])
  func everyTruncation(name: String) throws {
    let gz = try FileIO.readBytes(atPath: root + "/Tests/Fixtures/inflate/\(name).gz")
    for cut in 0..<gz.count {
      #expect { try Gzip.decompress(Array(gz[..<cut])) } throws: { "\($0)".contains("truncated") }
    }
  }

  @Test("a byte changed anywhere is a thrown error or the original data, never a trap")
  func everyCorruption() throws {
    let gz = try FileIO.readBytes(atPath: root + "/Tests/Fixtures/inflate/flushes-6.gz")
    let expected = InflateFixtureData.data("flushes-6")
    let flips: [UInt8] = [0x01, 0x10, 0x80, 0xFF]
    for i in gz.indices {
      var bad = gz
      bad[i] ^= flips[i % flips.count]
      if let out = try? Gzip.decompress(bad) { #expect(out == expected, "byte \(i) ^ \(flips[i % flips.count])") }
    }
  }

  @Test("the output limit holds exactly, across stored, fixed and dynamic blocks")
  func exactLimit() throws {
    for name in ["stored-0", "tiny-6", "repeats-9"] {
      let gz = try FileIO.readBytes(atPath: root + "/Tests/Fixtures/inflate/\(name).gz")
      let size = InflateFixtureData.data(name).count
      #expect(try Gzip.decompress(gz, maxOutputSize: size).count == size)
      #expect { try Gzip.decompress(gz, maxOutputSize: size - 1) } throws: { "\($0)".contains("exceeds the limit of \(size - 1) bytes") }
    }
  }

  @Test("hand-made DEFLATE streams: overlapping copies, and each corrupt-code error")
  func handMadeStreams() throws {
    // Fixed codes: "a", copy 3 from 1 back, "b", copy 4 from 2 back (both overlap their source).
    let copies = DeflateWriter().header(final: true, type: 1).fixed(97).fixed(257).code(0, 5).fixed(98).fixed(258).code(1, 5)
      .fixed(256)
    let expected = Array("aaaababab".utf8)
    #expect(try Gzip.decompress(copies.member(trailerOf: expected)) == expected)
    let fixed = DeflateWriter().header(final: true, type: 1)
    // A final dynamic block with 257 literal/length codes and 1 distance code; the code-length
    // code's lengths are in sending order (16, 17, 18, 0, ...): `onlyRepeat` gives just 16 a
    // code ("0"), `onlyZeros` just 18 (11–138 zeros).
    let dynamic = DeflateWriter().header(final: true, type: 2).bits(0, 5).bits(0, 5)
    let onlyRepeat = dynamic.bits(0, 4).bits(1, 3).bits(0, 3).bits(0, 3).bits(0, 3)
    let onlyZeros = dynamic.bits(0, 4).bits(0, 3).bits(0, 3).bits(1, 3).bits(0, 3)
    let cases: [(String, DeflateWriter)] = [
      // Distance codes 30 and 31 take part in no code (RFC 1951 §3.2.6).
      ("invalid Huffman code", fixed.fixed(97).fixed(257).code(30, 5)),
      ("invalid length symbol 286", fixed.fixed(286)),
      ("distance 2 reaches before the start", fixed.fixed(97).fixed(257).code(1, 5)),
      ("stored block length check failed", DeflateWriter().header(final: true, type: 0).byteAligned().bits(5, 16).bits(5, 16)),
      ("too many length or distance codes", DeflateWriter().header(final: true, type: 2).bits(30, 5).bits(0, 5).bits(0, 4)),
      // 19 code-length codes of 1 bit each.
      ("over-subscribed Huffman code", (0..<19).reduce(dynamic.bits(15, 4)) { w, _ in w.bits(1, 3) }),
      // The pattern "1" is no code of `onlyZeros`.
      ("invalid Huffman code", onlyZeros.bits(1, 1)),
      ("repeat with no previous length", onlyRepeat.code(0, 1)),
      // 138 zeros twice: 276 lengths for 258 slots.
      ("code lengths overflow the table", onlyZeros.code(0, 1).bits(127, 7).code(0, 1).bits(127, 7)),
      // 138 + 120 zeros: no code for the end of the block.
      ("no end-of-block code", onlyZeros.code(0, 1).bits(127, 7).code(0, 1).bits(109, 7)),
    ]
    for (fragment, stream) in cases {
      #expect(throws: ArrayFileError.self) { try Gzip.decompress(stream.member(padding: 4)) }
      #expect { try Gzip.decompress(stream.member(padding: 4)) } throws: { "\($0)".contains(fragment) }
    }
  }

  @Test("CRC-32 eight bytes at a time agrees with the bit-by-bit definition, contiguous or not")
  func crcSlices() {
    func bitwise(_ bytes: [UInt8]) -> UInt32 {
      var c: UInt32 = 0xFFFF_FFFF
      for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      }
      return ~c
    }
    let bytes = InflateFixtureData.data("repeats-9")
    for count in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1001] {
      let head = Array(bytes.prefix(count))
      #expect(Gzip.crc32(head) == bitwise(head), "\(count) bytes")
      #expect(Gzip.crc32(bytes[3..<3 + count]) == bitwise(Array(bytes[3..<3 + count])), "\(count) bytes at offset 3")
      #expect(Gzip.crc32(head.lazy.map { $0 }) == bitwise(head), "\(count) bytes, not contiguous")
    }
  }

  @Test(
    "Fashion-MNIST's test images decompress to the IDX header and size",
    .enabled(if: FileManager.default.fileExists(atPath: fashionTestImages), "needs `apt-get install dataset-fashion-mnist`"))
  func fashionImages() throws {
    let out = try Gzip.decompress(FileIO.readBytes(atPath: fashionTestImages))
    #expect(out.count == 16 + 10_000 * 28 * 28)
    #expect(Array(out.prefix(16)) == [0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28])
  }
}

/// Fashion-MNIST's test images as the Debian package installs them.
private let fashionTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

/// The data `Scripts/make_gzip_fixtures.py` compressed into `Tests/Fixtures/inflate/`, made
/// here the same way (keep the two in step).
private enum InflateFixtureData {
  /// The fixtures' names (without `.gz`).
  static let names = ["skewed-9", "fibonacci-huffman", "repeats-1", "repeats-6", "repeats-9", "stored-0", "flushes-6", "tiny-6"]

  /// Marsaglia's xorshift32: `x ^= x << 13; x ^= x >> 17; x ^= x << 5`.
  struct XorShift32 {
    var x: UInt32
    /// The next state.
    mutating func next() -> UInt32 {
      x ^= x << 13
      x ^= x >> 17
      x ^= x << 5
      return x
    }
    /// The low bytes of the next `n` states.
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
  }

  /// 20,000 letters: `A` plus the trailing zero bits of a draw, at most 14.
  static let skewed: [UInt8] = {
    var g = XorShift32(x: 2_463_534_242)
    return (0..<20_000).map { _ in 65 + UInt8(min(14, g.next().trailingZeroBitCount)) }
  }()

  /// Runs, patterns repeated at distances 1, 3, 5, 12 and 40, and 2,000 random bytes seen again
  /// more than 23,000 bytes later.
  static let repeats: [UInt8] = {
    var g = XorShift32(x: 88_172_645)
    var out = [UInt8](repeating: UInt8(ascii: "a"), count: 300)
    for _ in 0..<100 { out += "abc".utf8 }
    for (size, times) in [(5, 100), (12, 50), (40, 20)] {
      let pattern = g.bytes(size)
      for _ in 0..<times { out += pattern }
    }
    let far = g.bytes(2000)
    out += far
    for i in 0..<2400 { out += "line \(i * 7 % 1000)\n".utf8 }
    return out + far
  }()

  /// 1,500 random bytes.
  static let random: [UInt8] = {
    var g = XorShift32(x: 521_288_629)
    return g.bytes(1500)
  }()

  /// 17 letters `a`, `b`, ... repeated 1, 2, 3, 5, 8, ..., 2584 times (Fibonacci numbers).
  static let fibonacci: [UInt8] = {
    var out: [UInt8] = [], (a, b) = (1, 2)
    for i in 0..<17 {
      out += repeatElement(UInt8(97 + i), count: a)
      (a, b) = (b, a + b)
    }
    return out
  }()

  /// The data fixture `name` decompresses to (empty for an unknown name).
  static func data(_ name: String) -> [UInt8] {
    switch name {
    case "skewed-9": skewed
    case "fibonacci-huffman": fibonacci
    case "repeats-1", "repeats-6", "repeats-9": repeats
    case "stored-0": random
    case "flushes-6": Array(repeats.prefix(3000) + skewed.prefix(3000))
    case "tiny-6": Array("abracadabra, abracadabra!".utf8)
    default: []
    }
  }
}

/// A writer of hand-made DEFLATE streams (RFC 1951) in a gzip member: bits go in lowest first,
/// Huffman codes highest bit first. Each method returns the writer with more appended.
private struct DeflateWriter {
  /// The stream so far.
  var bytes: [UInt8] = []
  /// Bits written.
  var bitCount = 0

  /// Appends the low `n` bits of `value`, lowest first (header fields, extra bits).
  func bits(_ value: Int, _ n: Int) -> DeflateWriter {
    var w = self
    for i in 0..<n {
      if w.bitCount % 8 == 0 { w.bytes.append(0) }
      w.bytes[w.bytes.count - 1] |= UInt8((value >> i) & 1) << UInt8(w.bitCount % 8)
      w.bitCount += 1
    }
    return w
  }

  /// Appends an `n`-bit Huffman code, highest bit first.
  func code(_ value: Int, _ n: Int) -> DeflateWriter {
    (0..<n).reversed().reduce(self) { w, i in w.bits(value >> i, 1) }
  }

  /// Appends a block header: BFINAL, then BTYPE (0 stored, 1 fixed, 2 dynamic codes).
  func header(final: Bool, type: Int) -> DeflateWriter { bits(final ? 1 : 0, 1).bits(type, 2) }

  /// Pads with zero bits to the next byte boundary.
  func byteAligned() -> DeflateWriter {
    var w = self
    w.bitCount = w.bytes.count * 8
    return w
  }

  /// Appends literal/length symbol `s` in the fixed code (RFC 1951 §3.2.6).
  func fixed(_ s: Int) -> DeflateWriter {
    switch s {
    case 0..<144: code(0x30 + s, 8)
    case 144..<256: code(0x190 + s - 144, 9)
    case 256..<280: code(s - 256, 7)
    default: code(0xC0 + s - 280, 8)
    }
  }

  /// The stream in a gzip member, followed by `padding` zero bytes so that no error is one of
  /// truncation, and a dummy trailer.
  func member(padding: Int) -> [UInt8] {
    [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255] + bytes + [UInt8](repeating: 0, count: padding + 8)
  }

  /// The stream in a gzip member whose trailer holds the CRC-32 and length of `payload`.
  func member(trailerOf payload: [UInt8]) -> [UInt8] {
    let trailer = [Gzip.crc32(payload), UInt32(payload.count)].flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255] + bytes + trailer
  }
}
