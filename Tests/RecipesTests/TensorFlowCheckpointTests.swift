import ArrayCore
import Foundation
import GraphCore
import Testing

/// Tests/Fixtures/graphdef/tf_checkpoint (`Scripts/tf_probe.py export-checkpoint`): a TF1
/// training graph (Adam on reference variables, a global step, an exponentially decayed learning
/// rate) that TensorFlow 2.21 trained 3 steps and saved with `tf.compat.v1.train.Saver`, with the
/// values it saved and its losses over the 3 steps after the save.
@Suite struct TensorFlowCheckpointTests {
  static let directory: String = {
    let file = "\(#filePath)"
    return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
      + "/Fixtures/graphdef/tf_checkpoint"
  }()
  static let prefix = directory + "/model.ckpt"

  static func meta() throws -> [String: Any] {
    let bytes = try FileIO.readBytes(atPath: directory + "/checkpoint.json")
    return try need(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  /// Runs the imported graph's `train` on the fixture's batch once per loss TensorFlow recorded
  /// after its save, expecting each loss to float32's tolerance.
  static func expectTensorFlowsLosses(_ g: Graph, _ s: Session, _ meta: [String: Any], firstStep: Int) throws {
    var feeds: [Tensor: NDArray] = [:]
    for entry in meta["feeds"] as? [[String: Any]] ?? [] {
      let f = try ProbeCase.array(entry)
      feeds[try g.requiredTensor(named: f.name)] = f.value
    }
    let loss = try g.requiredTensor(named: "loss:0"), train = try need(g.operation(named: "train"), "train")
    for (step, w) in try need(meta["losses_after_restore"] as? [Double]).enumerated() {
      let got = try s.run([loss], feeding: feeds, targets: [train])[0].doubles[0]
      #expect(abs(got - w) <= 2e-5 * max(1, abs(w)), "step \(firstStep + step): \(got), TensorFlow \(w)")
    }
  }

  /// The bundle holds TensorFlow's values: the weights and Adam's slots as float32, the beta
  /// powers, and the global step as int64 3.
  @Test func theBundleHoldsTensorFlowsSavedValues() throws {
    let bundle = try TensorBundle(prefix: Self.prefix)
    let saved = try (Self.meta()["saved"] as? [[String: Any]] ?? []).map(ProbeCase.array)
    #expect(bundle.sortedNames == saved.map(\.name).sorted())
    for s in saved {
      switch bundle.tensors[s.name] {
      case .array(let a)?: #expect(a.dtype == .float32 && a.shape == s.value.shape && a.doubles == s.value.doubles, "\(s.name)")
      case let .int64(values, shape)?: #expect(s.tfDtype == "int64" && shape == s.value.shape && values.map(Double.init) == s.value.doubles)
      default: Issue.record("\(s.name): \(String(describing: bundle.tensors[s.name]))")
      }
    }
    #expect(bundle.tensors["global_step"] == .int64(values: [3], shape: []))
  }

  /// The imported graph, restored from TensorFlow's checkpoint, trains on to TensorFlow's losses:
  /// the weights, slots and step counter are TensorFlow's, and Adam's bias correction goes on at
  /// step 4 (its counter set from `beta1_power`), where a counter restarted at 0 gives other
  /// losses.
  @Test func anImportedGraphRestoredFromTensorFlowTrainsOnAsTensorFlow() throws {
    let meta = try Self.meta()
    let g = try Graph(graphDef: FileIO.readBytes(atPath: Self.directory + "/graph.pb"), source: "graph.pb")
    let s = Session(graph: g)
    try Checkpoint.restore(session: s, fromTensorFlow: Self.prefix)
    #expect(try s.value(of: need(g.tensor(named: "Adam/iterations"), "Adam/iterations")).doubles == [3])
    #expect(try s.value(of: need(g.tensor(named: "global_step"), "global_step")).doubles == [3])
    try Self.expectTensorFlowsLosses(g, s, meta, firstStep: 4)
    #expect(try s.value(of: need(g.tensor(named: "global_step"), "global_step")).doubles == [6])
    // The file's Saver (`save/...`, string tensors and SaveV2/RestoreV2) was skipped, and says so.
    #expect(g.tensor(named: "save/SaveV2") == nil && g.tensor(named: "save/restore_all") == nil)
    do {
      _ = try g.requiredTensor(named: "save/RestoreV2:0")
      Issue.record("a node of the Saver was found")
    } catch {
      #expect("\(error)".contains("'save/RestoreV2:0' is a node of TensorFlow's Saver (RestoreV2)"), "\(error)")
    }
  }

  /// After 1000 steps TensorFlow's `beta1_power` (0.9^1001) has underflowed to 0: the step count
  /// comes from `beta2_power` (0.999^1001 = 0.367), and the restored graph trains on as
  /// TensorFlow did.
  @Test func aLongRunsStepCountComesFromTheSecondPower() throws {
    let bytes = try FileIO.readBytes(atPath: Self.directory + "/long.json")
    let meta = try need(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    let g = try Graph(graphDef: FileIO.readBytes(atPath: Self.directory + "/long.pb"), source: "long.pb")
    let s = Session(graph: g)
    try Checkpoint.restore(session: s, fromTensorFlow: Self.directory + "/long.ckpt")
    #expect(try TensorBundle(prefix: Self.directory + "/long.ckpt").tensors["beta1_power"] == .array(NDArray([Float(0)], shape: [])))
    #expect(try s.value(of: need(g.tensor(named: "Adam/iterations"), "Adam/iterations")).doubles == [1000])
    #expect(try s.value(of: need(g.tensor(named: "global_step"), "global_step")).doubles == [1000])
    try Self.expectTensorFlowsLosses(g, s, meta, firstStep: 1001)
  }

  /// A graph without TensorFlow's variables: every difference is listed, nothing changes.
  @Test func aCheckpointOfAnotherGraphIsRefusedListingTheDifferences() throws {
    let g = Graph()
    let w = try g.variable(g.constant(NDArray([Float](repeating: 0, count: 6), shape: [3, 2])), name: "w")
    _ = try g.variable(g.constant(NDArray([Float(0)])), name: "c")
    let s = Session(graph: g)
    try s.initializeVariables()
    do {
      try Checkpoint.restore(session: s, fromTensorFlow: Self.prefix)
      Issue.record("restored a checkpoint of another graph")
    } catch let error as CheckpointError {
      #expect(error.missing == ["c"])
      #expect(error.unexpected == ["b", "b/Adam", "b/Adam_1", "beta1_power", "beta2_power", "global_step", "w/Adam", "w/Adam_1"])
      #expect(error.mismatched.map(\.name) == ["w"] && error.mismatched.first?.found == "float32 [3, 1]", "\(error)")
    }
    #expect(try s.value(of: w).doubles == [Double](repeating: 0, count: 6))
  }

  /// Damaged files are thrown errors naming what is wrong, never a trap or other values: every
  /// truncation of the index, a flipped byte anywhere in it, a flipped byte of the data, a
  /// missing data file.
  @Test func damagedBundlesAreErrors() throws {
    let index = try FileIO.readBytes(atPath: Self.prefix + ".index")
    let data = try FileIO.readBytes(atPath: TensorBundle.dataPath(prefix: Self.prefix, shard: 0, of: 1))
    func read(_ index: [UInt8], _ data: [UInt8]) throws -> TensorBundle {
      try TensorBundle(index: index, source: "model.ckpt.index") { _, _ throws(ArrayFileError) in data }
    }
    #expect(try read(index, data).tensors.count == 9)
    for n in 0..<index.count {
      #expect(throws: ArrayFileError.self, "truncated to \(n) bytes") { try read(Array(index[..<n]), data) }
    }
    for i in index.indices {
      var bad = index
      bad[i] ^= 0x10
      // A flipped bit either breaks a checksum, the structure or the magic number; the footer's
      // padding alone may change without effect.
      if let bundle = try? read(bad, data) { #expect(bundle.tensors == (try read(index, data)).tensors, "byte \(i)") }
    }
    for i in data.indices {
      var bad = data
      bad[i] ^= 0x01
      #expect(throws: ArrayFileError.self, "data byte \(i)") { try read(index, bad) }
    }
    #expect(throws: ArrayFileError.self) { try TensorBundle(prefix: Self.directory + "/no_such_checkpoint") }
    do {
      _ = try read(index, Array(data.dropLast()))
      Issue.record("read a truncated data file")
    } catch {
      #expect("\(error)".contains("outside its data file"), "\(error)")
    }
  }
}
