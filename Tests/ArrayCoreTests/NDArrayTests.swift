import ArrayCore
import CBackpropKernels
import Foundation
import Testing

@Suite struct NDArrayDescriptionTests {
  @Test func printsLikeNumPy() {
    #expect(NDArray([Float(9.932316)]).description == "[9.932316]")
    #expect(NDArray([Float(0.03685168)], shape: [1, 1]).description == "[[0.03685168]]")
    #expect(NDArray([Float(9.61972692e-05)], shape: [1, 1]).description == "[[9.619727e-05]]")
    #expect(NDArray([1.5, 2.25, 10.0]).description == "[ 1.5   2.25 10.  ]")
    #expect(NDArray([Int32(1), 2, 3]).description == "[1 2 3]")
    #expect(NDArray([true, false]).description == "[ True False]")
    #expect(NDArray([1, 2, 3, 4] as [Float], shape: [2, 2]).description == "[[1. 2.]\n [3. 4.]]")
    #expect(NDArray(scalar: 2.5).description == "2.5")
  }
}

/// Large arrays are advised onto huge pages (runtime.c, "Huge pages for large arrays"), as
/// NumPy's are: the kernel marks the mapping that holds them `hg` in /proc/self/smaps.
@Suite struct HugePageTests {
  /// The VmFlags of the mapping of /proc/self/smaps that contains `address` (`nil`: not found).
  static func mappingFlags(containing address: UInt) throws -> [Substring]? {
    // Read to the end with a loop: /proc files report a size of 0, and Foundation's
    // `String(contentsOfFile:)` stops after its first read.
    let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
    var bytes = Data()
    while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty { bytes.append(chunk) }
    let smaps = String(decoding: bytes, as: UTF8.self)
    var inside = false
    for line in smaps.split(separator: "\n") {
      if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
        let lo = UInt(line[..<dash], radix: 16), let hi = UInt(line[line.index(after: dash)..<space], radix: 16)
      {
        inside = lo <= address && address < hi
      } else if inside, line.hasPrefix("VmFlags:") {
        return line.dropFirst("VmFlags:".count).split(separator: " ")
      }
    }
    return nil
  }

  static var linuxWithHugePages: Bool {
    #if os(Linux)
      FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled")
        && !(ProcessInfo.processInfo.environment["BACKPROP_HUGE_PAGES"]?.hasPrefix("0") ?? false)
    #else
      false
    #endif
  }

  @Test(.enabled(if: linuxWithHugePages, "Linux with transparent huge pages, BACKPROP_HUGE_PAGES not set to 0"))
  func largeArraysAreAdvisedSmallOnesAreNot() throws {
    let large = try NDArray(repeating: 1, shape: [1024, 1024], dtype: .float64)  // 8 MiB
    let address = large.withUnsafeRawBytes { UInt(bitPattern: $0.baseAddress) }
    let flags = try #require(try Self.mappingFlags(containing: address + (4 << 20)))
    #expect(flags.contains("hg"), "flags of the 8 MiB array's mapping: \(flags)")
    let small = try NDArray(repeating: 1, shape: [1024], dtype: .float64)
    #expect(small.withUnsafeRawBytes { bp_advise_huge_pages(UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) } == 0)
  }
}
