import ArrayCore
import Datasets
import Foundation
import Testing
import TestSupport

/// Tests/Fixtures/fashion-mini (written by Scripts/make_idx_fixtures.py).
let fashionMini: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/fashion-mini"
}()

private func message(_ body: () throws -> Void) -> String {
  do {
    try body()
    return "no error"
  } catch {
    return "\(error)"
  }
}

@Suite("IDX files and Fashion-MNIST")
struct IDXTests {
  @Test("reads the committed fixture, gzip and plain, with its dimensions and values")
  func readsFixture() throws {
    let images = try IDXArray(contentsOfFile: fashionMini + "/train-images-idx3-ubyte.gz")
    #expect(images.typeCode == 0x08 && images.dimensions == [200, 28, 28] && images.bytes.count == 200 * 784)
    let labels = try IDXArray(contentsOfFile: fashionMini + "/t10k-labels-idx1-ubyte")
    #expect(labels.dimensions == [50])
    #expect(labels.bytes.prefix(10) == [7, 5, 2, 7, 7, 6, 0, 5, 7, 6])  // printed by the script
    // Class k is a bar on rows 2k+4 and 2k+5 (the script's rule).
    let train = try IDXArray(contentsOfFile: fashionMini + "/train-labels-idx1-ubyte.gz")
    let k = Int(train.bytes[0])
    let bright = ((2 * k + 4) * 28..<(2 * k + 6) * 28).filter { images.bytes[$0] >= 200 }.count
    #expect(bright >= 30 && bright <= 40, "\(bright) bright pixels on the bar's rows")
  }

  @Test("other element types: signed bytes, int16, int32, float32, float64, big-endian")
  func otherTypes() throws {
    func file(_ type: UInt8, _ payload: [UInt8], _ n: Int) -> [UInt8] { [0, 0, type, 1, 0, 0, 0, UInt8(n)] + payload }
    #expect(try IDXArray(bytes: file(0x09, [0xFF, 0x02], 2), source: "s").doubles == [-1, 2])
    #expect(try IDXArray(bytes: file(0x0B, [0xFF, 0xFE, 0x01, 0x00], 2), source: "s").doubles == [-2, 256])
    #expect(try IDXArray(bytes: file(0x0C, [0, 0, 1, 0], 1), source: "s").doubles == [256])
    #expect(try IDXArray(bytes: file(0x0D, [0x3F, 0xC0, 0, 0], 1), source: "s").doubles == [1.5])
    #expect(try IDXArray(bytes: file(0x0E, [0x40, 0x04, 0, 0, 0, 0, 0, 0], 1), source: "s").doubles == [2.5])
  }

  @Test("bad magic, unknown type, lying headers, truncation and extra bytes are errors naming the file")
  func badHeaders() {
    let good = IDXArray.encode(unsignedBytes: [1, 2, 3, 4, 5, 6], dimensions: [2, 3])
    #expect(message { _ = try IDXArray(bytes: good, source: "good") } == "no error")
    var magic = good
    magic[0] = 0x50
    #expect(message { _ = try IDXArray(bytes: magic, source: "m.idx") }.contains("m.idx: bad magic number 50000802"))
    var type = good
    type[2] = 0x07
    #expect(message { _ = try IDXArray(bytes: type, source: "t.idx") }.contains("unknown type byte 0x07"))
    // The header says [2, 4]: 8 values, the file has 6.
    let lying = IDXArray.encode(unsignedBytes: [1, 2, 3, 4, 5, 6], dimensions: [2, 4])
    let m = message { _ = try IDXArray(bytes: lying, source: "lie.idx") }
    #expect(m.contains("lie.idx") && m.contains("[2, 4]") && m.contains("need 20 bytes, the file has 18 (truncated)"), "\(m)")
    #expect(message { _ = try IDXArray(bytes: good + [9], source: "x") }.contains("extra bytes"))
    #expect(message { _ = try IDXArray(bytes: Array(good.prefix(6)), source: "h") }.contains("truncated header"))
    #expect(message { _ = try IDXArray(bytes: [0, 0], source: "h") }.contains("truncated"))
    // Dimensions whose product overflows or exceeds the limit: refused before any allocation.
    let huge: [UInt8] = [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    #expect(message { _ = try IDXArray(bytes: huge, source: "huge") }.contains("more than \(IDXArray.maximumSize) elements"))
  }

  @Test("a truncated gzip file and a missing file are errors naming the path")
  func badFiles() throws {
    let dir = try makeScratchDirectory("idx")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let gz = try FileIO.readBytes(atPath: fashionMini + "/train-labels-idx1-ubyte.gz")
    try FileIO.writeAtomically(Array(gz.prefix(gz.count - 5)), toPath: dir + "/cut.gz")
    #expect(message { _ = try IDXArray(contentsOfFile: dir + "/cut.gz") }.contains("cut.gz: bad gzip data"))
    #expect(message { _ = try IDXArray(contentsOfFile: dir + "/none") }.contains("none: cannot read"))
  }

  @Test("Fashion-MNIST from a directory: pixels scaled to [0, 1], limits, and missing files named with the apt-get line")
  func fashionDataset() throws {
    let data = try FashionMNIST(directory: fashionMini)
    #expect(data.train.count == 200 && data.test.count == 50 && data.train.featureCount == 784)
    let pixels = data.train.features.scalars(as: Float.self)
    #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 } && pixels.contains { $0 > 0.78 })
    let raw = try IDXArray(contentsOfFile: fashionMini + "/train-images-idx3-ubyte.gz")
    #expect(pixels[100] == Float(raw.bytes[100]) / 255)
    let limited = try FashionMNIST(directory: fashionMini, trainLimit: 30, testLimit: 7)
    #expect(limited.train.count == 30 && limited.test.count == 7)

    let dir = try makeScratchDirectory("idx")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte"] {
      try FileManager.default.copyItem(atPath: fashionMini + "/" + name, toPath: dir + "/" + name)
    }
    let m = message { _ = try FashionMNIST(directory: dir) }
    #expect(m.contains("t10k-labels-idx1-ubyte[.gz]") && m.contains("apt-get install dataset-fashion-mnist"), "\(m)")
    #expect(!m.contains("train-images"))
    // Labels that do not match the images' count.
    try FileIO.writeAtomically(IDXArray.encode(unsignedBytes: [1, 2, 3], dimensions: [3]), toPath: dir + "/t10k-labels-idx1-ubyte")
    let m2 = message { _ = try FashionMNIST(directory: dir) }
    #expect(m2.contains("3 labels for the 50 images"), "\(m2)")
    // A label outside 0...9.
    try FileIO.writeAtomically(IDXArray.encode(unsignedBytes: [UInt8](repeating: 12, count: 50), dimensions: [50]), toPath: dir + "/t10k-labels-idx1-ubyte")
    #expect(message { _ = try FashionMNIST(directory: dir) }.contains("label 12 of item 0"))
  }

  @Test("the Debian package's files when installed", .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz"), "needs `apt-get install dataset-fashion-mnist`"))
  func debianPackage() throws {
    let labels = try IDXArray(contentsOfFile: FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz")
    #expect(labels.dimensions == [10000])
    #expect(Set(labels.bytes) == Set(0..<10))
  }
}
