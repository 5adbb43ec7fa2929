import ArrayCore
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The directory of the committed fixtures (written by Scripts/make_io_fixtures.py).
private let fixtures: String = {
  let file = "\(#filePath)"
  let testsDir = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
  return testsDir + "/Fixtures"
}()

/// The names in a directory.
private func listing(_ directory: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

// The fixture values, repeated from Scripts/make_io_fixtures.py.
private let f4Values: [Float] = [1.0, -2.5, Float(1.0 / 3.0), Float(1e-30), 65504.0, -0.0]
private let f8Values: [Double] = [Double.pi, -2.718281828459045, 1e-300, 1152921504606846976]
private let i4Values: [Int32] = [-3, -2, -1, 0, 1, 2].map { $0 * 1_000_003 }
private let b1Values: [Bool] = [true, false, false, true, true]

private func bitPatterns(_ a: NDArray) -> [UInt8] { a.withUnsafeRawBytes { Array($0) } }

@Suite("NumPy .npy files")
struct NPYTests {
  @Test("reads the arrays NumPy wrote, value for value")
  func readsPythonFixtures() throws {
    let f4 = try NDArray(npyFile: fixtures + "/python_written.npy")
    #expect(f4.dtype == .float32 && f4.shape == [2, 3])
    #expect(f4.scalars(as: Float.self).map(\.bitPattern) == f4Values.map(\.bitPattern))
    let f8 = try NDArray(npyFile: fixtures + "/python_written_f8.npy")
    #expect(f8.dtype == .float64 && f8.shape == [4])
    #expect(f8.scalars(as: Double.self) == f8Values)
    let i4 = try NDArray(npyFile: fixtures + "/python_written_i4.npy")
    #expect(i4.dtype == .int32 && i4.shape == [3, 1, 2])
    #expect(i4.scalars(as: Int32.self) == i4Values)
    let b1 = try NDArray(npyFile: fixtures + "/python_written_b1.npy")
    #expect(b1.dtype == .bool && b1.shape == [5])
    #expect(b1.scalars(as: Bool.self) == b1Values)
    let scalar = try NDArray(npyFile: fixtures + "/python_written_scalar.npy")
    #expect(scalar.dtype == .float64 && scalar.shape == [])
    #expect(scalar.scalarValue == 0.1)
    let v2 = try NDArray(npyFile: fixtures + "/python_written_v2.npy")
    #expect(v2.isBitIdentical(to: f4))
  }

  @Test("writes exactly the bytes numpy.save writes")
  func encodesLikeNumPy() throws {
    let cases: [(String, NDArray)] = [
      ("python_written.npy", NDArray(f4Values, shape: [2, 3])),
      ("python_written_f8.npy", NDArray(f8Values, shape: [4])),
      ("python_written_i4.npy", NDArray(i4Values, shape: [3, 1, 2])),
      ("python_written_b1.npy", NDArray(b1Values, shape: [5])),
      ("python_written_scalar.npy", NDArray(scalar: 0.1)),
    ]
    for (name, array) in cases {
      let expected = try FileIO.readBytes(atPath: fixtures + "/" + name)
      #expect(NPYFormat.encode(array) == expected, "\(name)")
    }
  }

  @Test("round-trips every dtype and edge shape bit for bit through a file")
  func roundTrip() throws {
    let dir = try makeScratchDirectory("io")
    let nanPayload = Float(bitPattern: 0x7FC0_1234)
    let arrays: [NDArray] = [
      NDArray([nanPayload, -0.0, .infinity, -.leastNonzeroMagnitude, 3], shape: [5]),
      randomArray([2, 3, 4], seed: 1),
      NDArray([Int32.min, Int32.max, 0, -1], shape: [2, 2]),
      NDArray([true, false, true], shape: [3, 1]),
      NDArray(scalar: Float(7)),
      NDArray([Double](), shape: [0, 3]),
    ]
    for (i, a) in arrays.enumerated() {
      let path = "\(dir)/a\(i).npy"
      try a.writeNPY(toPath: path)
      let b = try NDArray(npyFile: path)
      #expect(b.shape == a.shape && b.dtype == a.dtype)
      #expect(bitPatterns(b) == bitPatterns(a), "array \(i)")
    }
    #expect(listing(dir) == (0..<arrays.count).map { "a\($0).npy" })
  }

  @Test("reads format 2.0 (a 4-byte header length) with a header over 65,535 bytes")
  func readsVersionTwo() throws {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    let padded = header + String(repeating: " ", count: 70_000) + "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0]
    let n = padded.utf8.count
    bytes += (0..<4).map { UInt8((n >> (8 * $0)) & 0xFF) }
    bytes += Array(padded.utf8)
    bytes += [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]  // 1.0, 2.0
    let a = try NPYFormat.decode(bytes)
    #expect(a.scalars(as: Float.self) == [1, 2])
  }

  /// `.npy` bytes with a hand-written header (version 1.0) and data.
  private func npy(_ header: String, _ data: [UInt8], version: UInt8 = 1) -> [UInt8] {
    let h = header + "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    bytes += [UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)]
    return bytes + Array(h.utf8) + data
  }

  private func expectMalformed(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      let a = try NPYFormat.decode(bytes, source: "bad.npy")
      Issue.record("decoded \(a) instead of throwing", sourceLocation: sourceLocation)
    } catch {
      #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
      #expect(error.description.hasPrefix("bad.npy: "), sourceLocation: sourceLocation)
    }
  }

  @Test("rejects malformed and unsupported files with a thrown error naming the problem")
  func rejectsBadFiles() {
    let twoFloats: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]
    let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    #expect((try? NPYFormat.decode(npy(good, twoFloats)))?.scalars(as: Float.self) == [1, 2])
    expectMalformed(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", twoFloats), "fortran_order")
    expectMalformed(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", twoFloats), "big-endian")
    expectMalformed(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", twoFloats), "dtype '<i8'")
    expectMalformed(npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", twoFloats), "dtype '|O'")
    expectMalformed(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", twoFloats), "structured")
    expectMalformed(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", twoFloats), "truncated")
    expectMalformed(npy(good, twoFloats + [0]), "1 unexpected bytes")
    expectMalformed(npy("{'descr': '<f4', 'shape': (2,), }", twoFloats), "must have the keys")
    expectMalformed(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", twoFloats), "unexpected key 'x'")
    expectMalformed(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", twoFloats), "non-negative")
    expectMalformed(npy(good, twoFloats, version: 9), "version 9.0")
    expectMalformed(Array("NUMPX".utf8) + [0, 1, 0, 0, 0], "magic")
    expectMalformed([0x93, 0x4E], "magic")
    // Header length beyond the file, and beyond the limit.
    var pastEnd = npy(good, [])
    pastEnd[8] = 0xFF
    expectMalformed(pastEnd, "runs past the end")
    var huge: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0]
    huge += [0x40, 0x0D, 0x03, 0x00]  // 200,000
    huge += [UInt8](repeating: 0x20, count: 200_000)
    expectMalformed(huge, "exceeds the limit")
    // A shape whose element count overflows.
    expectMalformed(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", []), "too many elements")
  }
}

@Suite("safetensors files")
struct SafetensorsTests {
  @Test("reads the file the Python safetensors package wrote, value for value")
  func readsPythonFixture() throws {
    let file = try SafetensorsFile(contentsOfFile: fixtures + "/python_written.safetensors")
    #expect(file.sortedNames == ["dense/bias", "dense/kernel", "mask", "steps"])
    #expect(file.metadata == ["written_by": "Scripts/make_io_fixtures.py", "layers": "64,128,10"])
    let kernel = try #require(file.tensors["dense/kernel"])
    #expect(kernel.shape == [2, 3] && kernel.dtype == .float32)
    #expect(kernel.scalars(as: Float.self).map(\.bitPattern) == f4Values.map(\.bitPattern))
    #expect(file.tensors["dense/bias"]?.scalars(as: Double.self) == f8Values)
    #expect(file.tensors["steps"]?.scalars(as: Int32.self) == i4Values)
    #expect(file.tensors["steps"]?.shape == [3, 1, 2])
    #expect(file.tensors["mask"]?.scalars(as: Bool.self) == b1Values)
  }

  @Test("writes the documented layout: sorted names, contiguous offsets, header padded to 8")
  func writesExpectedBytes() throws {
    let file = SafetensorsFile(
      tensors: ["b": NDArray([Int32(7)], shape: [1]), "a": NDArray([Float(1), 2], shape: [2])],
      metadata: ["k": "v\"q"])
    let bytes = try file.encoded()
    let header = #"{"__metadata__":{"k":"v\"q"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}"#
    let paddedCount = (header.utf8.count + 7) / 8 * 8
    var expected = (0..<8).map { UInt8((paddedCount >> (8 * $0)) & 0xFF) }
    expected += Array(header.utf8) + [UInt8](repeating: 0x20, count: paddedCount - header.utf8.count)
    expected += [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 7, 0, 0, 0]
    #expect(bytes == expected)
  }

  @Test("round-trips bit for bit through a file, and equal contents give identical files")
  func roundTrip() throws {
    let dir = try makeScratchDirectory("io")
    var tensors: [String: NDArray] = [:]
    tensors["weights/x"] = randomArray([3, 4], seed: 2, dtype: .float32)
    tensors["nan"] = NDArray([Float(bitPattern: 0x7FC0_0001), -0.0], shape: [2])
    tensors["f64"] = randomArray([2, 2, 2], seed: 3)
    tensors["int"] = NDArray([Int32.min, 5, Int32.max], shape: [3])
    tensors["flags"] = NDArray([false, true], shape: [1, 2])
    tensors["scalar"] = NDArray(scalar: 2.5)
    tensors["empty"] = NDArray([Float](), shape: [0, 3])
    tensors["ünïcode \"name\""] = NDArray([Float(1)], shape: [1])
    let file = SafetensorsFile(tensors: tensors, metadata: ["layers": "64,128,10", "mean": "[0.5]"])
    try file.write(toPath: dir + "/m.safetensors")
    let back = try SafetensorsFile(contentsOfFile: dir + "/m.safetensors")
    #expect(back == file)
    for (name, a) in tensors {
      #expect(back.tensors[name].map(bitPatterns) == bitPatterns(a), "\(name)")
      #expect(back.tensors[name]?.shape == a.shape)
    }
    // Same contents built in another insertion order: the same bytes.
    var reordered: [String: NDArray] = [:]
    for name in tensors.keys.sorted().reversed() { reordered[name] = tensors[name] }
    let again = try SafetensorsFile(tensors: reordered, metadata: file.metadata).encoded()
    #expect(again == (try FileIO.readBytes(atPath: dir + "/m.safetensors")))
    // Overwriting replaces the file and leaves no temporary file behind.
    try SafetensorsFile(tensors: ["x": NDArray([Float(3)])]).write(toPath: dir + "/m.safetensors")
    #expect(try SafetensorsFile(contentsOfFile: dir + "/m.safetensors").sortedNames == ["x"])
    #expect(listing(dir) == ["m.safetensors"])
  }

  @Test("writing into a missing directory throws and names the path")
  func writeErrors() {
    #expect {
      try SafetensorsFile(tensors: [:]).write(toPath: "/nonexistent-dir-for-test/m.safetensors")
    } throws: { error in
      "\(error)".contains("/nonexistent-dir-for-test/m.safetensors")
    }
    #expect(throws: ArrayFileError.self) { try SafetensorsFile(tensors: ["__metadata__": NDArray([Float(1)])]).encoded() }
    #expect(throws: ArrayFileError.self) { try NDArray(npyFile: "/nonexistent-dir-for-test/x.npy") }
  }

  /// A file from a literal header and data bytes.
  private func file(_ header: String, _ data: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
    let n = declaredLength ?? header.utf8.count
    return (0..<8).map { UInt8((UInt64(n) >> (8 * UInt64($0))) & 0xFF) } + Array(header.utf8) + data
  }

  private func expectMalformed(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      let f = try SafetensorsFile(bytes: bytes, source: "bad.safetensors")
      Issue.record("decoded \(f.sortedNames) instead of throwing", sourceLocation: sourceLocation)
    } catch {
      #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
      #expect(error.description.hasPrefix("bad.safetensors: "), sourceLocation: sourceLocation)
    }
  }

  @Test("rejects malformed files with a thrown error naming the problem")
  func rejectsBadFiles() {
    let eight = [UInt8](repeating: 0, count: 8)
    func t(_ name: String, _ dtype: String, _ shape: String, _ b: Int, _ e: Int) -> String {
      "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(b),\(e)]}"
    }
    // A valid file first, so the cases below fail for the reason they name.
    let ok = try? SafetensorsFile(bytes: file("{" + t("a", "F32", "[2]", 0, 8) + "}  ", eight))
    #expect(ok?.tensors["a"]?.shape == [2])
    expectMalformed([1, 0, 0], "fewer than the 8-byte header length")
    expectMalformed(file("{}", [], declaredLength: 500), "runs past the end")
    expectMalformed(file("{}", [], declaredLength: 200_000_000), "exceeds the limit")
    expectMalformed(file("{\"a\":", eight), "not valid JSON")
    expectMalformed(file("[1, 2]", []), "not a JSON object")
    expectMalformed(file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("a", "F32", "[2]", 0, 8) + "}", eight), "duplicate key")
    expectMalformed(file("{" + t("a", "F16", "[4]", 0, 8) + "}", eight), "dtype F16")
    expectMalformed(file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[1]", 4, 8) + "}", eight), "overlapping")
    expectMalformed(file("{" + t("a", "F32", "[1]", 4, 8) + "}", eight), "gap")
    expectMalformed(file("{" + t("a", "F32", "[4]", 0, 16) + "}", eight), "beyond the 8-byte data buffer")
    expectMalformed(file("{" + t("a", "F32", "[3]", 0, 8) + "}", eight), "need 12 bytes")
    expectMalformed(file("{" + t("a", "F32", "[1]", 0, 4) + "}", eight), "cover 4 bytes but the data buffer has 8")
    expectMalformed(file("{" + t("a", "F32", "[2]", 8, 0) + "}", eight), "begin > end")
    expectMalformed(file("{" + t("a", "F32", "[-2]", 0, 8) + "}", eight), "non-negative integers")
    expectMalformed(file("{\"__metadata__\":{\"k\":1}}", []), "not a string")
    expectMalformed(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "no \"data_offsets\"")
    expectMalformed(file("{" + t("a", "F32", "[4611686018427387904,4]", 0, 8) + "}", eight), "overflows")
  }
}

@Suite("FileIO")
struct FileIOTests {
  @Test("reads whole files, refuses directories and files over the limit, writes atomically")
  func readAndWrite() throws {
    let dir = try makeScratchDirectory("io")
    let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    try FileIO.writeAtomically(bytes, toPath: dir + "/data.bin")
    #expect(try FileIO.readBytes(atPath: dir + "/data.bin") == bytes)
    #expect(throws: ArrayFileError.fileSystem(path: dir, operation: "read", message: "it is a directory, not a regular file")) {
      try FileIO.readBytes(atPath: dir)
    }
    #expect { try FileIO.readBytes(atPath: dir + "/data.bin", limit: 1000) } throws: { "\($0)".contains("more than the limit of 1000") }
    // Renaming a file over a directory fails: the error names the path, the directory is left
    // alone and no temporary file remains.
    #expect(mkdir(dir + "/target", 0o755) == 0)
    #expect { try FileIO.writeAtomically([1, 2], toPath: dir + "/target") } throws: { "\($0)".contains(dir + "/target") }
    #expect(listing(dir) == ["data.bin", "target"])
    #expect { try FileIO.writeAtomically([1], toPath: dir + "/missing/x.bin") } throws: { "\($0)".contains("missing/x.bin") }
  }
}
