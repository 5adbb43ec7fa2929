import ArrayCore
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

}
