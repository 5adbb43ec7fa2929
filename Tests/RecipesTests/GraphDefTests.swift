import ArrayCore
import Datasets
import Foundation
import GraphCore
import Recipes
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

/// Tests/Fixtures/graphdef: `tf_*.pb` are the notebook's graphs built by TensorFlow itself
/// (Scripts/tf_graphdef.py export-notebook); `backprop_*.pb` with their `.json` are Backprop's
/// exports of its recipes' training graphs with the samples and trajectory that
/// Scripts/tf_graphdef.py check-backprop replays in TensorFlow
/// (`BACKPROP_WRITE_FIXTURES=1 swift test --filter GraphDefTests` rewrites them).
private let fixtures: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/graphdef"
}()

/// The native recipe's run: its initial A, samples, losses and A after each step.
private struct NativeRun {
  var graph: Graph
  var x: Tensor, y: Tensor, a: Tensor, loss: Tensor, train: GraphCore.Operation
  var initialA: Float
  var samples: [(x: Float, y: Float)]
  var losses: [Double]
  var aAfter: [Double]

  static func make(_ recipe: String, steps: Int) throws -> NativeRun {
    var rng = SeededGenerator(seed: 42)
    if recipe == "regression" {
      var c = NotebookRecipe.Configuration.regression
      c.steps = steps
      let data = RecipeData.regression.generate(&rng)
      let samples = (0..<steps).map { _ in rng.choice(data.inputs.count) }.map { (data.inputs[$0], data.targets[$0]) }
      let report = try NotebookRecipe.regression(c).run(output: { _ in })
      let m = try NotebookRecipe.regression(c).makeModel()
      return try NativeRun(graph: m.graph, x: m.x, y: m.y, a: m.parameters[0], loss: m.loss, train: m.train, samples: samples, report: report)
    }
    var c = NotebookRecipe.Configuration.classification
    c.steps = steps
    let data = RecipeData.classification.generate(&rng)
    let samples = (0..<steps).map { _ in rng.choice(data.inputs.count) }.map { (data.inputs[$0], data.targets[$0]) }
    let report = try NotebookRecipe.classification(c).run(output: { _ in })
    let m = try NotebookRecipe.classification(c).makeModel()
    return try NativeRun(graph: m.graph, x: m.x, y: m.y, a: m.parameters[0], loss: m.loss, train: m.train, samples: samples, report: report)
  }

  init(
    graph: Graph, x: Tensor, y: Tensor, a: Tensor, loss: Tensor, train: GraphCore.Operation, samples: [(Float, Float)],
    report: TrainingReport
  ) throws {
    (self.graph, self.x, self.y, self.a, self.loss, self.train) = (graph, x, y, a, loss, train)
    let session = Session(graph: graph)
    try session.initializeVariables()
    initialA = Float(try session.value(of: a).scalarValue)
    self.samples = samples.map { (x: $0.0, y: $0.1) }
    losses = report.losses
    aAfter = report.history(of: "A")
  }
}

/// Trains A in `graph` (imported) from `initialA` with Backprop's gradient descent on `samples`.
private func trainImported(
  _ graph: Graph, learningRate: Double, initialA: Float, samples: [(x: Float, y: Float)]
) throws -> (losses: [Double], aAfter: [Double]) {
  let x = try #require(graph.tensor(named: "x_data:0"))
  let y = try #require(graph.tensor(named: "y_target:0"))
  let a = try #require(graph.tensor(named: "A"))
  let loss = try #require(graph.tensor(named: "loss:0"))
  let train = try GradientDescentOptimizer(learningRate: learningRate).minimize(loss)
  let session = Session(graph: graph)
  try session.initializeVariables()
  try session.setValue(NDArray([initialA]), for: a)
  var losses: [Double] = [], after: [Double] = []
  for s in samples {
    let l = try session.run([loss], feeding: [x: NDArray([s.x]), y: NDArray([s.y])], targets: [train])[0]
    losses.append(l.scalarValue)
    after.append(try session.value(of: a).scalarValue)
  }
  return (losses, after)
}

/// Checks that `base.pb` and `base.json` hold what the test produced (rewrites them first when
/// `BACKPROP_WRITE_FIXTURES` is set).
private func expectCommittedFixture(_ base: String, graphDef bytes: [UInt8], json: String) throws {
  if getenv("BACKPROP_WRITE_FIXTURES") != nil {
    try FileIO.writeAtomically(bytes, toPath: base + ".pb")
    try FileIO.writeAtomically(Array(json.utf8), toPath: base + ".json")
  }
  #expect(try FileIO.readBytes(atPath: base + ".pb") == bytes)
  #expect(try FileIO.readBytes(atPath: base + ".json") == Array(json.utf8))
}

private func jsonNumbers(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }

@Suite struct GraphDefTests {
  /// The notebook's graphs as TensorFlow builds them, imported and trained with Backprop's
  /// GradientDescentOptimizer on the native recipe's samples from its initial A, reach the
  /// native recipe's A (regression: the same float operations, so exactly; classification:
  /// TensorFlow's composite cross-entropy, so to rounding).
  @Test(arguments: [("regression", 0.02), ("classification", 0.05)])
  func tensorFlowNotebookGraphsTrainToTheNativeA(recipe: String, learningRate: Double) throws {
    let steps = recipe == "regression" ? 100 : 1400
    let native = try NativeRun.make(recipe, steps: steps)
    let bytes = try FileIO.readBytes(atPath: "\(fixtures)/tf_\(recipe).pb")
    let graph = try Graph(graphDef: bytes, source: "tf_\(recipe).pb")
    #expect(graph.variables.count == 1)
    let run = try trainImported(graph, learningRate: learningRate, initialA: native.initialA, samples: native.samples)
    #expect(run.losses.count == native.losses.count)
    if recipe == "regression" {
      #expect(run.aAfter == native.aAfter)
      #expect(run.losses == native.losses)
    } else {
      for (got, want) in zip(run.aAfter, native.aAfter) { #expect(Swift.abs(got - want) <= 1e-4 * Swift.max(1, Swift.abs(want))) }
    }
    #expect(Swift.abs(run.aAfter.last! - native.aAfter.last!) <= 1e-4 * Swift.abs(native.aAfter.last!))
  }

  /// Backprop's training graphs export as TensorFlow GraphDefs; the committed ones (replayed in
  /// TensorFlow by Scripts/tf_graphdef.py check-backprop) are what the exporter writes today.
  @Test(arguments: ["regression", "classification"])
  func exportsRecipeGraphs(recipe: String) throws {
    let steps = recipe == "regression" ? 100 : 200
    let native = try NativeRun.make(recipe, steps: steps)
    let bytes = try native.graph.graphDef()
    var json = "{\n  \"A\": \"\(native.a.operation.name)\", \"init\": \"init\", "
    json += "\"x_name\": \"\(native.x.operation.name)\", \"y_name\": \"\(native.y.operation.name)\",\n"
    json += "  \"loss\": \"\(native.loss.name)\", \"train\": \"\(native.train.name)\",\n"
    json += "  \"initialA\": \(native.initialA),\n"
    json += "  \"x\": \(jsonNumbers(native.samples.map { Double($0.x) })),\n"
    json += "  \"y\": \(jsonNumbers(native.samples.map { Double($0.y) })),\n"
    json += "  \"losses\": \(jsonNumbers(native.losses)),\n"
    json += "  \"A_after\": \(jsonNumbers(native.aAfter))\n}\n"
    let base = "\(fixtures)/backprop_\(recipe)"
    try expectCommittedFixture(base, graphDef: bytes, json: json)
  }

  /// A model saved half-way (graph + variables), loaded without the building code, continues
  /// training to the native run's A, bit for bit: the graph's composites (SumToShapeOf,
  /// SigmoidCrossEntropy...) come back as the same primitives.
  @Test(arguments: ["regression", "classification"])
  func savedModelContinuesTraining(recipe: String) throws {
    let steps = recipe == "regression" ? 100 : 300
    let half = steps / 2
    let native = try NativeRun.make(recipe, steps: steps)
    let session = Session(graph: native.graph)
    try session.initializeVariables()
    for s in native.samples.prefix(half) {
      _ = try session.run([native.loss], feeding: [native.x: NDArray([s.x]), native.y: NDArray([s.y])], targets: [native.train])
    }
    var template = Array("/tmp/backprop-model-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    #expect(made != nil)
    let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/model"
    try session.saveModel(to: directory, metadata: ["loss": native.loss.name, "train": native.train.name])

    let (loaded, metadata) = try Session.loadModel(from: directory)
    let g = loaded.graph
    let x = try #require(g.tensor(named: "x_data:0")), y = try #require(g.tensor(named: "y_target:0"))
    let a = try #require(g.tensor(named: "A:0"))
    let loss = try #require(g.tensor(named: metadata["loss"] ?? "")), train = try #require(g.operation(named: metadata["train"] ?? ""))
    let loadedTypes: [String] = g.operations.map(\.type)
    let nativeTypes: [String] = native.graph.operations.map(\.type)
    let composites: Set<String> = ["SumToShapeOf", "SigmoidCrossEntropyWithLogits"]
    #expect(loadedTypes.filter(composites.contains) == nativeTypes.filter(composites.contains))
    var after: [Double] = []
    for s in native.samples.dropFirst(half) {
      _ = try loaded.run([loss], feeding: [x: NDArray([s.x]), y: NDArray([s.y])], targets: [train])
      after.append(try loaded.value(of: a).scalarValue)
    }
    #expect(after == Array(native.aAfter.dropFirst(half)))

    // A corrupt graph file is a thrown error, never a trap.
    var bytes = try FileIO.readBytes(atPath: directory + "/graph.pb")
    bytes.removeLast(3)
    try FileIO.writeAtomically(bytes, toPath: directory + "/graph.pb")
    #expect(throws: (any Error).self) { _ = try Session.loadModel(from: directory) }
  }

  /// The digits MLP's ONNX model (checked with onnx.checker and onnxruntime by
  /// Scripts/check_onnx.py) has the expected nodes and initializers; an operation ONNX export
  /// lacks is named in a thrown error.
  @Test func onnxExport() throws {
    let kernel1 = NDArray([Float](repeating: 0.5, count: 64 * 3), shape: [64, 3])
    let kernel2 = NDArray([Float](repeating: -0.25, count: 3 * 10), shape: [3, 10])
    let model = try DigitsModel(
      layerSizes: [64, 3, 10],
      weights: [(kernel1, NDArray([Float](repeating: 0.1, count: 3))), (kernel2, NDArray([Float](repeating: 0, count: 10)))],
      standardizer: Standardizer(mean: [Double](repeating: 1, count: 64), standardDeviation: [Double](repeating: 2, count: 64)))
    let bytes = try model.onnxModel()
    let (ops, initializers) = try onnxContents(bytes)
    #expect(ops == ["Sub", "Div", "MatMul", "Add", "Relu", "MatMul", "Add", "Identity"])
    #expect(initializers.count == 6)

    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 4], name: "x")
    let y = try argMax(x, axis: 1)
    #expect {
      _ = try g.onnxModel(inputs: [x], outputs: [y])
    } throws: { error in
      "\(error)".contains("ArgMax: ") && "\(error)".contains("no ONNX counterpart")
    }
  }

  /// A cast exports as ONNX's `Cast` with the target's element type (a float64 digits model's
  /// inference branch casts its float32 pixels: its export was refused; checked with
  /// onnxruntime by Scripts/check_onnx.py, see Scripts/formats_roundtrips.log).
  @Test func onnxExportCasts() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 4], name: "x")
    let y = try cast(cast(x, to: .float64), to: .int32)
    var r = ProtobufReader(try g.onnxModel(inputs: [x], outputs: [y]), format: "ModelProto")
    var casts: [Int64] = []
    while let f = try r.next() {
      guard f.number == 7, let graph = f.data else { continue }
      var gr = r.nested(graph)
      while let gf = try gr.next() {
        guard gf.number == 1, let data = gf.data else { continue }
        var n = gr.nested(data)
        var op = "", to: Int64?
        while let nf = try n.next() {
          if nf.number == 4 { op = nf.string ?? "" }
          if nf.number == 5, let attribute = nf.data {
            var a = n.nested(attribute)
            var name = "", value: Int64?
            while let af = try a.next() {
              if af.number == 1 { name = af.string ?? "" }
              if af.number == 3 { value = af.integer }
            }
            if name == "to" { to = value }
          }
        }
        if op == "Cast" { casts.append(try #require(to)) }
      }
    }
    #expect(casts == [11, 6])  // TensorProto's DOUBLE, then INT32
  }

  /// Learning-rate schedules export as TensorFlow float64 arithmetic on the step (replayed by
  /// Scripts/tf_graphdef.py check-schedules against the committed values) and come back from
  /// Backprop's importer as the same primitives, giving the same bits at every step.
  @Test func schedulesExportAndComeBack() throws {
    let g = Graph()
    let step = g.placeholder(.float64, shape: [], name: "step")
    let schedules: [(String, LearningRateSchedule)] = [
      ("exponential", try .exponentialDecay(initial: 0.1, decaySteps: 10, decayRate: 0.5)),
      ("staircase", try .exponentialDecay(initial: 0.1, decaySteps: 10, decayRate: 0.5, staircase: true)),
      ("piecewise", try .piecewiseConstant(boundaries: [10, 20], values: [1, 0.5, 0.1])),
      ("constant", try .piecewiseConstant(boundaries: [], values: [0.3])),
      ("cosine", try .cosineDecay(initial: 0.003, decaySteps: 40, alpha: 0.1)),
      ("warmup", try .cosineDecay(initial: 0.2, decaySteps: 30, warmupSteps: 7, warmupStart: 0.01)),
    ]
    let rates = try schedules.map { try $0.1.learningRate(atStep: step, name: $0.0) }
    let steps: [Double] = [0, 1, 5, 6.5, 7, 9, 10, 11, 19.5, 20, 21, 36, 37, 40, 47, 100, 1e6]
    let bytes = try g.graphDef()
    let imported = try Graph(graphDef: bytes, source: "schedules")
    let importedStep = try #require(imported.tensor(named: "step"))
    let (native, restored) = (Session(graph: g), Session(graph: imported))
    var values: [[Double]] = []
    for (k, (name, schedule)) in schedules.enumerated() {
      let copy = try #require(imported.tensor(named: name))
      #expect(copy.operation.type == rates[k].operation.type, "\(name)")
      var row: [Double] = []
      for t in steps {
        let a = try native.run(rates[k], feeding: [step: NDArray(scalar: t)]).scalarValue
        let b = try restored.run(copy, feeding: [importedStep: NDArray(scalar: t)]).scalarValue
        #expect(a.bitPattern == schedule.value(atStep: t).bitPattern && b.bitPattern == a.bitPattern, "\(name) at \(t)")
        row.append(a)
      }
      values.append(row)
    }
    var json = "{\n  \"step\": \"step\",\n  \"steps\": \(jsonNumbers(steps)),\n  \"schedules\": {\n"
    json += schedules.indices.map { "    \"\(schedules[$0].0)\": \(jsonNumbers(values[$0]))" }.joined(separator: ",\n")
    json += "\n  }\n}\n"
    let base = "\(fixtures)/schedules"
    try expectCommittedFixture(base, graphDef: bytes, json: json)

    // Parameters no builder accepts are refused when read back, not trusted.
    for (type, bad) in [
      ("ExponentialDecay", [0.1, 0, 0.5, 0]), ("ExponentialDecay", [0.1, 1e300, 0.5, 0]), ("ExponentialDecay", [0.1, 10, 0.5, 2]),
      ("PiecewiseConstant", [20, 10, 1, 0.5, 0.1]), ("PiecewiseConstant", [10, 1]), ("PiecewiseConstant", [10, 1, -1]),
      ("CosineDecay", [0.1, 40, 1.5, 0, 0]), ("CosineDecay", [0.1, 40, 0, 2.5, 0]), ("CosineDecay", [.nan, 40, 0, 0, 0]),
      ("CosineDecay", [0.1, 40, 0, 0]), ("Unknown", [1]),
    ] {
      #expect(ScheduleFormula(typeName: type, parameters: bad) == nil, "\(type) \(bad)")
    }
  }

  /// A loss's run-time shape check (`EnsureShapeLike`: labels `[?, ?]` against logits `[?, 1]`)
  /// is written as TensorFlow's own assertion (an `Assert` that the two `Shape`s are `Equal`,
  /// and an `Identity` of the labels that waits for it) and comes back from Backprop's importer
  /// as the one primitive: the same loss for labels of the logits' shape, the same refusal,
  /// naming the loss and both shapes, for labels of another.
  @Test func runTimeShapeChecksExportAndComeBack() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 1], name: "x")
    let z = g.placeholder(.float32, shape: [nil, nil], name: "z")
    let loss = try sigmoidCrossEntropy(logits: x, labels: z)
    let bytes = try g.graphDef()
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(["Assert", "Equal", "All", "Shape", "_backprop_roles"].allSatisfy(text.contains))
    let imported = try Graph(graphDef: bytes, source: "loss")
    #expect(imported.operations.filter { $0.type == "EnsureShapeLike" }.count == 1)
    #expect(!imported.operations.contains { ["Assert", "Equal", "All"].contains($0.type) })
    let (ix, iz, iloss) = try (#require(imported.tensor(named: "x")), #require(imported.tensor(named: "z")), #require(imported.tensor(named: loss.name)))
    let column = NDArray([Float(0.5), -1, 2], shape: [3, 1]), labels = NDArray([Float(1), 0, 0.25], shape: [3, 1])
    let want = try Session(graph: g).run(loss, feeding: [x: column, z: labels])
    #expect(try Session(graph: imported).run(iloss, feeding: [ix: column, iz: labels]) == want)
    #expect {
      try Session(graph: imported).run(iloss, feeding: [ix: column, iz: NDArray((0..<9).map { Float($0) }, shape: [3, 3])])
    } throws: { error in
      ["SigmoidCrossEntropy", "labels [3, 3]", "logits [3, 1]"].allSatisfy("\(error)".contains)
    }
  }

  @Test func unsupportedOperationsAreListedInOneError() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [4], name: "x")
    // Hypot has no TensorFlow counterpart (Cumsum, used here before, is written since Cumprod's
    // gradient needed it).
    _ = try hypot(x, x, name: "hypot1")
    _ = try hypot(x, x, name: "hypot2")
    do {
      _ = try g.graphDef()
      Issue.record("expected an error")
    } catch let error as GraphDefError {
      guard case let .unsupportedOperations(_, list) = error else { Issue.record("\(error)"); return }
      #expect(list.count == 1)
      #expect(list[0].hasPrefix("Hypot: "))
      #expect(list[0].contains(", "))
    }
    // Lenient export (TensorBoard) keeps them under their own names.
    #expect(try !g.graphDef(lenient: true).isEmpty)
  }

  @Test func importRejectsCorruptInputAndUnsupportedOps() throws {
    let bytes = try FileIO.readBytes(atPath: "\(fixtures)/tf_regression.pb")
    for cut in [1, 7, bytes.count / 2, bytes.count - 1] {
      #expect(throws: (any Error).self) { _ = try Graph(graphDef: Array(bytes.prefix(cut))) }
    }
    var rng = SeededGenerator(seed: 5)
    for _ in 0..<300 {
      var b = bytes
      for _ in 0..<3 { b[rng.choice(b.count)] = UInt8(truncatingIfNeeded: rng.choice(256)) }
      _ = try? Graph(graphDef: b)  // must not trap
    }
    // A graph with operations Backprop lacks: every one named in one error.
    var w = ProtobufWriter()
    for (name, op) in [("a", "Fft"), ("b", "Fft"), ("c", "Qr")] {
      w.message(1) { n in
        n.string(1, name)
        n.string(2, op)
      }
    }
    #expect {
      _ = try Graph(graphDef: w.bytes)
    } throws: { error in
      "\(error)".contains("Fft: a, b") && "\(error)".contains("Qr: c")
    }
  }
}

/// TensorFlow's fused batch normalization, imported: Tests/Fixtures/graphdef/tf_batchnorm.pb and
/// its .json were written by TensorFlow (`Scripts/tf_graphdef.py export-batchnorm`): a batch
/// normalization in both phases (`FusedBatchNormV3`, `is_training` true and false, as
/// `tf.compat.v1.layers.batch_normalization(fused=True)` built it), its moving-average updates
/// (`AssignSub`), a raw `FusedBatchNormV3` averaging its statistics with factor 0.25, and
/// TensorFlow's values and gradients (its `FusedBatchNormGradV3`) for one input.
@Suite struct FusedBatchNormImportTests {
  struct Reference {
    let values: [String: Any]
    init() throws {
      let bytes = try FileIO.readBytes(atPath: "\(fixtures)/tf_batchnorm.json")
      values = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }
    func numbers(_ key: String) throws -> [Double] { try #require(values[key] as? [Double], "\(key)") }
  }

  /// The largest difference between `got` and `want`, relative to `want`'s largest magnitude.
  func difference(_ got: NDArray, _ want: [Double]) -> Double {
    let g = got.doubles
    guard g.count == want.count else { return .infinity }
    let scale = max(1, want.map(abs).max() ?? 1)
    return zip(g, want).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
  }

  @Test func importedFusedBatchNormComputesAndDifferentiatesAsTensorFlow() throws {
    let reference = try Reference()
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(fixtures)/tf_batchnorm.pb"))
    let x = try #require(g.tensor(named: "x"))
    let dims: [Int] = try reference.numbers("shape").map { Int($0) }
    let xv = try NDArray(reference.numbers("x").map { Float($0) }, shape: Shape(dims))
    let s = Session(graph: g)
    try s.initializeVariables()
    let names = ["y_train", "y_infer", "raw:1", "raw:2"]
    let tensors = try names.map { try #require(g.tensor(named: $0), "\($0)") }
    let values = try s.run(tensors, feeding: [x: xv])
    for (name, (value, key)) in zip(names, zip(values, ["y_train", "y_infer", "raw_batch_mean", "raw_batch_variance"])) {
      let d = difference(value, try reference.numbers(key))
      #expect(d < 2e-6, "\(name): \(d)")
    }
    // The training phase's statistics are findable by TensorFlow's names too.
    #expect(g.tensor(named: "bn/train") != nil && g.tensor(named: "bn/infer:0") != nil)
    #expect(g.tensor(named: "bn/train:1") != nil && g.tensor(named: "bn/train:4") != nil && g.tensor(named: "bn/train:5") != nil)
    #expect(g.tensor(named: "bn/train:6") == nil)

    // Backprop's gradients of the imported graph against TensorFlow's FusedBatchNormGradV3.
    let gamma = try #require(g.tensor(named: "bn/gamma")), beta = try #require(g.tensor(named: "bn/beta"))
    let w = g.constant(try NDArray(reference.numbers("weights").map { Float($0) }, shape: xv.shape))
    let loss = try sum(tensors[0] * w)
    let grads = try gradients(of: loss, withRespectTo: [x, gamma, beta]).map { try #require($0) }
    let gradValues = try s.run(grads, feeding: [x: xv])
    for (value, key) in zip(gradValues, ["grad_x", "grad_gamma", "grad_beta"]) {
      let d = difference(value, try reference.numbers(key))
      #expect(d < 1e-5, "\(key): \(d)")
    }

    // The moving averages after one run of the update operations.
    try s.run(try #require(g.operation(named: "updates")), feeding: [x: xv])
    for key in ["moving_mean", "moving_variance"] {
      let d = difference(try s.value(of: try #require(g.tensor(named: "bn/\(key)"))), try reference.numbers(key))
      #expect(d < 2e-6, "\(key): \(d)")
    }
  }

  /// A channels-first batch normalization is refused with the node's name; so is an input of
  /// unknown rank.
  @Test func channelsFirstIsAnErrorNamingTheNode() throws {
    var w = ProtobufWriter()
    w.message(1) { n in
      n.string(1, "x")
      n.string(2, "Placeholder")
      n.message(5) { a in
        a.string(1, "dtype")
        a.message(2) { v in v.int64(6, 1) }
      }
      n.message(5) { a in
        a.string(1, "shape")
        a.message(2, GraphDefImportMisuseTests.shape([1, 2, 2, 2]))
      }
    }
    w.message(1) { n in
      n.string(1, "bn")
      n.string(2, "FusedBatchNormV3")
      for i in ["x", "x", "x", "x", "x"] { n.string(3, i) }
      n.message(5) { a in
        a.string(1, "data_format")
        a.message(2) { v in v.bytes(2, Array("NCHW".utf8)) }
      }
    }
    #expect {
      _ = try Graph(graphDef: w.bytes)
    } throws: { error in
      "\(error)".contains("bn") && "\(error)".contains("NCHW")
    }
  }
}

/// GraphDefs a TensorFlow user may bring that Backprop must refuse or import faithfully: axes
/// out of range or repeated, and node names that the operations the importer adds of its own
/// could take. Each graph is written here field by field (TensorFlow's field numbers, as
/// TensorFlowProto.swift lists them).
@Suite struct GraphDefImportMisuseTests {
  /// One `NodeDef` entry of a `GraphDef`.
  struct Node {
    var name: String, op: String, inputs: [String] = [], attrs: [(String, ProtobufWriter)] = []
  }

  static func type(_ code: UInt64) -> ProtobufWriter {
    var a = ProtobufWriter()
    a.varint(6, code)
    return a
  }
  /// A TensorShapeProto.
  static func shapeProto(_ dims: [Int]) -> ProtobufWriter {
    var s = ProtobufWriter()
    for d in dims {
      var dim = ProtobufWriter()
      dim.int64(1, Int64(d))
      s.message(2, dim)
    }
    return s
  }
  static func shape(_ dims: [Int]) -> ProtobufWriter {
    var a = ProtobufWriter()
    a.message(7, shapeProto(dims))
    return a
  }
  static func flag(_ value: Bool) -> ProtobufWriter {
    var a = ProtobufWriter()
    a.bool(5, value)
    return a
  }
  static func float(_ value: Float) -> ProtobufWriter {
    var a = ProtobufWriter()
    a.float(4, value)
    return a
  }
  static func string(_ value: String) -> ProtobufWriter {
    var a = ProtobufWriter()
    a.string(2, value)
    return a
  }
  /// A tensor attribute of DataType `code` (1 float32, 3 int32, 9 int64) with `values`.
  static func tensor(_ values: [Double], shape dims: [Int], code: UInt64 = 3) -> ProtobufWriter {
    var t = ProtobufWriter()
    t.varint(1, code)
    t.message(2, shapeProto(dims))
    switch code {
    case 1: t.packedFloats(5, values.map { Float($0) })
    case 9: t.packedInts(10, values.map { Int64($0) })
    default: t.packedInts(7, values.map { Int64($0) })
    }
    var a = ProtobufWriter()
    a.message(8, t)
    return a
  }
  static func placeholder(_ name: String, _ dims: [Int]) -> Node {
    Node(name: name, op: "Placeholder", attrs: [("dtype", type(1)), ("shape", shape(dims))])
  }
  static func ints(_ name: String, _ values: [Int], scalar: Bool = false) -> Node {
    Node(name: name, op: "Const", attrs: [("dtype", type(3)), ("value", tensor(values.map(Double.init), shape: scalar ? [] : [values.count]))])
  }
  static func floats(_ name: String, _ values: [Double], shape dims: [Int]) -> Node {
    Node(name: name, op: "Const", attrs: [("dtype", type(1)), ("value", tensor(values, shape: dims, code: 1))])
  }
  static func graphDef(_ nodes: [Node]) -> [UInt8] {
    var g = ProtobufWriter()
    for node in nodes {
      g.message(1) { n in
        n.string(1, node.name)
        n.string(2, node.op)
        for i in node.inputs { n.string(3, i) }
        for (key, value) in node.attrs {
          n.message(5) { e in
            e.string(1, key)
            e.message(2, value)
          }
        }
      }
    }
    return g.bytes
  }

  /// Expects the import to throw an error whose message holds every fragment.
  func expectRefused(_ nodes: [Node], _ fragments: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(sourceLocation: sourceLocation) {
      _ = try Graph(graphDef: Self.graphDef(nodes), source: "probe.pb")
    } throws: { error in
      fragments.allSatisfy { "\(error)".contains($0) }
    }
  }

  /// An int32 `Range` whose bounds are float constants beyond int32 (a hostile file: TensorFlow
  /// writes int32 constants there) trapped converting them to `Int`; it is refused naming the
  /// node.
  @Test func anInt32RangeBeyondInt32IsRefusedNamingTheNode() {
    for (start, limit, delta) in [(1e30, 1e30, 1.0), (0, 4, 1e30), (-1e30, 0, 1)] {
      expectRefused(
        [
          Self.floats("start", [start], shape: []), Self.floats("limit", [limit], shape: []), Self.floats("delta", [delta], shape: []),
          Node(name: "r", op: "Range", inputs: ["start", "limit", "delta"]),
        ],
        ["'r' (Range)", "int32"])
    }
  }

  /// `ArgMax` and `ArgMin` on an axis out of range or of a scalar, and `SplitV` on an axis out
  /// of range, trapped (index out of range in the shape rule); `Softmax` of a scalar failed
  /// only when run. Each is now an error naming the node and its input.
  @Test func axesOutOfRangeAreErrorsNamingTheNode() {
    let x = Self.placeholder("x", [2, 3])
    for op in ["ArgMax", "ArgMin"] {
      for axis in [2, 5, -3, -7] {
        expectRefused(
          [x, Self.ints("axis", [axis], scalar: true), Node(name: "am", op: op, inputs: ["x", "axis"], attrs: [("output_type", Self.type(3))])],
          ["probe.pb", "'am' (\(op))", "axis \(axis) is out of range for rank 2", "x:0"])
      }
      expectRefused(
        [Self.placeholder("s", []), Self.ints("axis", [0], scalar: true), Node(name: "am", op: op, inputs: ["s", "axis"])],
        ["'am' (\(op))", "axis 0 is out of range for rank 0"])
    }
    expectRefused(
      [x, Self.ints("sizes", [1, 2]), Self.ints("axis", [9], scalar: true), Node(name: "sp", op: "SplitV", inputs: ["x", "sizes", "axis"])],
      ["'sp' (SplitV)", "axis 9 is out of range for rank 2"])
    expectRefused([Self.placeholder("s", []), Node(name: "sm", op: "Softmax", inputs: ["s"])], ["'sm' (Softmax)", "rank 0"])
  }

  /// TensorFlow's int64 constants and placeholders (`tf.reduce_sum(x, axis=tf.constant([1],
  /// tf.int64))`, int64 labels) are refused naming the node, the attribute and the type; the
  /// constant's error said only "tensor of unsupported DataType 9".
  @Test func unsupportedDataTypesNameTheNode() {
    let int64 = Self.tensor([1], shape: [1], code: 9)
    expectRefused(
      [Self.placeholder("x", [2, 3]), Node(name: "axes", op: "Const", attrs: [("dtype", Self.type(9)), ("value", int64)])],
      ["probe.pb", "node 'axes' (Const), attribute 'value'", "DataType 9 (int64)"])
    expectRefused(
      [Node(name: "labels", op: "Placeholder", attrs: [("dtype", Self.type(9)), ("shape", Self.shape([-1]))])],
      ["node 'labels' (Placeholder)", "DataType 9 (int64)"])
  }

  /// A repeated reduction axis (TensorFlow refuses it: "Axes contains duplicate dimension")
  /// was counted twice by `Mean`'s divisor: the mean of [[1, 2, 3], [4, 5, 6]] over axes
  /// [1, -1] came out as [0.67, 1.67] (the sums over 9), not an error.
  @Test func repeatedReductionAxesAreErrors() {
    let x = Self.placeholder("x", [2, 3])
    for op in ["Mean", "Sum", "Max", "Min"] {
      for axes in [[1, 1], [1, -1], [0, -2, 1]] {
        expectRefused([x, Self.ints("axes", axes), Node(name: "r", op: op, inputs: ["x", "axes"])], ["'r' (\(op))", "repeated"])
      }
    }
    expectRefused([x, Self.ints("axes", [2]), Node(name: "r", op: "Mean", inputs: ["x", "axes"])], ["'r' (Mean)", "axis 2 is out of range"])
  }

  /// `tf.compat.v1.placeholder_with_default(d, shape=[None])` may be fed any length: the
  /// declared shape was replaced by the default's `[3]`, so a fed `[5]` was refused. A default
  /// that does not fit the declared shape is an error naming the node.
  @Test func placeholderWithDefaultTakesItsDeclaredShape() throws {
    let nodes = [
      Self.floats("d", [1, 2, 3], shape: [3]),
      Node(name: "p", op: "PlaceholderWithDefault", inputs: ["d"], attrs: [("dtype", Self.type(1)), ("shape", Self.shape([-1]))]),
      Self.floats("two", [2], shape: []), Node(name: "y", op: "Mul", inputs: ["p", "two"]),
    ]
    let g = try Graph(graphDef: Self.graphDef(nodes))
    let p = try #require(g.tensor(named: "p")), y = try #require(g.tensor(named: "y"))
    #expect(p.shape == [nil])
    let session = Session(graph: g)
    #expect(try session.run(y).doubles == [2, 4, 6])
    #expect(try session.run(y, feeding: [p: NDArray((1...5).map { Float($0) })]).doubles == [2, 4, 6, 8, 10])
    // The shape survives export.
    #expect(try Graph(graphDef: g.graphDef()).tensor(named: "p")?.shape == [nil])
    var clash = nodes
    clash[1].attrs[1] = ("shape", Self.shape([2, -1]))
    expectRefused(clash, ["'p'", "PlaceholderWithDefault", "does not have the declared shape [2, ?]"])
  }

  /// A `Placeholder` without a `shape` attribute (TensorFlow's default: an unknown shape, as in
  /// older TF1 graphs) was imported as a scalar, so the error came later and named something
  /// else ("axes [1] out of range"); it is refused as an unknown rank, naming the placeholder.
  @Test func aPlaceholderWithoutAShapeIsAnUnknownRank() {
    expectRefused(
      [Node(name: "x", op: "Placeholder", attrs: [("dtype", Self.type(1))]), Self.ints("axes", [1]), Node(name: "s", op: "Sum", inputs: ["x", "axes"])],
      ["placeholder 'x' has an unknown rank (no shape attribute)"])
  }

  /// The operations the importer adds of its own (`SquaredDifference`'s `<name>/sub`, `Mean`'s
  /// `<name>/sum`, a training `FusedBatchNormV3`'s unnamed `Sub`) took the names of nodes the
  /// file has later: those nodes became `<name>_1` and `tensor(named:)` returned the helper's
  /// value. TensorFlow itself names `tf.math.subtract(bn, 1.0)` `Sub`: the last case is the
  /// graph TensorFlow wrote for that (its value for x = 0..<8 below is from TensorFlow).
  @Test func nodeNamesAreNeverTakenByTheImportersOwnOperations() throws {
    func run(_ nodes: [Node], _ name: String, _ feeds: [String: NDArray]) throws -> [Double] {
      let g = try Graph(graphDef: Self.graphDef(nodes))
      let t = try #require(g.tensor(named: name))
      #expect(t.operation.name == name)
      var f: [Tensor: NDArray] = [:]
      for (k, v) in feeds { f[try #require(g.tensor(named: k))] = v }
      let session = Session(graph: g)
      try session.initializeVariables()
      // The graph exports and imports again with the same names.
      let again = try Graph(graphDef: g.graphDef())
      #expect(again.tensor(named: name)?.operation.name == name)
      return try session.run(t, feeding: f).doubles
    }
    let two = Self.placeholder("x", [2]), y = Self.placeholder("y", [2])
    let sd = [
      two, y, Node(name: "sd", op: "SquaredDifference", inputs: ["x", "y"]), Self.floats("sd/sub/y", [10], shape: []),
      Node(name: "sd/sub", op: "Mul", inputs: ["x", "sd/sub/y"]),
    ]
    #expect(try run(sd, "sd/sub", ["x": NDArray([Float(1), 2]), "y": NDArray([Float(0), 0])]) == [10, 20])
    #expect(try run(sd, "sd", ["x": NDArray([Float(1), 2]), "y": NDArray([Float(0), 0])]) == [1, 4])
    let mean = [
      Self.placeholder("x", [2, 3]), Self.ints("axes", [1]), Node(name: "m", op: "Mean", inputs: ["x", "axes"]),
      Self.floats("three", [3], shape: []), Node(name: "m/sum", op: "Mul", inputs: ["x", "three"]),
      Node(name: "m/count", op: "Mul", inputs: ["m/sum", "three"]),
    ]
    let x23 = NDArray((1...6).map { Float($0) }, shape: [2, 3])
    #expect(try run(mean, "m/sum", ["x": x23]) == [3, 6, 9, 12, 15, 18])
    #expect(try run(mean, "m/count", ["x": x23]) == [9, 18, 27, 36, 45, 54])
    #expect(try run(mean, "m", ["x": x23]) == [2, 5])
    let bn = [
      Self.placeholder("x", [4, 1, 1, 2]), Self.floats("scale", [1, 1], shape: [2]), Self.floats("offset", [0, 0], shape: [2]),
      Self.floats("mean", [0, 0], shape: [2]), Self.floats("variance", [1, 1], shape: [2]),
      Node(
        name: "bn", op: "FusedBatchNormV3", inputs: ["x", "scale", "offset", "mean", "variance"],
        attrs: [("T", Self.type(1)), ("U", Self.type(1)), ("epsilon", Self.float(1e-3)), ("is_training", Self.flag(true)), ("data_format", Self.string("NHWC"))]),
      Self.floats("Sub/y", [1], shape: []), Node(name: "Sub", op: "Sub", inputs: ["bn", "Sub/y"]),
    ]
    let tensorFlows = [-2.3415064811706543, -2.3415064811706543, -1.4471688270568848, -1.4471688270568848, -0.5528311729431152, -0.5528311729431152, 0.34150660037994385, 0.34150660037994385]
    let got = try run(bn, "Sub", ["x": NDArray((0..<8).map { Float($0) }, shape: [4, 1, 1, 2])])
    #expect(got.count == 8 && zip(got, tensorFlows).allSatisfy { abs($0 - $1) < 1e-5 }, "\(got)")
  }
}
