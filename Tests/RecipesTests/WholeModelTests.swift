import ArrayCore
import Datasets
import GraphCore
import Plotting
import Recipes
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

/// Whole-model files (`Session.saveModel`/`loadModel`) of a digits MLP trained by every
/// optimizer: training N steps, saving, loading the files into a new graph and session (as
/// another process would, without the code that built the graph) and training M more steps
/// gives bit for bit the variables of N + M steps in one session.
@Suite struct WholeModelTests {
  /// The first 96 digits rows, standardized, in batches of 16.
  static let batches: [(NDArray, NDArray)] = {
    let table = try! DigitsRecipe.loadTable(path: nil)
    var data = try! table.dataset()
    data = try! data.rows(Array(0..<96))
    let standardizer = try! Standardizer(fitting: data.features)
    data = try! standardizer.transform(data)
    let x = data.features.converted(to: .float32).scalars(as: Float.self)
    let y = data.labels.scalars(as: Int32.self)
    return (0..<6).map { b in
      (NDArray(Array(x[b * 16 * 64..<(b + 1) * 16 * 64]), shape: [16, 64]), NDArray(Array(y[b * 16..<(b + 1) * 16]), shape: [16]))
    }
  }()

  struct Model {
    let graph = Graph()
    let x: Tensor, labels: Tensor, loss: Tensor, train: GraphCore.Operation

    init(_ optimizer: DigitsOptimizer) throws {
      x = graph.placeholder(.float32, shape: [nil, 64], name: "pixels")
      labels = graph.placeholder(.int32, shape: [nil], name: "labels")
      let hidden = try Dense(graph: graph, inputSize: 64, units: 16, activation: .relu, seed: 3, name: "layer1")
      let out = try Dense(graph: graph, inputSize: 16, units: 10, seed: 5, name: "layer2")
      loss = try sparseSoftmaxCrossEntropy(logits: out(hidden(x)), labels: labels)
      train = try optimizer.make(learningRate: 0.01).minimize(loss)
    }
  }

  static func values(_ session: Session) throws -> [String: [UInt64]] {
    var out: [String: [UInt64]] = [:]
    for v in session.graph.variables {
      // Float32 values convert to float64 exactly.
      out[v.operation.name] = try session.value(of: v).doubles.map(\.bitPattern)
    }
    return out
  }

  @Test(arguments: DigitsOptimizer.allCases)
  func savedModelContinuesTrainingBitForBit(_ optimizer: DigitsOptimizer) throws {
    let n = 3
    let model = try Model(optimizer)
    let whole = Session(graph: model.graph)
    try whole.initializeVariables()
    let first = Session(graph: model.graph)
    try first.initializeVariables()
    for (i, (x, y)) in Self.batches.enumerated() {
      _ = try whole.run([model.loss], feeding: [model.x: x, model.labels: y], targets: [model.train])
      if i < n { _ = try first.run([model.loss], feeding: [model.x: x, model.labels: y], targets: [model.train]) }
    }
    let directory = try makeScratchDirectory("whole") + "/model"
    try first.saveModel(
      to: directory, metadata: ["input": model.x.name, "labels": model.labels.name, "loss": model.loss.name, "train": model.train.name])

    let (loaded, metadata) = try Session.loadModel(from: directory)
    let g = loaded.graph
    let x = try #require(g.tensor(named: metadata["input"] ?? "")), labels = try #require(g.tensor(named: metadata["labels"] ?? ""))
    let loss = try #require(g.tensor(named: metadata["loss"] ?? "")), train = try #require(g.operation(named: metadata["train"] ?? ""))
    if optimizer == .adam || optimizer == .adamw {
      // The fused update came back as the one primitive, not as TensorFlow's subgraph.
      #expect(g.operations.filter { $0.type == "ApplyAdam" }.count == 4)
    }
    for (x1, y1) in Self.batches.dropFirst(n) {
      _ = try loaded.run([loss], feeding: [x: x1, labels: y1], targets: [train])
    }
    let expected = try Self.values(whole)
    let got = try Self.values(loaded)
    #expect(Set(got.keys) == Set(expected.keys))
    for (name, bits) in expected { #expect(got[name] == bits, "\(name)") }
  }

  /// `backprop graph digits|fashion --pb`: the recipes' whole training graphs (the CNN's
  /// convolutions, poolings, their gradients, dropout, batch normalization's moments and
  /// moving averages, and the training flag included) export,
  /// import, and train on bit for bit as the graph that was built.
  @Test(arguments: ["digits", "fashion", "fashion cnn-bn"])
  func recipeTrainingGraphsRoundTrip(_ recipe: String) throws {
    var fashion = FashionRecipe.Configuration()
    if recipe == "fashion cnn-bn" { fashion.model = .cnnBN }
    let native =
      recipe == "digits"
      ? try DigitsRecipe.trainingGraph(DigitsRecipe.Configuration()) : try FashionRecipe.trainingGraph(fashion)
    let imported = try Graph(graphDef: native.graph.graphDef())
    var feeds: [Tensor: NDArray] = [:]
    for (t, v) in native.feeds { feeds[try #require(imported.tensor(named: t.name))] = v }
    let loss = try #require(imported.tensor(named: native.loss.name)), train = try #require(imported.operation(named: native.train.name))
    let a = Session(graph: native.graph), b = Session(graph: imported)
    try a.initializeVariables()
    try b.initializeVariables()
    // Random initializers are TensorFlow subgraphs on import; start from the same values.
    for v in native.graph.variables {
      try b.setValue(a.value(of: v), for: try #require(imported.tensor(named: v.operation.name)))
    }
    for _ in 0..<2 {
      let la = try a.run([native.loss], feeding: native.feeds, targets: [native.train])[0]
      let lb = try b.run([loss], feeding: feeds, targets: [train])[0]
      #expect(la.doubles.map(\.bitPattern) == lb.doubles.map(\.bitPattern), "loss \(la) \(lb)")
    }
    let expected = try Self.values(a), got = try Self.values(b)
    #expect(Set(got.keys) == Set(expected.keys))
    let differing = expected.keys.filter { got[$0] != expected[$0] }.sorted()
    #expect(differing.isEmpty, "variables that differ: \(differing)")
  }

  /// Tests/Fixtures/graphdef/adam_digits.pb and .json: a digits MLP with Adam, its initial
  /// values, four batches, Backprop's loss at each step and final variables, which
  /// `Scripts/tf_graphdef.py check-adam` replays in TensorFlow (its own `ApplyAdam` kernel)
  /// (`BACKPROP_WRITE_FIXTURES=1` rewrites them).
  @Test func adamFixtureForTensorFlow() throws {
    let model = try Model(.adam)
    let session = Session(graph: model.graph)
    try session.initializeVariables()
    func numbers(_ a: NDArray) -> String { "[" + a.doubles.map { "\($0)" }.joined(separator: ", ") + "]" }
    func variables() throws -> String {
      try model.graph.variables.map { v in
        let value = try session.value(of: v)
        return "    \"\(v.operation.name)\": {\"dtype\": \"\(value.dtype)\", \"shape\": \(value.shape.dimensions), \"values\": \(numbers(value))}"
      }.joined(separator: ",\n")
    }
    var json = "{\n  \"input\": \"\(model.x.name)\", \"labels\": \"\(model.labels.name)\", \"loss\": \"\(model.loss.name)\", "
    json += "\"train\": \"\(model.train.name)\", \"init\": \"init\",\n"
    json += "  \"initial\": {\n\(try variables())\n  },\n  \"batches\": [\n"
    json += Self.batches.prefix(4).map { "    {\"x\": \(numbers($0.0)), \"y\": \(numbers($0.1))}" }.joined(separator: ",\n")
    var losses: [String] = []
    for (x, y) in Self.batches.prefix(4) {
      losses.append("\(try session.run([model.loss], feeding: [model.x: x, model.labels: y], targets: [model.train])[0].scalarValue)")
    }
    json += "\n  ],\n  \"losses\": [\(losses.joined(separator: ", "))],\n  \"final\": {\n\(try variables())\n  }\n}\n"
    let bytes = try model.graph.graphDef()
    let base = String("\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/"))
      + "/Fixtures/graphdef/adam_digits"
    if getenv("BACKPROP_WRITE_FIXTURES") != nil {
      try FileIO.writeAtomically(bytes, toPath: base + ".pb")
      try FileIO.writeAtomically(Array(json.utf8), toPath: base + ".json")
    }
    #expect(try FileIO.readBytes(atPath: base + ".pb") == bytes)
    #expect(try FileIO.readBytes(atPath: base + ".json") == Array(json.utf8))
  }

  /// Corrupt or truncated files and unsupported requests are thrown errors that name the file
  /// (or the operation) and the problem.
  @Test func interchangeErrorsNameTheFileAndTheProblem() throws {
    let model = try Model(.adam)
    let bytes = try model.graph.graphDef()
    #expect {
      _ = try Graph(graphDef: Array(bytes.prefix(bytes.count / 2)), source: "model/graph.pb")
    } throws: { "\($0)".hasPrefix("model/graph.pb: not a valid GraphDef: ") }
    let directory = try makeScratchDirectory("corrupt") + "/model"
    let session = Session(graph: model.graph)
    try session.initializeVariables()
    try session.saveModel(to: directory)
    let variables = try FileIO.readBytes(atPath: directory + "/variables.safetensors")
    try FileIO.writeAtomically(Array(variables.prefix(variables.count - 9)), toPath: directory + "/variables.safetensors")
    #expect { _ = try Session.loadModel(from: directory) } throws: { "\($0)".contains(directory + "/variables.safetensors") }
    try FileIO.writeAtomically(Array(bytes.prefix(100)), toPath: directory + "/graph.pb")
    #expect { _ = try Session.loadModel(from: directory) } throws: { "\($0)".contains(directory + "/graph.pb: not a valid GraphDef") }
    // A TensorBoard event file cut inside a record.
    let event = TFRecord.frame(Array("an event".utf8)) + TFRecord.frame(Array("another".utf8))
    #expect {
      _ = try EventFile.decode(Array(event.prefix(event.count - 3)), source: "events.out.tfevents.1")
    } throws: { "\($0)".contains("events.out.tfevents.1") && "\($0)".contains("record 1") }
    // ONNX: an operation without an ONNX form is named with its type.
    #expect {
      _ = try model.graph.onnxModel(inputs: [model.x, model.labels], outputs: [model.loss], session: session)
    } throws: { "\($0)".contains("export to ONNX") && "\($0)".contains("SparseSoftmaxCrossEntropyWithLogits: ") }
  }

  /// A save that fails leaves the model already in the directory as it was: an uninitialized
  /// variable was found after graph.pb had been replaced, so the directory held the new graph
  /// beside the old variables, and loading it ran the new graph (x·w + 100) with the old
  /// weights, without an error.
  @Test func failedSaveLeavesTheSavedModelAsItWas() throws {
    let directory = try makeScratchDirectory("failed-save") + "/model"
    func linear(_ weights: [Float], bias: Float?) throws -> Session {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [nil, 2], name: "x")
      let w = try g.variable(g.constant(NDArray(weights, shape: [2, 1])), name: "w")
      let y = try matmul(x, w, name: bias == nil ? "y" : "xw")
      if let bias { _ = try add(y, g.constant(NDArray([bias])), name: "y") }
      return Session(graph: g)
    }
    let saved = try linear([1, 2], bias: nil)
    try saved.initializeVariables()
    try saved.saveModel(to: directory)
    let files = try ["graph.pb", "variables.safetensors"].map { try FileIO.readBytes(atPath: directory + "/" + $0) }
    #expect(throws: SessionError.uninitializedVariable(name: "w")) { try linear([5, 6], bias: 100).saveModel(to: directory) }
    #expect(try ["graph.pb", "variables.safetensors"].map { try FileIO.readBytes(atPath: directory + "/" + $0) } == files)
    // A directory where the variables file goes: refused before graph.pb is replaced.
    let other = try makeScratchDirectory("failed-save") + "/model"
    try saved.saveModel(to: other)
    let graph = try FileIO.readBytes(atPath: other + "/graph.pb")
    #expect(unlink(other + "/variables.safetensors") == 0 && mkdir(other + "/variables.safetensors", 0o755) == 0)
    let changed = try linear([5, 6], bias: 100)
    try changed.initializeVariables()
    #expect { try changed.saveModel(to: other) } throws: { "\($0)".contains("variables.safetensors") && "\($0)".contains("directory") }
    #expect(try FileIO.readBytes(atPath: other + "/graph.pb") == graph)
    let (loaded, _) = try Session.loadModel(from: directory)
    let x = try #require(loaded.graph.tensor(named: "x")), y = try #require(loaded.graph.tensor(named: "y"))
    #expect(try loaded.run(y, feeding: [x: NDArray([Float(1), 1], shape: [1, 2])]).doubles == [3])
  }

  /// `onnxModel` with an input or output of another graph read this graph's nodes at the
  /// other graph's node numbers (index out of range, or another operation exported without a
  /// word); an input or output given twice wrote an ONNX graph with one name twice, which
  /// ONNX refuses. Both are errors naming the tensor and the caller's line.
  @Test func onnxExportRefusesForeignAndRepeatedTensors() throws {
    let g = Graph(), other = Graph()
    let x = g.placeholder(.float32, shape: [nil, 2], name: "x")
    let y = try relu(x, name: "r")
    var z = other.placeholder(.float32, shape: [nil, 2], name: "x")
    for i in 0..<5 { z = try relu(z, name: "r\(i)") }
    #expect { _ = try g.onnxModel(inputs: [x], outputs: [z]) } throws: {
      "\($0)".contains("[onnxModel] tensor 'r4:0' belongs to another graph") && "\($0)".contains("WholeModelTests.swift")
    }
    #expect { _ = try g.onnxModel(inputs: [other.operations[0].outputs[0]], outputs: [y]) } throws: { "\($0)".contains("another graph") }
    #expect { _ = try g.onnxModel(inputs: [x, x], outputs: [y]) } throws: { "\($0)".contains("input 'x:0' is given twice") }
    #expect { _ = try g.onnxModel(inputs: [x], outputs: [y, y]) } throws: { "\($0)".contains("output 'r:0' is given twice") }
    #expect { _ = try g.onnxModel(inputs: [x], outputs: [y], session: Session(graph: other)) } throws: { "\($0)".contains("another graph") }
    #expect(try !g.onnxModel(inputs: [x], outputs: [y]).isEmpty)
  }

  /// Values that would trap if converted blindly are thrown errors: a Reshape's shape constant
  /// holding NaN (`Int(Double)` traps), and a variable without an initializer whose shape
  /// attribute has more than 2²⁸ elements (its zeros would be allocated at import).
  @Test func importRefusesUnconvertibleConstantsAndHugeVariables() throws {
    var g = ProtobufWriter()
    g.message(1, TFNodeBytes(name: "x", op: "Placeholder", inputs: [], floatValue: nil, dtypeAttr: true).encoded())
    g.message(1, TFNodeBytes(name: "shape", op: "Const", inputs: [], floatValue: .nan).encoded())
    g.message(1, TFNodeBytes(name: "r", op: "Reshape", inputs: ["x", "shape"], floatValue: nil).encoded())
    #expect { _ = try Graph(graphDef: g.bytes) } throws: { "\($0)".contains("must hold integers") }

    var v = ProtobufWriter()
    v.message(1) { n in
      n.string(1, "huge")
      n.string(2, "VariableV2")
      n.message(5) { e in
        e.string(1, "dtype")
        e.message(2) { $0.varint(6, 1) }
      }
      n.message(5) { e in
        e.string(1, "shape")
        e.message(2) { a in
          a.message(7) { shape in
            for _ in 0..<3 { shape.message(2) { $0.int64(1, 1 << 20) } }
          }
        }
      }
    }
    #expect { _ = try Graph(graphDef: v.bytes) } throws: { "\($0)".contains("too large") }
  }

  /// Adam's update is written as TensorFlow's `ApplyAdam` with its ten inputs, the step size as
  /// `lr` with both beta powers 0 (so TensorFlow's `lr_t` is the step size itself).
  @Test func adamIsTensorFlowsApplyAdam() throws {
    let model = try Model(.adam)
    let bytes = try model.graph.graphDef()
    var r = ProtobufReader(bytes, format: "GraphDef")
    var adam: [(name: String, inputs: [String])] = []
    while let f = try r.next() {
      guard f.number == 1, let data = f.data else { continue }
      var n = r.nested(data)
      var name = "", op = "", inputs: [String] = []
      while let nf = try n.next() {
        if nf.number == 1 { name = nf.string ?? "" }
        if nf.number == 2 { op = nf.string ?? "" }
        if nf.number == 3 { inputs.append(nf.string ?? "") }
      }
      if op == "ApplyAdam" { adam.append((name, inputs)) }
    }
    #expect(adam.count == 4)
    let first = try #require(adam.first)
    #expect(first.inputs.filter { !$0.hasPrefix("^") }.count == 10)
    #expect(first.inputs[0].hasPrefix("layer1/"))
    #expect(first.inputs[3].hasSuffix("/beta1_power"))
  }

  /// A TensorFlow-style `ApplyAdam` (beta powers as variables, hyperparameters as constants, as
  /// `tf.compat.v1.train.AdamOptimizer` writes it) imports as `lr·√(1−β₂ᵗ)/(1−β₁ᵗ)` and the
  /// fused update: one step from zero slots moves the variable by `lr_t·g/(|g|+ε)`.
  @Test func tensorFlowApplyAdamImports() throws {
    let g = Graph()
    let w = try g.variable(g.constant(NDArray([Float(1), 2]), name: "w/initial_value"), name: "w")
    let m = try g.variable(g.constant(NDArray([Float(0), 0]), name: "m/initial_value"), name: "m")
    let v = try g.variable(g.constant(NDArray([Float(0), 0]), name: "v/initial_value"), name: "v")
    let p1 = try g.variable(g.constant(NDArray(scalar: Float(0.9)), name: "beta1_power/initial_value"), name: "beta1_power")
    let p2 = try g.variable(g.constant(NDArray(scalar: Float(0.999)), name: "beta2_power/initial_value"), name: "beta2_power")
    let grad = g.constant(NDArray([Float(0.5), -0.25]), name: "grad")
    _ = (w, m, v, p1, p2, grad)  // exported, then an ApplyAdam node added by hand below
    var bytes = try g.graphDef()
    var extra = ProtobufWriter()
    func scalar(_ name: String, _ value: Float) -> TFNodeBytes {
      TFNodeBytes(name: name, op: "Const", inputs: [], floatValue: value)
    }
    for n in [scalar("lr", 0.1), scalar("beta1", 0.9), scalar("beta2", 0.999), scalar("epsilon", 1e-7)] { extra.message(1, n.encoded()) }
    extra.message(
      1,
      TFNodeBytes(
        name: "Adam/update_w", op: "ApplyAdam",
        inputs: ["w", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "grad"], floatValue: nil
      ).encoded())
    bytes += extra.bytes
    let imported = try Graph(graphDef: bytes)
    let session = Session(graph: imported)
    try session.initializeVariables()
    let update = try #require(imported.operation(named: "Adam/update_w"))
    try session.run(update)
    let w1 = try session.value(of: try #require(imported.tensor(named: "w"))).scalars(as: Float.self)
    let lrT = 0.1 * (1 - 0.999).squareRoot() / (1 - 0.9)
    for (i, gi) in [0.5, -0.25].enumerated() {
      let expected = [1.0, 2.0][i] - lrT * (0.1 * gi) / ((0.001 * gi * gi).squareRoot() + 1e-7)
      #expect(abs(Double(w1[i]) - expected) < 1e-5)
    }
  }
}

/// A NodeDef written by hand (graph.proto: name 1, op 2, input 3, attr 5), with a float32
/// scalar `value` for constants and `T: DT_FLOAT`.
private struct TFNodeBytes {
  var name: String, op: String, inputs: [String], floatValue: Float?
  var dtypeAttr = false

  func encoded() -> ProtobufWriter {
    var n = ProtobufWriter()
    n.string(1, name)
    n.string(2, op)
    for i in inputs { n.string(3, i) }
    func attr(_ key: String, _ body: (inout ProtobufWriter) -> Void) {
      n.message(5) { e in
        e.string(1, key)
        e.message(2, body)
      }
    }
    if let floatValue {
      attr("dtype") { $0.varint(6, 1) }
      attr("value") { a in
        a.message(8) { t in
          t.varint(1, 1)
          t.message(2) { _ in }
          t.packedFloats(5, [floatValue])
        }
      }
    } else {
      attr(dtypeAttr ? "dtype" : "T") { $0.varint(6, 1) }
      // A scalar placeholder (without the attribute, the shape is unknown: refused).
      if op == "Placeholder" { attr("shape") { $0.message(7) { _ in } } }
    }
    return n
  }
}
