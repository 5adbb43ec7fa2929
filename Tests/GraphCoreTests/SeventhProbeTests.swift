import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport
import Training

/// x³ with its own gradient 3x²·g, built from graph operations (so it differentiates again).
private struct Cube: CustomOperation {
  var typeName: String { "Cube" }
  func forward(_ inputs: [NDArray]) throws -> [NDArray] {
    let x = inputs[0]
    return [NDArray(converting: x.doubles.map { $0 * $0 * $0 }, shape: x.shape, dtype: x.dtype)]
  }
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?] {
    [try upstream[0].map { try $0 * 3 * square(inputs[0]) }]
  }
}

/// A custom operation whose forward returns float64 for a float32 input.
private struct WrongDtype: CustomOperation {
  var typeName: String { "WrongDtype" }
  func forward(_ inputs: [NDArray]) throws -> [NDArray] { [inputs[0].converted(to: .float64)] }
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?] { [upstream[0]] }
}

/// The seventh probe (RELIABILITY.md, "Features combined: the seventh probe"): GraphDef import,
/// custom operations and checkpoints combined with training, eager code and `compile`.
@Suite struct SeventhProbeTests {
  private func temporaryPath(_ suffix: String = "") -> String {
    NSTemporaryDirectory() + "backprop-probe7-\(UUID().uuidString)\(suffix)"
  }

  /// A small CNN with batch normalization trained by Adam: its inputs, loss, phase and step.
  private func buildModel(_ g: Graph) throws -> (x: Tensor, y: Tensor, loss: Tensor, phase: TrainingPhase, train: GraphCore.Operation) {
    let x = g.placeholder(.float32, shape: [nil, 4, 4, 1], name: "x")
    let y = g.placeholder(.int32, shape: [nil], name: "y")
    let phase = try TrainingPhase(graph: g)
    let model = Sequential([
      try Conv2D(graph: g, inputChannels: 1, filters: 2, kernelSize: [3, 3], padding: .same, seed: 1),
      try BatchNorm(graph: g, channels: 2, phase: phase), Activation.relu, try MaxPool2D(), Flatten(),
      try Dense(graph: g, inputSize: 8, units: 3, seed: 2),
    ])
    let loss = try sparseSoftmaxCrossEntropy(logits: model(x), labels: y)
    return (x, y, loss, phase, try AdamOptimizer(learningRate: 0.01).minimize(loss))
  }

  private func batch() -> (NDArray, NDArray) {
    var rng = SeededGenerator(seed: 3)
    return (
      NDArray((0..<32).map { _ in Float(rng.normal(mean: 0, standardDeviation: 1)) }, shape: [2, 4, 4, 1]),
      NDArray([Int32(1), 2], shape: [2])
    )
  }

  /// A model directory loaded back (`Session.loadModel`) made every variable trainable (Adam's
  /// moments and step counter, batch normalization's moving averages) and lost the registered
  /// updates: a new optimizer's `minimize` on it (fine-tuning) left the moving averages frozen,
  /// and a penalty on `trainableVariables` reached the optimizer's slots, silently. TF1 keeps
  /// both in the MetaGraphDef's collections; the GraphDef now carries them as attributes.
  @Test func importedGraphsKeepTrainableVariablesAndUpdates() throws {
    let g = Graph()
    let m = try buildModel(g)
    let s = Session(graph: g)
    try s.initializeVariables()
    let dir = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try s.saveModel(to: dir)
    let loaded = try Session.loadModel(from: dir).session
    let h = loaded.graph
    #expect(h.trainableVariables.map(\.name) == g.trainableVariables.map(\.name))
    #expect(Set(h.variables.map(\.name)) == Set(g.variables.map(\.name)))
    #expect(h.updateOperations.map(\.name) == g.updateOperations.map(\.name))

    // Fine-tuning with a new optimizer runs batch normalization's updates.
    let loss = try #require(h.tensor(named: m.loss.name))
    let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(loss)
    let movingMean = try #require(h.tensor(named: "batch_normalization/moving_mean:0"))
    let before = try loaded.value(of: movingMean)
    let (xs, ys) = batch()
    let feeds: [Tensor: NDArray] = [
      try #require(h.tensor(named: m.x.name)): xs, try #require(h.tensor(named: m.y.name)): ys,
      try #require(h.tensor(named: m.phase.flag.name)): NDArray(scalar: true),
    ]
    try loaded.run([], feeding: feeds, targets: [train])
    #expect(!(try loaded.value(of: movingMean)).isBitIdentical(to: before))
    // The exported graph of a graph without updates or frozen variables is unchanged: no mark.
    let plain = Graph()
    _ = try plain.variable(NDArray([Float(1)]), name: "v")
    #expect(!String(decoding: try plain.graphDef(), as: UTF8.self).contains("_backprop"))
  }

  /// What held: custom operations eagerly, on tapes (second derivatives), compiled, through a
  /// compiled function on a tape; exports name them; a forward that breaks its declared dtype is
  /// an error eagerly too.
  @Test func customOperationsAcrossModes() throws {
    let (value, grads) = try valueWithGradient(at: [NDArray([Float(2)])]) { p in try apply(Cube(), to: [p[0]])[0] }
    #expect(value.doubles == [8] && grads[0].doubles == [12])
    let tape = GradientTape()
    let t = tape.watch(NDArray([2.0]))
    let y = try tape.record { try apply(Cube(), to: [t])[0] }
    let dy = try tape.gradient(of: y, withRespectTo: [t])[0]
    #expect(try dy.value.doubles == [12] && tape.gradient(of: dy, withRespectTo: [t])[0].value.doubles == [12])
    let f = compile { i in try apply(Cube(), to: [i[0]]) }
    #expect(try f([NDArray([Float(3)])])[0].doubles == [27])
    let outer = GradientTape()
    let u = outer.watch(NDArray([Float(2)]))
    let z = try outer.record { try f([u])[0] }
    #expect(try outer.gradient(of: z, withRespectTo: [u])[0].value.doubles == [12])
    let trace = try #require(f.graph(for: [NDArray([Float(3)])]))
    expectError(["Cube"]) { _ = try trace.graphDef() }
    expectError(["WrongDtype.forward returned float64 [1] for output 0, declared float32 [1]"]) {
      _ = try apply(WrongDtype(), to: [Tensor(NDArray([Float(1)]))])
    }
  }

  /// What held: a model saved, loaded and trained three times over (`saveModel`, `loadModel`, its
  /// own training operation) ends with the variables of one uninterrupted session, bit for bit;
  /// an eager float64 layer's checkpoint restores into a session of the same layer, and a
  /// float32 one refuses it naming both dtypes.
  @Test func saveLoadCyclesAndEagerCheckpoints() throws {
    let (xs, ys) = batch()
    let g = Graph()
    let m = try buildModel(g)
    let s = Session(graph: g)
    try s.initializeVariables()
    for _ in 0..<6 { try s.run([], feeding: [m.x: xs, m.y: ys, m.phase.flag: NDArray(scalar: true)], targets: [m.train]) }

    let g0 = Graph()
    let m0 = try buildModel(g0)
    var session = Session(graph: g0)
    try session.initializeVariables()
    var initializers: [Int] = []
    for _ in 0..<3 {
      let h = session.graph
      let feeds: [Tensor: NDArray] = [
        try #require(h.tensor(named: m0.x.name)): xs, try #require(h.tensor(named: m0.y.name)): ys,
        try #require(h.tensor(named: m0.phase.flag.name)): NDArray(scalar: true),
      ]
      for _ in 0..<2 { try session.run([], feeding: feeds, targets: [try #require(h.operation(named: m0.train.name))]) }
      let dir = temporaryPath()
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try session.saveModel(to: dir)
      session = try Session.loadModel(from: dir).session
      initializers.append(session.graph.nodes.filter { $0.primitive is NoOp && $0.name.hasPrefix("init") }.count)
    }
    // One initializer in each round's graph (one more per round before).
    #expect(initializers == [1, 1, 1])
    for v in g.variables {
      let resumed = try session.value(of: try #require(session.graph.tensor(named: v.name)))
      #expect(resumed.isBitIdentical(to: try s.value(of: v)), "\(v.name)")
    }

    let eager = Graph.eager()
    let dense = try Dense(graph: eager, inputSize: 3, units: 2, dtype: .float64, seed: 4)
    let file = temporaryPath(".safetensors")
    defer { try? FileManager.default.removeItem(atPath: file) }
    try Checkpoint.save(variablesOf: eager, to: file)
    let g64 = Graph()
    _ = try Dense(graph: g64, inputSize: 3, units: 2, dtype: .float64, seed: 9)
    let s64 = Session(graph: g64)
    try s64.initializeVariables()
    try Checkpoint.restore(session: s64, from: file)
    #expect(try s64.value(of: g64.trainableVariables[0]).isBitIdentical(to: dense.kernel.value))
    let g32 = Graph()
    _ = try Dense(graph: g32, inputSize: 3, units: 2, seed: 9)
    let s32 = Session(graph: g32)
    try s32.initializeVariables()
    expectError(["dense/kernel is float32 [3, 2] in the graph but float64 [3, 2] in the file"]) {
      try Checkpoint.restore(session: s32, from: file)
    }
  }

  /// `Session.initializeVariables()` added an initializer (an `Assign` per variable and a
  /// group) to the graph, and a plan to the session, at every call: starting over for each trial
  /// of a search grew both without bound. The initializer is now reused until a variable is
  /// added, and initializing again still restores every initial value.
  @Test func initializingAgainAddsNoOperations() throws {
    let g = Graph()
    let m = try buildModel(g)
    let s = Session(graph: g)
    try s.initializeVariables()
    let size = g.nodes.count
    let (xs, ys) = batch()
    try s.run([], feeding: [m.x: xs, m.y: ys, m.phase.flag: NDArray(scalar: true)], targets: [m.train])
    for _ in 0..<3 { try s.initializeVariables() }
    #expect(g.nodes.count == size)
    // The values are those of a new initializer per call (the random initial values drawn
    // again, as TF1's initializer run again; the others restored).
    let other = Graph()
    let n = try buildModel(other)
    let t = Session(graph: other)
    try t.run(other.variablesInitializer())
    try t.run([], feeding: [n.x: xs, n.y: ys, n.phase.flag: NDArray(scalar: true)], targets: [n.train])
    for _ in 0..<3 { try t.run(other.variablesInitializer()) }
    for (v, w) in zip(g.variables, other.variables) { #expect(try s.value(of: v).isBitIdentical(to: t.value(of: w)), "\(v.name)") }
    // A variable added later gets an initializer that covers it (and the others).
    let extra = try g.variable(NDArray([Float(7)]), name: "extra")
    try s.initializeVariables()
    #expect(try s.value(of: extra).doubles == [7] && g.nodes.count > size)
  }
}
