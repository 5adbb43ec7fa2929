import ArrayCore
import Foundation
import GraphCore
import Testing
import Training

/// Tests/Fixtures/graphdef/probe9: graphs written by TensorFlow 2.21 as its users write them
/// (`Scripts/tf_probe.py export`): `tf.compat.v1` graphs with placeholders, variables and an
/// optimizer's training operation, one graph per operation or short chain, and Keras models frozen
/// with `convert_variables_to_constants_v2`; each `.json` holds the inputs and TensorFlow's outputs
/// (and, for training graphs, the losses of a few steps).
let probeFixtures: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/graphdef/probe9"
}()

/// `value`, or a thrown error naming `what`.
func need<T>(_ value: T?, _ what: @autoclosure () -> String = "value") throws -> T {
  guard let value else { throw GraphError.invalidArgument(op: "probe fixture", reason: "missing \(what())", location: nil) }
  return value
}

/// One case's outcome: `nil` when Backprop matched TensorFlow, else what went wrong.
struct ProbeCase {
  let name: String
  let meta: [String: Any]
  let directory: String

  init(_ name: String, directory: String = probeFixtures) throws {
    self.name = name
    self.directory = directory
    let bytes = try FileIO.readBytes(atPath: "\(directory)/\(name).json")
    meta = try need(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  static func dtype(_ text: String) throws -> DType {
    switch text {
    case "float32": .float32
    case "float64": .float64
    case "int32", "int64": .int32
    case "bool": .bool
    default: throw GraphError.invalidArgument(op: "probe", reason: "dtype \(text)", location: nil)
    }
  }

  static func array(_ entry: [String: Any]) throws -> (name: String, value: NDArray, tfDtype: String) {
    let name = try need(entry["name"] as? String)
    let tfDtype = try need(entry["dtype"] as? String)
    let shape = Shape(try need(entry["shape"] as? [Int]))
    let dtype = try dtype(tfDtype)
    let values: [Double]
    if dtype == .bool {
      values = try need(entry["values"] as? [Bool]).map { $0 ? 1 : 0 }
    } else {
      values = try need(entry["values"] as? [Double])
    }
    return (name, NDArray(converting: values, shape: shape, dtype: dtype), tfDtype)
  }

  /// The largest difference relative to the expected values' largest magnitude (at least 1);
  /// `nil` when shapes or dtypes differ.
  static func difference(_ got: NDArray, _ want: NDArray) -> Double? {
    guard got.shape == want.shape, got.dtype == want.dtype else { return nil }
    let g = got.doubles, w = want.doubles
    let scale = max(1, w.filter(\.isFinite).map(abs).max() ?? 1)
    var worst = 0.0
    for (a, b) in zip(g, w) {
      if a.isNaN && b.isNaN || a == b { continue }
      worst = max(worst, abs(a - b) / scale)
    }
    return worst
  }

  var feeds: [(name: String, value: NDArray, tfDtype: String)] {
    get throws { try (meta["feeds"] as? [[String: Any]] ?? []).map(Self.array) }
  }

  /// Imports the graph and runs the fetches: a list of problems (empty when all match).
  func check(file: String? = nil) throws -> [String] {
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(directory)/\(file ?? name).pb"), source: "\(name).pb")
    var feedDict: [Tensor: NDArray] = [:]
    for f in try feeds { feedDict[try need(g.tensor(named: f.name), "\(f.name)")] = f.value }
    let fetches = try (meta["fetches"] as? [[String: Any]] ?? []).map(Self.array)
    let s = Session(graph: g)
    try s.initializeVariables()
    var problems: [String] = []
    let tensors = try fetches.map { try need(g.tensor(named: $0.name), "\($0.name)") }
    let values = try s.run(tensors, feeding: feedDict)
    for (f, v) in zip(fetches, values) {
      let tolerance = f.value.dtype == .float32 ? 2e-5 : f.value.dtype == .float64 ? 1e-12 : 0
      guard let d = Self.difference(v, f.value) else {
        problems.append("\(f.name): \(v.dtype) \(v.shape), TensorFlow \(f.tfDtype) \(f.value.shape)")
        continue
      }
      if d > tolerance { problems.append("\(f.name): difference \(d) (\(v.doubles.prefix(6)) vs \(f.value.doubles.prefix(6)))") }
    }
    return problems
  }

  /// A case TensorFlow raised for when it ran (`raises`: the node, its error, the feeds): the
  /// graph imports (`check()` compared the values of the other feeds), and the run on those
  /// feeds throws an error naming the node and saying "division by zero" (TensorFlow's int32
  /// division kernels' "Integer division by zero"; its TruncateDiv reports another message).
  func raisesAtRunTime(_ raises: [String: Any]) throws -> [String] {
    let node = try need(raises["node"] as? String, "raises.node")
    let fetch = try need(raises["fetch"] as? String, "raises.fetch")
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(directory)/\(name).pb"), source: "\(name).pb")
    var feedDict: [Tensor: NDArray] = [:]
    for entry in try need(raises["feeds"] as? [[String: Any]], "raises.feeds") {
      let f = try Self.array(entry)
      feedDict[try need(g.tensor(named: f.name), f.name)] = f.value
    }
    let s = Session(graph: g)
    do {
      let v = try s.run(try need(g.tensor(named: fetch), fetch), feeding: feedDict)
      return ["gave \(v) where TensorFlow raised \(raises["error"] ?? "") (\(raises["message"] ?? ""))"]
    } catch {
      let text = "\(error)"
      return text.contains("'\(node)'") && text.contains("division by zero") ? [] : ["the error does not name '\(node)' and division by zero: \(text)"]
    }
  }

  /// Imports the forward graph, trains it with Backprop's optimizer of the same kind and
  /// settings, and compares the losses with TensorFlow's.
  func train() throws -> [String] {
    let t = try need(meta["train"] as? [String: Any])
    let settings = try need(t["optimizer"] as? [String: Any])
    let want = try need(t["losses"] as? [Double])
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(directory)/\(name)_forward.pb"), source: "\(name)_forward.pb")
    let loss = try need(g.tensor(named: try need(t["loss"] as? String)))
    // The tensor minimize() was given, when the loss reported is its mean (a loss per row).
    let minimized = try need(g.tensor(named: t["minimized"] as? String ?? t["loss"] as? String ?? ""), "minimized")
    // TF1's optimizers hold a Python learning rate as a float32 tensor and cast it to the
    // variables' dtype (`ops.convert_to_tensor(learning_rate)`, then `math_ops.cast` in
    // `_apply_dense`, tensorflow/python/training/gradient_descent.py), so float64 training
    // steps by float32's 0.05; Backprop keeps the rate given, and is given that one here.
    let given = try need(settings["learning_rate"] as? Double)
    let rate = loss.dtype == .float64 ? Double(Float(given)) : given
    // A schedule of TF1's step counter (`exponential_decay(initial, global_step, steps, rate)`).
    var learningRate = LearningRate.constant(rate)
    if let schedule = settings["schedule"] as? [String: Any] {
      learningRate = .schedule(
        try .exponentialDecay(
          initial: try need(schedule["initial"] as? Double), decaySteps: try need(schedule["decay_steps"] as? Int),
          decayRate: try need(schedule["decay_rate"] as? Double), staircase: schedule["staircase"] as? Bool ?? false))
    }
    let op: GraphCore.Operation
    switch settings["kind"] as? String {
    case "sgd": op = try GradientDescentOptimizer(learningRate: learningRate).minimize(minimized)
    case "momentum":
      op = try MomentumOptimizer(
        learningRate: learningRate, momentum: try need(settings["momentum"] as? Double), useNesterov: settings["use_nesterov"] as? Bool ?? false
      ).minimize(minimized)
    case "adagrad":
      op = try AdagradOptimizer(
        learningRate: learningRate, initialAccumulatorValue: try need(settings["initial_accumulator_value"] as? Double)
      ).minimize(minimized)
    case "rmsprop":
      op = try RMSPropOptimizer(
        learningRate: learningRate, decay: try need(settings["decay"] as? Double), momentum: try need(settings["momentum"] as? Double),
        epsilon: try need(settings["epsilon"] as? Double), centered: try need(settings["centered"] as? Bool)
      ).minimize(minimized)
    default:
      op = try AdamOptimizer(
        learningRate: learningRate, beta1: try need(settings["beta1"] as? Double), beta2: try need(settings["beta2"] as? Double),
        epsilon: try need(settings["epsilon"] as? Double)
      ).minimize(minimized)
    }
    return try trainingProblems(g, loss: loss, op: op, want: want, label: "step")
  }

  /// Runs `op` once per loss in `want` on the case's feeds (after initializing the variables)
  /// and names each step whose loss is not TensorFlow's: float32 to 2e-5, float64 to 1e-12 of
  /// the loss's magnitude (at least 1).
  func trainingProblems(_ g: Graph, loss: Tensor, op: GraphCore.Operation, want: [Double], label: String) throws -> [String] {
    var session: Session?
    return try trainingProblems(g, loss: loss, op: op, want: want, label: label, session: &session)
  }

  /// ``trainingProblems(_:loss:op:want:label:)``, leaving the trained session in `session`.
  func trainingProblems(
    _ g: Graph, loss: Tensor, op: GraphCore.Operation, want: [Double], label: String, session: inout Session?
  ) throws -> [String] {
    var feedDict: [Tensor: NDArray] = [:]
    for f in try feeds { feedDict[try g.requiredTensor(named: f.name)] = f.value }
    let s = Session(graph: g)
    session = s
    try s.initializeVariables()
    var problems: [String] = []
    for (step, w) in want.enumerated() {
      let got = try s.run([loss], feeding: feedDict, targets: [op])[0].doubles[0]
      let tolerance = loss.dtype == .float64 ? 1e-12 : 2e-5
      if abs(got - w) > tolerance * max(1, abs(w)) { problems.append("\(label) \(step + 1): loss \(got), TensorFlow \(w)") }
    }
    return problems
  }

  /// Imports the whole training graph (TensorFlow's gradient subgraph and update operations
  /// included), runs its training operation by TensorFlow's name for the same steps on the same
  /// batch, and compares the losses with TensorFlow's (the tolerance of ``train()``).
  func trainImported() throws -> [String] {
    let t = try need(meta["train"] as? [String: Any])
    let want = try need(t["losses"] as? [Double])
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(directory)/\(name).pb"), source: "\(name).pb")
    let loss = try g.requiredTensor(named: try need(t["loss"] as? String))
    let op = try need(g.operation(named: try need(t["op"] as? String)), "the training operation \(t["op"] ?? "")")
    var session: Session?
    var problems = try trainingProblems(g, loss: loss, op: op, want: want, label: "imported training operation, step", session: &session)
    // Values after the steps (TF1's int64 step counter, which Backprop holds as float64).
    for entry in t["after"] as? [[String: Any]] ?? [] {
      let after = try Self.array(entry)
      let got = try need(session).run(try g.requiredTensor(named: after.name))
      if got.shape != after.value.shape || got.doubles != after.value.doubles {
        problems.append("\(after.name) after the steps: \(got.dtype) \(got.shape) \(got.doubles.prefix(6)), TensorFlow \(after.tfDtype) \(after.value.doubles.prefix(6))")
      }
    }
    return problems
  }
}

/// Imports every TensorFlow-written graph of the probe and compares with TensorFlow's values.
@Suite struct GraphDefProbeTests {
  /// The cases Backprop refuses, each with what its error must name (the operation and the node).
  static let refusals: [String: [String]] = [
    "attr_gather_batch_dims": ["'GatherV2' (GatherV2)", "batch_dims 1"],
    "dyn_batch_count": ["node 'Cast' (Cast) reads 'strided_slice' (StridedSlice), a shape [?] known only when the graph runs"],
    "dyn_other_tensor": ["node 'Reshape' (Reshape): its shape uses the size of 'y:0' [?]"],
    "dyn_two_unknown": ["node 'Reshape' (Reshape): the shape [?, -1] of [?, ?, 4] has sizes known only when the graph runs"],
    // Each ConcatV2 doubles the one before: a recursion over shared inputs visited 2^k nodes.
    "refuse_concat_chain": ["[ConcatV2] 'concat_31'", "more than the limit"],
    "refuse_strided_huge": ["'strided_slice' (StridedSlice): a range of 536870912 elements"],
    "refuse_tile_huge": ["[BroadcastTo] 'tile/copies'", "more than the limit"],
    "refuse_adam_nesterov": ["ApplyAdam (use_nesterov): apply"],
    "refuse_cast_bfloat16": ["'c' (Cast)", "bfloat16"],
    "refuse_const_int64": ["'c' (Const)", "int64"],
    // Not only a step counter (TF1's global step, imported as float64): an int64 variable
    // multiplied by an int64 constant.
    "refuse_int64_variable_arithmetic": ["node 'count/Initializer/zeros' (Const), attribute 'value'", "int64"],
    "refuse_conv_nchw": ["'conv' (Conv2D): data_format NCHW"],
    "refuse_maxpool_nchw": ["'pool' (MaxPool): data_format NCHW"],
    "refuse_placeholder_float16": ["'x' (Placeholder)", "float16"],
    "refuse_placeholder_int64": ["'x' (Placeholder)", "int64"],
    "refuse_placeholder_uint8": ["'x' (Placeholder)", "uint8"],
    // The v1_* training graphs (SGD, Momentum, Adam; reference and resource variables; float64;
    // through Pad, Prod and MirrorPad) were refused here, naming TensorFlow's gradient nodes
    // (BroadcastGradientArgs...) and its update operations; their training operation is now
    // rebuilt with Backprop's gradients and optimizers (`trainImported`). Training graphs that
    // are not optimizer.minimize(loss)'s pattern are refused, naming the node:
    "refuse_v1_clip_sgd": [
      "node 'train/update_w/ApplyGradientDescent' (ApplyGradientDescent): its gradient input 'clip_by_value' (Maximum) is not a node of TensorFlow's gradient subgraph",
      "gradient clipping",
    ],
    "refuse_v1_two_losses": ["node 'gradients/grad_ys_1'", "differentiates several tensors"],
    "refuse_v1_grad_ys": ["node 'gradients/grad_ys_0' (Identity): expected TensorFlow's seed Fill(Shape(loss), 1)", "custom grad_ys"],
    "refuse_range_huge": ["'range' (Range): a range of 2147483647 elements"],
    "refuse_range_runtime": ["'range' (Range): its limit 'n'"],
    "refuse_int_pow_runtime": ["'pow' (Pow): an int32 power needs a constant exponent"],
  ]

  static func names(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
  }

  /// Runs one case: its values must be TensorFlow's, or its error must name what `refusals` says;
  /// a training graph's forward part, trained by Backprop's optimizer, must give TensorFlow's losses.
  static func outcome(_ name: String, directory: String = probeFixtures) throws -> [String] {
    let c = try ProbeCase(name, directory: directory)
    var problems: [String] = []
    do {
      problems += try c.check()
      if let expected = refusals[name] { problems.append("imported, but expected a refusal naming \(expected)") }
    } catch {
      let text = "\(error)"
      if let expected = refusals[name] {
        for part in expected where !text.contains(part) { problems.append("the error does not name \(part): \(text)") }
      } else {
        problems.append("threw \(text)")
      }
    }
    if let t = c.meta["train"] as? [String: Any] {
      // (A graph of several optimizers has no one optimizer to compare with.)
      if t["optimizer"] is [String: Any] {
        do { problems += try c.train() } catch { problems.append("training the forward graph threw \(error)") }
      }
      if refusals[name] == nil {
        do { problems += try c.trainImported() } catch { problems.append("training the imported graph threw \(error)") }
      }
    }
    if let raises = c.meta["raises"] as? [String: Any] {
      do { problems += try c.raisesAtRunTime(raises) } catch { problems.append("the run TensorFlow failed threw before running: \(error)") }
    }
    return problems
  }

  /// Every graph of the probe (Scripts/tf_probe.py export): TensorFlow's values to its
  /// tolerance, or a refusal naming the operation and the node; never a trap or another value.
  /// `BACKPROP_PROBE_DIR=DIR` runs the cases of another directory that script wrote instead
  /// (new cases, before they become fixtures), naming each one that differs.
  @Test func everyProbeGraphMatchesTensorFlowOrIsRefusedNamingTheNode() throws {
    let other = ProcessInfo.processInfo.environment["BACKPROP_PROBE_DIR"]
    let directory = other ?? probeFixtures
    let names = try Self.names(in: directory)
    #expect(names.count >= (other == nil ? 100 : 1))
    for name in names {
      let problems = try Self.outcome(name, directory: directory)
      #expect(problems.isEmpty, "\(name): \(problems)")
    }
  }

  /// The operations the probe added to the importer (StridedSlice, Tile, Relu6, Erfc, Pack)
  /// differentiate through the primitives they are built from: `x[:, ::-1, -2:]` passes the
  /// upstream gradient to the last two columns, a tile `[1, 2, 1]` doubles it, Relu6 passes it
  /// inside (0, 6), Erfc is `−2/√π·e^(−x²)`.
  @Test func importedOperationsDifferentiate() throws {
    func gradient(_ name: String) throws -> (x: NDArray, dx: NDArray) {
      let c = try ProbeCase(name)
      let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/\(name).pb"))
      let x = try need(g.tensor(named: "x"), "x"), out = try need(g.tensor(named: "out"), "out")
      let dx = try need(try gradients(of: sum(out), withRespectTo: [x])[0], "dx")
      let xv = try need(c.feeds.first { $0.name == "x:0" }?.value, "x:0")
      let iv = try need(c.feeds.first { $0.name == "i:0" }?.value, "i:0")
      let feeds: [Tensor: NDArray] = [x: xv, try need(g.tensor(named: "i"), "i"): iv]
      return (xv, try Session(graph: g).run(dx, feeding: feeds))
    }
    let strided = try gradient("op_strided_negative")
    #expect(strided.dx.doubles == (0..<24).map { $0 % 4 >= 2 ? 1 : 0 })
    #expect(try gradient("op_tile").dx.doubles == [Double](repeating: 2, count: 24))
    let relu6 = try gradient("op_relu6")
    #expect(relu6.dx.doubles == relu6.x.doubles.map { $0 > 0 && $0 < 6 ? 1 : 0 })
    let erfc = try gradient("op_gelu")
    #expect(erfc.dx.doubles.allSatisfy { $0.isFinite })
    let stack = try gradient("op_stack")
    #expect(stack.dx.doubles == [Double](repeating: 2, count: 24))
  }

  /// A batched product whose second operand is broadcast over the batch (BatchMatMulV2 with
  /// `adj_x`, imported as Backprop's MatMul) differentiates as TensorFlow's `tf.gradients`
  /// does: the broadcast operand's gradient sums over the batch.
  @Test func importedBatchMatMulDifferentiatesAsTensorFlow() throws {
    let c = try ProbeCase("op_batch_matmul_gradient")
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/op_batch_matmul_gradient.pb"))
    let x = try need(g.tensor(named: "x"), "x"), w = try need(g.tensor(named: "w"), "w"), out = try need(g.tensor(named: "out"), "out")
    let grads = try gradients(of: sum(out * out), withRespectTo: [x, w])
    var feeds: [Tensor: NDArray] = [:]
    for f in try c.feeds { feeds[try need(g.tensor(named: f.name), f.name)] = f.value }
    let values = try Session(graph: g).run([try need(grads[0], "dx"), try need(grads[1], "dw")], feeding: feeds)
    let want = try (c.meta["gradients"] as? [[String: Any]] ?? []).map(ProbeCase.array)
    #expect(want.count == 2)
    for (got, expected) in zip(values, want) {
      let d = try need(ProbeCase.difference(got, expected.value), "\(expected.name): shape \(got.shape)")
      #expect(d < 2e-5, "\(expected.name): \(got.doubles.prefix(6)) vs \(expected.value.doubles.prefix(6))")
    }
  }

  /// SoftmaxCrossEntropyWithLogits's two outputs are found by TensorFlow's names, and the
  /// loss's gradient with respect to the logits (from log-softmax's definition) is its second
  /// output, `softmax(logits) − labels`, for labels that sum to 1.
  @Test func importedSoftmaxCrossEntropyHasBothOutputsAndItsGradient() throws {
    let c = try ProbeCase("op_softmax_xent_outputs")
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/op_softmax_xent_outputs.pb"))
    let loss = try need(g.tensor(named: "xent:0"), "xent:0"), backprop = try need(g.tensor(named: "xent:1"), "xent:1")
    let logits = try need(g.tensor(named: "strided_slice"), "strided_slice")
    #expect(loss.shape == [3] && backprop.shape == [3, 4])
    let dLogits = try need(try gradients(of: sum(loss), withRespectTo: [logits])[0], "d logits")
    var feeds: [Tensor: NDArray] = [:]
    for f in try c.feeds { feeds[try need(g.tensor(named: f.name), f.name)] = f.value }
    let values = try Session(graph: g).run([backprop, dLogits], feeding: feeds)
    let d = try need(ProbeCase.difference(values[1], values[0]), "shapes \(values[1].shape), \(values[0].shape)")
    #expect(d < 1e-6)
  }

  /// A constant the file's operations read only as an attribute (`Reshape/shape`), which
  /// importing does not build, is found by name: built when asked for, once.
  @Test func aConstantReadOnlyAsAnAttributeIsFoundByName() throws {
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/op_reshape_transpose.pb"))
    #expect(g.operation(named: "Reshape/shape") == nil)
    let shape = try need(g.tensor(named: "Reshape/shape"), "Reshape/shape")
    #expect(shape.name == "Reshape/shape:0" || shape.name == "Reshape/shape")
    #expect(g.tensor(named: "Reshape/shape:0") == shape)
    #expect(g.tensor(named: "Reshape/shape:1") == nil)
    let value = try Session(graph: g).run(shape)
    #expect(value.dtype == .int32 && value.doubles == [4, -1])
  }

  /// A TF1 training graph's training operation, imported (TensorFlow's gradient subgraph
  /// skipped, each update rebuilt), trains bit for bit as Backprop's optimizer of the same kind
  /// and settings minimizing the imported loss: the settings are the file's float32 constants
  /// (TF1 writes a Python number as a float32 tensor), here as the optimizers' Double arguments.
  @Test func importedTrainingOperationIsBackpropsOptimizer() throws {
    let f = { (x: Double) in Double(Float(x)) }
    let cases: [(String, () throws -> any Optimizer)] = [
      ("v1_sgd_ref", { try GradientDescentOptimizer(learningRate: f(0.1)) }),
      ("v1_sgd_resource", { try GradientDescentOptimizer(learningRate: f(0.1)) }),
      ("v1_float64_sgd", { try GradientDescentOptimizer(learningRate: f(0.05)) }),
      ("v1_momentum_ref", { try MomentumOptimizer(learningRate: .constant(f(0.05)), momentum: f(0.9)) }),
      ("v1_momentum_nesterov_resource", { try MomentumOptimizer(learningRate: .constant(f(0.05)), momentum: f(0.9), useNesterov: true) }),
      ("v1_adam_ref", { try AdamOptimizer(learningRate: .constant(f(0.05)), beta1: f(0.9), beta2: f(0.999), epsilon: f(1e-8)) }),
      ("v1_adam_resource", { try AdamOptimizer(learningRate: .constant(f(0.05)), beta1: f(0.9), beta2: f(0.999), epsilon: f(1e-8)) }),
      // Adagrad's accumulator starts at the file's initial value (0.1, as Backprop's default).
      ("v1_adagrad_ref", { try AdagradOptimizer(learningRate: .constant(f(0.1))) }),
      ("v1_adagrad_resource", { try AdagradOptimizer(learningRate: .constant(f(0.1))) }),
      ("v1_rmsprop_ref", { try RMSPropOptimizer(learningRate: .constant(f(0.01)), decay: f(0.9), momentum: 0, epsilon: f(1e-10)) }),
      ("v1_rmsprop_resource", { try RMSPropOptimizer(learningRate: .constant(f(0.01)), decay: f(0.9), momentum: 0, epsilon: f(1e-10)) }),
      (
        "v1_rmsprop_centered_ref",
        { try RMSPropOptimizer(learningRate: .constant(f(0.01)), decay: f(0.8), momentum: f(0.5), epsilon: f(1e-6), centered: true) }
      ),
      (
        "v1_rmsprop_centered_resource",
        { try RMSPropOptimizer(learningRate: .constant(f(0.01)), decay: f(0.8), momentum: f(0.5), epsilon: f(1e-6), centered: true) }
      ),
    ]
    for (name, optimizer) in cases {
      let c = try ProbeCase(name)
      let t = try need(c.meta["train"] as? [String: Any])
      func losses(file: String, _ trainOp: (Graph, Tensor) throws -> GraphCore.Operation) throws -> [Double] {
        let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/\(file).pb"))
        let loss = try g.requiredTensor(named: try need(t["loss"] as? String))
        let op = try trainOp(g, loss)
        var feeds: [Tensor: NDArray] = [:]
        for f in try c.feeds { feeds[try g.requiredTensor(named: f.name)] = f.value }
        let s = Session(graph: g)
        try s.initializeVariables()
        return try (0..<6).map { _ in try s.run([loss], feeding: feeds, targets: [op])[0].doubles[0] }
      }
      let imported = try losses(file: name) { g, _ in try need(g.operation(named: "train"), "train") }
      let rebuilt = try losses(file: name + "_forward") { _, loss in try optimizer().minimize(loss) }
      #expect(imported == rebuilt, "\(name): \(imported) vs \(rebuilt)")
    }
  }

  /// The file's own initializer (`session.run(init)`, as a TensorFlow user runs it) also
  /// initializes what the rebuilt Adam adds (its step counter, in place of TensorFlow's
  /// `beta1_power`), so the imported training operation gives TensorFlow's losses after it.
  @Test func theFilesInitializerInitializesTheRebuiltAdam() throws {
    for name in ["v1_adam_ref", "v1_adam_resource"] {
      let c = try ProbeCase(name)
      let t = try need(c.meta["train"] as? [String: Any])
      let want = try need(t["losses"] as? [Double])
      let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/\(name).pb"))
      let loss = try g.requiredTensor(named: "loss:0")
      let train = try need(g.operation(named: "train"), "train"), initializer = try need(g.operation(named: "init"), "init")
      var feeds: [Tensor: NDArray] = [:]
      for f in try c.feeds { feeds[try g.requiredTensor(named: f.name)] = f.value }
      let s = Session(graph: g)
      try s.run(initializer)
      for (step, w) in want.enumerated() {
        let got = try s.run([loss], feeding: feeds, targets: [train])[0].doubles[0]
        #expect(abs(got - w) <= 2e-5 * max(1, abs(w)), "\(name) step \(step + 1): \(got) vs TensorFlow \(w)")
      }
    }
  }

  /// TensorFlow's gradient nodes are skipped when a training graph is imported: they have no
  /// tensor, and ``Graph/requiredTensor(named:)`` says why; the forward nodes, the update nodes'
  /// names and the training operation are there.
  @Test func skippedGradientNodesAreRefusedByNameSayingWhy() throws {
    let g = try Graph(graphDef: FileIO.readBytes(atPath: "\(probeFixtures)/v1_sgd_resource.pb"))
    #expect(g.tensor(named: "gradients/sub_grad/BroadcastGradientArgs") == nil)
    #expect(g.operation(named: "gradients/MatMul_grad/tuple/control_dependency_1") == nil)
    do {
      _ = try g.requiredTensor(named: "gradients/MatMul_grad/tuple/control_dependency_1:0")
      Issue.record("a skipped gradient node was found by name")
    } catch {
      let text = "\(error)"
      #expect(text.contains("'gradients/MatMul_grad/tuple/control_dependency_1:0' is a node of TensorFlow's gradient subgraph 'gradients'"), "\(text)")
      #expect(text.contains("'train/update_w/ResourceApplyGradientDescent'"), "\(text)")
    }
    #expect(throws: GraphError.self) { try g.requiredTensor(named: "no_such_node") }
    #expect(try g.requiredTensor(named: "loss:0") == g.tensor(named: "loss"))
    #expect(g.operation(named: "train") != nil && g.operation(named: "train/update_b/ResourceApplyGradientDescent") != nil)
  }

  /// Attributes that change what an operation computes, which the importer ignored: BiasAdd's
  /// `data_format` NCHW (the bias was added along the last axis), OneHot's `axis` (the classes
  /// always came last), TF1's `Select` with a vector condition (it picks rows; broadcasting
  /// picked columns), GatherV2's `batch_dims` (ignored; now refused naming the node).
  @Test func attributesThatChangeTheResultAreHonouredOrRefused() throws {
    for name in ["attr_bias_add_nchw", "attr_bias_add_nchw_square", "attr_one_hot_axis0_plain", "attr_one_hot_axis1", "attr_where_v1_rows_square"] {
      let problems = try Self.outcome(name)
      #expect(problems.isEmpty, "\(name): \(problems)")
    }
    let problems = try Self.outcome("attr_gather_batch_dims")
    #expect(problems.isEmpty, "attr_gather_batch_dims: \(problems)")
  }
}
