import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The committed fixtures (Tests/Fixtures, written by Scripts/make_io_fixtures.py).
private let fixtures: String = {
  "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    + "/Fixtures"
}()

/// A graph with a trainable float32 matrix, a float64 vector and a non-trainable slot-like
/// variable, and a session with them initialized.
private func model(scale: Float = 1) throws -> (Session, w: Tensor, b: Tensor, slot: Tensor) {
  let graph = Graph()
  let w = try graph.variable(NDArray([1.5 * scale, -2, 1.0 / 3, 1e-30, 65504, -0.0], shape: [2, 3]), name: "dense/kernel")
  let b = try graph.variable(NDArray([Double.pi * Double(scale), -1]), name: "dense/bias")
  let slot = try graph.variable(NDArray([Float(0.25 * scale), 0.5]), trainable: false, name: "dense/bias/Momentum")
  let session = Session(graph: graph)
  try session.initializeVariables()
  return (session, w, b, slot)
}

@Suite struct CheckpointTests {
  @Test func roundTripIsBitForBit() throws {
    let dir = try makeScratchDirectory("checkpoint")
    let (saved, w, b, slot) = try model()
    try Checkpoint.save(session: saved, to: dir + "/ck.safetensors", metadata: ["step": "7"])
    let (restored, w2, b2, slot2) = try model(scale: 3)  // same names, other values
    let metadata = try Checkpoint.restore(session: restored, from: dir + "/ck.safetensors")
    #expect(metadata == ["step": "7"])
    #expect(try restored.value(of: w2).isBitIdentical(to: saved.value(of: w)))
    #expect(try restored.value(of: b2).isBitIdentical(to: saved.value(of: b)))
    #expect(try restored.value(of: slot2).isBitIdentical(to: saved.value(of: slot)))  // non-trainable too
    // -0.0 and the float32 subnormal-range value survive exactly.
    #expect(try restored.value(of: w2).scalars(as: Float.self)[5].sign == .minus)
  }

  @Test func fileIsSafetensorsKeyedByVariableNames() throws {
    let (session, _, _, _) = try model()
    let file = try Checkpoint.contents(of: session)
    #expect(file.sortedNames == ["dense/bias", "dense/bias/Momentum", "dense/kernel"])
    #expect(file.tensors["dense/kernel"]?.shape == [2, 3])
    #expect(file.tensors["dense/bias"]?.dtype == .float64)
    // The bytes start with the little-endian header length, then the JSON header.
    let bytes = try file.encoded()
    let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
    let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
    #expect(header.contains("\"dense/kernel\":{\"dtype\":\"F32\",\"shape\":[2,3]"))
  }

  @Test func restoresAFileWrittenByPython() throws {
    // Tests/Fixtures/python_written.safetensors: safetensors.numpy.save_file of these four.
    let graph = Graph()
    let kernel = try graph.variable(NDArray.zeros([2, 3], dtype: .float32), name: "dense/kernel")
    let bias = try graph.variable(NDArray.zeros([4], dtype: .float64), name: "dense/bias")
    let steps = try graph.variable(NDArray([Int32](repeating: 0, count: 6), shape: [3, 1, 2]), name: "steps")
    let mask = try graph.variable(NDArray([Bool](repeating: false, count: 5)), name: "mask")
    let session = Session(graph: graph)
    try session.initializeVariables()
    let metadata = try Checkpoint.restore(session: session, from: fixtures + "/python_written.safetensors")
    #expect(metadata["layers"] == "64,128,10")
    #expect(try session.value(of: kernel).scalars(as: Float.self) == [1.0, -2.5, Float(1.0 / 3.0), 1e-30, 65504, -0.0])
    #expect(try session.value(of: bias).scalars(as: Double.self) == [Double.pi, -exp(1.0), 1e-300, 0x1p60])
    #expect(try session.value(of: steps).scalars(as: Int32.self) == [-3, -2, -1, 0, 1, 2].map { $0 * 1_000_003 })
    #expect(try session.value(of: mask).scalars(as: Bool.self) == [true, false, false, true, true])
  }

  @Test func mismatchesAreListedAndNothingChanges() throws {
    let (source, _, _, _) = try model()
    var file = try Checkpoint.contents(of: source)
    file.tensors["dense/bias/Momentum"] = nil  // missing
    file.tensors["extra"] = NDArray([Float(1)])  // unexpected
    file.tensors["dense/kernel"] = try NDArray.zeros([3, 2], dtype: .float32)  // wrong shape
    file.tensors["dense/bias"] = NDArray([Float(1), 2])  // wrong dtype
    let (target, w, b, _) = try model(scale: 5)
    let before = try (target.value(of: w), target.value(of: b))
    #expect {
      try Checkpoint.restore(session: target, from: file, source: "ck.safetensors")
    } throws: { error in
      guard let e = error as? CheckpointError else { return false }
      return e.missing == ["dense/bias/Momentum"] && e.unexpected == ["extra"]
        && e.mismatched.map(\.name) == ["dense/kernel", "dense/bias"]
        && e.description.contains("dense/kernel is float32 [2, 3] in the graph but float32 [3, 2] in the file")
        && e.description.contains("dense/bias is float64 [2] in the graph but float32 [2] in the file")
        && e.description.hasPrefix("ck.safetensors does not match the graph: missing variables: dense/bias/Momentum")
    }
    // Nothing was restored, not even the variables that matched.
    #expect(try target.value(of: w).isBitIdentical(to: before.0))
    #expect(try target.value(of: b).isBitIdentical(to: before.1))
  }

  @Test func corruptFilesAreRejectedAndNothingChanges() throws {
    let dir = try makeScratchDirectory("checkpoint")
    let (source, _, _, _) = try model()
    let bytes = try Checkpoint.contents(of: source).encoded()
    let (target, w, _, _) = try model(scale: 2)
    let before = try target.value(of: w)
    func write(_ b: [UInt8], _ name: String) throws -> String {
      let path = dir + "/" + name
      try FileIO.writeAtomically(b, toPath: path)
      return path
    }
    var oversized = bytes
    for i in 0..<8 { oversized[i] = 0xFF }  // header length 2⁶⁴ − 1
    var wrongDtype = bytes
    let header = String(decoding: bytes, as: UTF8.self)
    let range = try #require(header.range(of: "\"F64\""))
    let offset = header.utf8.distance(from: header.startIndex, to: range.lowerBound)
    wrongDtype.replaceSubrange((offset + 1)..<(offset + 4), with: Array("Q64".utf8))
    let cases = [
      try write(Array(bytes.dropLast(5)), "truncated.safetensors"),
      try write(oversized, "oversized.safetensors"),
      try write(wrongDtype, "dtype.safetensors"),
      dir + "/absent.safetensors",
    ]
    for path in cases {
      #expect(throws: ArrayFileError.self) { try Checkpoint.restore(session: target, from: path) }
    }
    #expect(try target.value(of: w).isBitIdentical(to: before))
  }

  @Test func killedSaveLeavesALoadableCheckpoint() throws {
    // The CheckpointTorture helper (built beside the tests) saves 8 MB checkpoints in a loop;
    // kill it at random moments, mostly in the middle of a write, and load what is left: it
    // must always be one whole checkpoint (every element equal to its recorded step).
    let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let helper = products.appendingPathComponent("CheckpointTorture").path
    guard FileManager.default.isExecutableFile(atPath: helper) else {
      Issue.record("the CheckpointTorture helper is not built at \(helper) (swift build --build-tests)")
      return
    }
    let directory = try makeScratchDirectory("checkpoint")
    defer { try? FileManager.default.removeItem(atPath: directory) }  // with any killed writer's temporary file
    let path = directory + "/ck.safetensors"
    var rng = SeededGenerator(seed: 7)
    var checked = 0
    var midWrite = 0
    for trial in 0..<8 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: helper)
      process.arguments = [path]
      let output = Pipe()
      process.standardOutput = output
      try process.run()
      // Wait for the first complete save (however loaded the machine), then kill at a random
      // moment of the following saves.
      _ = output.fileHandleForReading.availableData
      let delay = UInt32(rng.choice(200_000))  // 0 to 200 ms
      if trial % 2 == 0 {
        usleep(delay)
      } else {
        // Odd trials kill in the middle of a write: the writer is stopped while its temporary
        // file exists, so no timing luck is needed.
        _ = stopProcess(process.processIdentifier) { !temporaryFiles(in: directory).isEmpty }
      }
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      #expect(process.terminationReason == .uncaughtSignal)  // killed while still saving
      // A temporary file left behind: the kill landed between its creation and the rename.
      if !temporaryFiles(in: directory).isEmpty { midWrite += 1 }
      let graph = Graph()
      let big = try graph.variable(NDArray(repeating: -1, shape: [1 << 21], dtype: .float32), name: "big")
      let session = Session(graph: graph)
      try session.initializeVariables()
      let metadata = try Checkpoint.restore(session: session, from: path)
      let step = try #require(metadata["step"].flatMap(Float.init))
      let values = try session.value(of: big).scalars(as: Float.self)
      #expect(values.allSatisfy { $0 == step }, "a torn checkpoint at step \(step)")
      checked += 1
    }
    #expect(checked == 8)
    #expect(midWrite >= 4, "only \(midWrite) of 8 kills landed in the middle of a write")
    // The next save to the path removes the dead writers' temporary files.
    let graph = Graph()
    _ = try graph.variable(NDArray([Float(1)]), name: "small")
    let session = Session(graph: graph)
    try session.initializeVariables()
    try Checkpoint.save(session: session, to: path)
    #expect(temporaryFiles(in: directory).isEmpty)
  }

  /// The atomic write's temporary files in `directory` (`.ck.safetensors.tmp-...`).
  private func temporaryFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".ck.safetensors.tmp-") }
  }

  @Test func savingUninitializedVariablesIsAnError() throws {
    let graph = Graph()
    _ = try graph.variable(NDArray([Float(1)]), name: "v")
    let session = Session(graph: graph)
    #expect(throws: SessionError.self) { try Checkpoint.save(session: session, to: "/tmp/never-written.safetensors") }
  }
}
