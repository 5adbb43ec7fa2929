import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// A function of the user's own, as "Writing your own operation" writes one.
private struct Softsign: UnaryFunction {
  var typeName: String { "Softsign" }
  func callAsFunction<T: FloatElement>(_ x: T) -> T { x / (1 + abs(x)) }
  func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g / square(1 + abs(x)) }
}

/// A function of the user's own that takes a built-in's type name.
private struct MyRelu: UnaryFunction {
  var typeName: String { "Relu" }
  func callAsFunction<T: FloatElement>(_ x: T) -> T { x > 0 ? 2 * x : 0 }
  func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * 2 }
}

/// A two-input function of the user's own.
private struct MeanOfTwo: BinaryFunction {
  var typeName: String { "MeanOfTwo" }
  func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { (x + y) / 2 }
  func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) { (try g / 2, try g / 2) }
}

/// The eighth probe (session 26): the public API as a PyTorch, Keras or JAX user writes it from
/// the documentation, features combined.
@Suite struct EighthProbeTests {
  /// A model whose activation is the user's own `UnaryFunction` (the DocC article's softsign) was
  /// written by `saveModel` with a node of type `Softsign`, which neither TensorFlow nor
  /// `Session.loadModel` knows: the save succeeded and the model could not be loaded. A function
  /// named like a built-in (`Relu`) was written as TensorFlow's `Relu`, and came back as it,
  /// silently computing another function.
  @Test func functionsOfYourOwnAreNotExported() throws {
    for build in [
      { (x: Tensor) throws -> Tensor in try unary(Softsign(), x) },
      { (x: Tensor) throws -> Tensor in try unary(MyRelu(), x) },
      { (x: Tensor) throws -> Tensor in try binary(MeanOfTwo(), x, x) },
    ] {
      let graph = Graph()
      let x = graph.placeholder(.float32, shape: [nil, 2], name: "x")
      let dense = try Dense(graph: graph, inputSize: 2, units: 2, seed: 1)
      let y = try build(dense(x))
      let session = Session(graph: graph)
      try session.initializeVariables()
      let type = y.operation.primitive.typeName
      #expect(throws: GraphDefError.unsupportedOperations(direction: "export", ["\(type): \(y.operation.name)"])) {
        _ = try graph.graphDef()
      }
      let directory = try makeScratchDirectory("eighth-probe") + "/own-function-\(type)"
      #expect(throws: GraphDefError.self) { try session.saveModel(to: directory) }
      #expect(!FileManager.default.fileExists(atPath: directory))
      #expect(throws: GraphDefError.self) { _ = try graph.onnxModel(inputs: [x], outputs: [y], session: session) }
      // For TensorBoard's picture, lenient export still writes it under its name.
      #expect(try !graph.graphDef(lenient: true).isEmpty)
    }
  }

  /// Every built-in elementwise function that exports to a GraphDef imports back and computes
  /// the same values: `selu` was exported as TensorFlow's `Selu`, which the importer did not
  /// know, so a saved model with a SELU layer could not be loaded.
  @Test func everyExportedElementwiseFunctionImportsBack() throws {
    let a = try NDArray(validating: [0.25, 0.5, 0.75, 1.5], shape: [4])  // in every function's domain
    let b = try NDArray(validating: [1.25, 0.75, 2.5, 1.0], shape: [4])
    var exported = 0
    for (index, f) in (PrimitiveRegistry.unaryFunctions.map { f in { (x: Tensor, _: Tensor) in try unary(f, x) } }
      + PrimitiveRegistry.binaryFunctions.map { f in { (x: Tensor, y: Tensor) in try binary(f, x, y) } }).enumerated()
    {
      let graph = Graph()
      let x = graph.placeholder(.float64, shape: [4], name: "x")
      let y = graph.placeholder(.float64, shape: [4], name: "y")
      let out = try identity(f(x, y), name: "out")
      let expected = try Session(graph: graph).run(out, feeding: [x: a, y: b])
      guard let bytes = try? graph.graphDef() else { continue }  // refused on export: named there
      exported += 1
      let imported = try Graph(graphDef: bytes)
      let values = try Session(graph: imported).run(
        imported.tensor(named: "out:0")!, feeding: [imported.tensor(named: "x:0")!: a, imported.tensor(named: "y:0")!: b])
      #expect(values == expected, "function \(index): \(out.operation.inputs)")
    }
    #expect(exported >= 30)

    // LeakyRelu's slope in float64 (TensorFlow's attribute is a float).
    let leaky = Graph()
    let z = leaky.placeholder(.float64, shape: [2], name: "z")
    let slope = try identity(leakyRelu(z, alpha: 0.2), name: "out")
    let negative = NDArray([-1.0, 3])
    let reimported = try Graph(graphDef: leaky.graphDef())
    #expect(
      try Session(graph: reimported).run(reimported.tensor(named: "out:0")!, feeding: [reimported.tensor(named: "z:0")!: negative])
        == Session(graph: leaky).run(slope, feeding: [z: negative]))

    // A model with a SELU layer, saved and loaded.
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 3], name: "x")
    let model = Sequential([
      try Dense(graph: graph, inputSize: 3, units: 4, seed: 1), Activation.custom(name: "selu") { try selu($0) },
      try Dense(graph: graph, inputSize: 4, units: 2, seed: 2),
    ])
    let out = try identity(model(x), name: "out")
    let session = Session(graph: graph)
    try session.initializeVariables()
    let rows = try NDArray(validating: [Float(-2), 0.5, 1, 3, -1, 0], shape: [2, 3])
    let directory = try makeScratchDirectory("eighth-probe") + "/selu"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try session.saveModel(to: directory)
    let (loaded, _) = try Session.loadModel(from: directory)
    #expect(
      try loaded.run(loaded.graph.tensor(named: "out:0")!, feeding: [loaded.graph.tensor(named: "x:0")!: rows])
        == session.run(out, feeding: [x: rows]))
  }

  /// A `Dense` layer's operations named the library's line (`built at Training/Layers.swift:116`)
  /// in run-time errors, such as an overflow under numeric checks; the other layers name the
  /// line where the user created them, as `Dense` now does.
  @Test func denseLayersNameTheUsersLine() throws {
    let parameters = Graph.eager()
    let dense = try Dense(graph: parameters, inputSize: 3, units: 2, activation: .relu, kernelInitializer: .ones, seed: 1); let denseLine = #line
    let here = "TrainingTests/EighthProbeTests.swift:\(denseLine)"
    let large = Tensor(NDArray([Float(3e38), 3e38, 3e38], shape: [1, 3]))  // the sum overflows
    do {
      try withNumericChecks { _ = try dense(large) }
      Issue.record("no error for an overflow")
    } catch {
      #expect("\(error)".contains("[MatMul]") && "\(error)".hasSuffix(here), "\(error)")
    }
    // A graph's session with checkNumerics, and the activation's operation.
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 2])
    let layer = try Dense(graph: graph, inputSize: 2, units: 1, activation: .sigmoid, seed: 1); let layerLine = #line
    let y = try layer(x)
    #expect(y.operation.location?.description == "TrainingTests/EighthProbeTests.swift:\(layerLine)")
    let session = Session(graph: graph, options: Session.Options(checkNumerics: true))
    try session.initializeVariables()
    do {
      _ = try session.run(y, feeding: [x: NDArray([Float.infinity, 1], shape: [1, 2])])
      Issue.record("no error for infinite data")
    } catch {
      #expect("\(error)".hasSuffix("TrainingTests/EighthProbeTests.swift:\(layerLine)"), "\(error)")
    }
  }

  /// A model with dropout, as a Keras user builds it, and its training step.
  private struct DropoutModel {
    let graph = Graph()
    let x: Tensor, y: Tensor, loss: Tensor, train: GraphCore.Operation, phase: TrainingPhase
    let session: Session

    init() throws {
      phase = try TrainingPhase(graph: graph)
      x = graph.placeholder(.float32, shape: [nil, 6, 6, 1], name: "x")
      y = graph.placeholder(.int32, shape: [nil], name: "y")
      let model = Sequential([
        try Conv2D(graph: graph, inputChannels: 1, filters: 2, kernelSize: [3, 3], padding: .same, seed: 1),
        try BatchNorm(graph: graph, channels: 2, phase: phase), Activation.relu, try MaxPool2D(window: [2, 2]), Flatten(),
        try Dropout(rate: 0.3, seed: 5, phase: phase), try Dense(graph: graph, inputSize: 18, units: 3, seed: 2),
      ])
      loss = try sparseSoftmaxCrossEntropy(logits: model(x), labels: y)
      train = try AdamOptimizer(learningRate: .schedule(try .cosineDecay(initial: 0.05, decaySteps: 6))).minimize(loss)
      session = Session(graph: graph)
      try session.initializeVariables()
    }

    /// One training step on batch `i` of a seeded stream; the loss.
    func step(_ i: Int) throws -> Float {
      var generator = SeededGenerator(seed: UInt64(100 + i))
      let pixels = (0..<(4 * 36)).map { _ in generator.normal(mean: 0, standardDeviation: 1) }
      var feeds = phase.feed(true)
      feeds[x] = NDArray(converting: pixels, shape: [4, 6, 6, 1], dtype: .float32)
      feeds[y] = NDArray((0..<4).map { _ in Int32(generator.choice(3)) })
      return try session.run([loss], feeding: feeds, targets: [train])[0].scalars(as: Float.self)[0]
    }
  }

  /// A checkpoint saved mid-training and restored into a fresh model resumed with other dropout
  /// masks than the uninterrupted run's (the masks' generator restarted from its seed), for every
  /// optimizer: the losses after the restore differed, though the documentation says a restore
  /// continues "exactly". The checkpoint now carries the random operations' generators.
  @Test func trainingResumedFromACheckpointDrawsTheSameDropoutMasks() throws {
    let uninterrupted = try DropoutModel()
    let expected = try (0..<8).map { try uninterrupted.step($0) }

    let first = try DropoutModel()
    var losses = try (0..<4).map { try first.step($0) }
    let path = try makeScratchDirectory("eighth-probe") + "/dropout.safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(session: first.session, to: path, metadata: ["step": "4"])
    let resumed = try DropoutModel()
    let metadata = try Checkpoint.restore(session: resumed.session, from: path)
    #expect(metadata == ["step": "4"])  // the generators' entries are the checkpoint's own
    losses += try (4..<8).map { try resumed.step($0) }
    #expect(losses == expected)
    for (a, b) in zip(uninterrupted.graph.variables, resumed.graph.variables) {
      #expect(try uninterrupted.session.value(of: a).isBitIdentical(to: resumed.session.value(of: b)), "\(a.name)")
    }
    // The initial values' generators are not carried (a restore replaces what they drew).
    let file = try SafetensorsFile(contentsOfFile: path)
    #expect(file.metadata.keys.filter { $0.hasPrefix(Checkpoint.randomStatePrefix) }.sorted() == [Checkpoint.randomStatePrefix + "dropout/mask"])

    // A state that is not one is refused, naming the operation; nothing changes.
    let broken = SafetensorsFile(tensors: file.tensors, metadata: [Checkpoint.randomStatePrefix + "dropout/mask": "12 zz"])
    #expect(throws: ArrayFileError.self) { try Checkpoint.restore(session: resumed.session, from: broken) }
  }

  /// Gradient clipping as `clipByGlobalNorm`'s documentation writes it (`computeGradients`,
  /// `clipByGlobalNorm`, `applyGradients`) on a model with batch normalization never moved the
  /// moving averages (only `minimize` ran the graph's update operations, TF1's `UPDATE_OPS`):
  /// inference normalized with a mean of 0 and a variance of 1 after any amount of training,
  /// silently. The built-in optimizers' `applyGradients` now runs them, as `minimize` does, and
  /// the averages are `minimize`'s bit for bit.
  @Test func clippedGradientsKeepBatchNormalizationsAveragesMoving() throws {
    func train(clipped: Bool) throws -> (mean: NDArray, variance: NDArray) {
      let graph = Graph()
      let phase = try TrainingPhase(graph: graph)
      let x = graph.placeholder(.float64, shape: [nil, 2], name: "x")
      let norm = try BatchNorm(graph: graph, channels: 2, phase: phase, momentum: 0.5, dtype: .float64)
      let dense = try Dense(graph: graph, inputSize: 2, units: 1, dtype: .float64, seed: 1)
      let loss = try meanSquaredError(predicted: dense(norm(x)), expected: graph.constant(try NDArray(validating: [1.0, 0, 2], shape: [3, 1])))
      let optimizer = try MomentumOptimizer(learningRate: 0.1, momentum: 0.9)
      let train: GraphCore.Operation
      if clipped {
        let (pairs, _) = try clipByGlobalNorm(try optimizer.computeGradients(loss), clipNorm: 100)  // (no clipping at this norm)
        train = try optimizer.applyGradients(pairs, name: "train", location: SourceLocation(#fileID, #line))
      } else {
        train = try optimizer.minimize(loss)
      }
      let session = Session(graph: graph)
      try session.initializeVariables()
      var feeds = phase.feed(true)
      feeds[x] = try NDArray(validating: [1.0, 5, 3, 7, 8, -1], shape: [3, 2])
      for _ in 0..<3 { try session.run(train, feeding: feeds) }
      return (try session.value(of: norm.movingMean), try session.value(of: norm.movingVariance))
    }
    let minimized = try train(clipped: false)
    let clipped = try train(clipped: true)
    // The batch's mean is [4, 11/3]: after three steps at momentum 0.5 the average is 7/8 of it.
    let expectedMean: [Double] = [4 * 7 / 8, 11.0 / 3 * 7 / 8]
    #expect(zip(minimized.mean.doubles, expectedMean).allSatisfy { Swift.abs($0 - $1) < 1e-12 }, "\(minimized.mean)")
    #expect(clipped.mean.isBitIdentical(to: minimized.mean) && clipped.variance.isBitIdentical(to: minimized.variance))
  }

  /// An eager model and its optimizer, as a PyTorch user writes them (DocC "Eager execution").
  private struct EagerModel {
    let parameters = Graph.eager()
    let model: Sequential
    let optimizer: EagerOptimizer<AdamOptimizer>

    init() throws {
      model = Sequential([
        try Dense(graph: parameters, inputSize: 3, units: 4, activation: .tanh, seed: 1),
        try Dense(graph: parameters, inputSize: 4, units: 2, seed: 2),
      ])
      optimizer = EagerOptimizer(try AdamOptimizer(learningRate: .schedule(try .cosineDecay(initial: 0.1, decaySteps: 8))))
    }

    /// The batch of step `i`.
    static func batch(_ i: Int) -> (NDArray, NDArray) {
      var generator = SeededGenerator(seed: UInt64(i))
      let x = NDArray(converting: (0..<12).map { _ in generator.normal(mean: 0, standardDeviation: 1) }, shape: [4, 3], dtype: .float32)
      return (x, NDArray((0..<4).map { _ in Int32(generator.choice(2)) }))
    }

    /// One step on batch `i`.
    func step(_ i: Int) throws {
      let (x, y) = Self.batch(i)
      let tape = GradientTape()
      let loss = try tape.record { try sparseSoftmaxCrossEntropy(logits: model(Tensor(x)), labels: Tensor(y)) }
      try optimizer.update(model.variables, along: try tape.gradient(of: loss, withRespectTo: model.variables))
    }
  }

  /// An eager model trained by `EagerOptimizer(Adam)`, saved mid-training with
  /// `Checkpoint.save(variablesOf:)` and restored into a fresh model and optimizer, resumed
  /// with Adam's moments at 0 and its step counter (and schedule) at step 0: another trajectory,
  /// silently, and a session's checkpoint of the same model (with its `dense/kernel/Adam`
  /// slots) could not be restored into the eager model at all. The optimizer's state now travels
  /// with the variables under the session's names (PyTorch's `optimizer.state_dict()`).
  @Test func eagerTrainingResumesWithItsOptimizersState() throws {
    let uninterrupted = try EagerModel()
    for i in 0..<8 { try uninterrupted.step(i) }

    let first = try EagerModel()
    for i in 0..<4 { try first.step(i) }
    let path = try makeScratchDirectory("eighth-probe") + "/eager-adam.safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(variablesOf: first.parameters, optimizer: first.optimizer, to: path, metadata: ["step": "4"])
    #expect(try first.optimizer.namedState().keys.sorted() == [
      "Adam/iterations", "dense/bias/Adam", "dense/bias/Adam_1", "dense/kernel/Adam", "dense/kernel/Adam_1",
      "dense_1/bias/Adam", "dense_1/bias/Adam_1", "dense_1/kernel/Adam", "dense_1/kernel/Adam_1",
    ])
    let resumed = try EagerModel()
    #expect(try Checkpoint.restore(variablesOf: resumed.parameters, optimizer: resumed.optimizer, from: path) == ["step": "4"])
    for i in 4..<8 { try resumed.step(i) }
    for (a, b) in zip(uninterrupted.model.variables, resumed.model.variables) {
      #expect(try a.value.isBitIdentical(to: b.value), "\(a.name)")
    }

    // The same model trained by a session's minimize (the same steps bit for bit): its
    // checkpoint, slots and step counter included, resumes in eager code.
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 3]), y = graph.placeholder(.int32, shape: [nil])
    let model = Sequential([
      try Dense(graph: graph, inputSize: 3, units: 4, activation: .tanh, seed: 1), try Dense(graph: graph, inputSize: 4, units: 2, seed: 2),
    ])
    let train = try AdamOptimizer(learningRate: .schedule(try .cosineDecay(initial: 0.1, decaySteps: 8)))
      .minimize(sparseSoftmaxCrossEntropy(logits: model(x), labels: y))
    let session = Session(graph: graph)
    try session.initializeVariables()
    for i in 0..<4 {
      let (xb, yb) = EagerModel.batch(i)
      try session.run(train, feeding: [x: xb, y: yb])
    }
    try Checkpoint.save(session: session, to: path)
    let fromSession = try EagerModel()
    try Checkpoint.restore(variablesOf: fromSession.parameters, optimizer: fromSession.optimizer, from: path)
    for i in 4..<8 { try fromSession.step(i) }
    for (a, b) in zip(uninterrupted.model.variables, fromSession.model.variables) {
      #expect(try a.value.isBitIdentical(to: b.value), "\(a.name)")
    }

    // A checkpoint of another optimizer is refused before anything changes.
    let other = try EagerModel()
    let sgd = EagerOptimizer(try MomentumOptimizer(learningRate: 0.1, momentum: 0.9))
    let before = try other.model.variables.map { try $0.value }
    #expect(throws: CheckpointError.self) { try Checkpoint.restore(variablesOf: other.parameters, optimizer: sgd, from: path) }
    #expect(try other.model.variables.map { try $0.value } == before)
  }

  /// A model with an `Embedding` trained by `minimize` could not be saved (`saveModel`: "cannot
  /// export these operations: ScatterAdd", the lookup's gradient), so neither could a language
  /// model's training graph. It is written as TensorFlow writes the densified gradient of a
  /// gather (`UnsortedSegmentSum`), and comes back: training resumes from the directory bit for
  /// bit.
  @Test func embeddingModelsSaveAndResume() throws {
    func build() throws -> (graph: Graph, ids: Tensor, labels: Tensor, loss: Tensor, train: GraphCore.Operation) {
      let graph = Graph()
      let ids = graph.placeholder(.int32, shape: [nil, 3], name: "ids")
      let labels = graph.placeholder(.int32, shape: [nil], name: "labels")
      let model = Sequential([
        try Embedding(graph: graph, vocabulary: 7, dimension: 4, seed: 1), try LayerNorm(graph: graph, features: 4), Flatten(),
        try Dense(graph: graph, inputSize: 12, units: 2, seed: 2),
      ])
      let loss = try sparseSoftmaxCrossEntropy(logits: model(ids), labels: labels)
      return (graph, ids, labels, loss, try AdamOptimizer(learningRate: 0.05).minimize(loss))
    }
    func batch(_ i: Int) -> (NDArray, NDArray) {
      var generator = SeededGenerator(seed: UInt64(i))
      return (NDArray((0..<6).map { _ in Int32(generator.choice(7)) }, shape: [2, 3]), NDArray((0..<2).map { _ in Int32(generator.choice(2)) }))
    }
    let model = try build()
    let session = Session(graph: model.graph)
    try session.initializeVariables()
    for i in 0..<3 {
      let (x, y) = batch(i)
      try session.run(model.train, feeding: [model.ids: x, model.labels: y])
    }
    let directory = try makeScratchDirectory("eighth-probe") + "/embedding"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try session.saveModel(to: directory)
    let (loaded, _) = try Session.loadModel(from: directory)
    let graph = loaded.graph
    for i in 3..<6 {
      let (x, y) = batch(i)
      let expected = try session.run([model.loss], feeding: [model.ids: x, model.labels: y], targets: [model.train])[0]
      let resumed = try loaded.run(
        [graph.tensor(named: model.loss.name)!], feeding: [graph.tensor(named: "ids:0")!: x, graph.tensor(named: "labels:0")!: y],
        targets: [graph.operation(named: model.train.name)!])[0]
      #expect(resumed.isBitIdentical(to: expected), "step \(i)")
    }
  }
}
