import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// Features combined as a TensorFlow, PyTorch or JAX user combines them (RELIABILITY.md, "the
/// fifth probe"): these combinations held, and stay checked. Every optimizer with a
/// learning-rate schedule (and with gradient clipping) trained eagerly equals the graph bit for
/// bit in float32 and float64; layers made in an eager graph take the graph's names, so one
/// checkpoint restores either way; second derivatives through batch and layer normalization equal
/// the graph's; a compiled step with clipping equals eager code and its trace exports.
@Suite struct FifthProbeTests {
  private func batch(_ n: Int, seed: UInt64, dtype: DType = .float32) -> (NDArray, NDArray) {
    var g = SeededGenerator(seed: seed)
    let x = (0..<(n * 4)).map { _ in g.normal() }
    var y = [Double](repeating: 0, count: n * 3)
    for i in 0..<n { y[i * 3 + g.choice(3)] = 1 }
    return (NDArray(converting: x, shape: [n, 4], dtype: dtype), NDArray(converting: y, shape: [n, 3], dtype: dtype))
  }

  private func model(_ graph: Graph, dtype: DType = .float32) throws -> Sequential {
    Sequential([
      try Dense(graph: graph, inputSize: 4, units: 8, activation: .tanh, dtype: dtype, seed: 11),
      try LayerNorm(graph: graph, features: 8, dtype: dtype),
      try Dense(graph: graph, inputSize: 8, units: 3, dtype: dtype, seed: 12),
    ])
  }

  func compareOptimizer<O: Optimizer>(_ make: () throws -> O, dtype: DType = .float32, clip: Double? = nil) throws {
    let steps = 5
    let graph = Graph()
    let x = graph.placeholder(dtype, shape: [nil, 4], name: "x")
    let y = graph.placeholder(dtype, shape: [nil, 3], name: "y")
    let net = try model(graph, dtype: dtype)
    let loss = try softmaxCrossEntropy(logits: net(x), labels: y)
    let opt = try make()
    var pairs = try opt.computeGradients(loss)
    if let clip { pairs = try clipByGlobalNorm(pairs, clipNorm: clip).0 }
    let train = try opt.applyGradients(pairs, name: "train", location: SourceLocation(#fileID, #line))
    let session = Session(graph: graph)
    try session.initializeVariables()
    var graphLosses: [NDArray] = []
    for step in 0..<steps {
      let (bx, by) = batch(5, seed: UInt64(step), dtype: dtype)
      graphLosses.append(try session.run([loss], feeding: [x: bx, y: by], targets: [train])[0])
    }
    let parameters = Graph.eager()
    let eagerNet = try model(parameters, dtype: dtype)
    let optimizer = EagerOptimizer(try make())
    for step in 0..<steps {
      let (bx, by) = batch(5, seed: UInt64(step), dtype: dtype)
      let tape = GradientTape()
      let l = try tape.record { try softmaxCrossEntropy(logits: eagerNet(Tensor(bx)), labels: Tensor(by)) }
      var grads = try tape.gradient(of: l, withRespectTo: eagerNet.variables)
      if let clip { grads = try clipByGlobalNorm(grads, clipNorm: clip).0 }
      try optimizer.update(eagerNet.variables, along: grads)
      #expect(try l.value.isBitIdentical(to: graphLosses[step]), "\(O.self) step \(step)")
    }
    for (v, e) in zip(net.variables, eagerNet.variables) {
      #expect(try session.value(of: v).isBitIdentical(to: e.value), "\(O.self) \(dtype) \(v.name) differs")
    }
  }

  @Test func everyOptimizerWithSchedulesEagerEqualsGraph() throws {
    let decay = LearningRate.schedule(try .exponentialDecay(initial: 0.1, decaySteps: 2, decayRate: 0.5))
    let cosine = LearningRate.schedule(try .cosineDecay(initial: 0.1, decaySteps: 4, warmupSteps: 2))
    for dtype in [DType.float32, .float64] {
      try compareOptimizer({ try GradientDescentOptimizer(learningRate: decay) }, dtype: dtype)
      try compareOptimizer({ try MomentumOptimizer(learningRate: cosine, momentum: 0.9, useNesterov: true) }, dtype: dtype)
      try compareOptimizer({ try AdamOptimizer(learningRate: decay) }, dtype: dtype)
      try compareOptimizer({ try AdamWOptimizer(learningRate: cosine, weightDecay: 0.01) }, dtype: dtype)
      try compareOptimizer({ try RMSPropOptimizer(learningRate: decay, momentum: 0.5, centered: true) }, dtype: dtype)
      try compareOptimizer({ try AdagradOptimizer(learningRate: cosine) }, dtype: dtype)
      try compareOptimizer({ try AdamOptimizer(learningRate: decay) }, dtype: dtype, clip: 0.5)
    }
  }

  @Test func eagerNamesMatchGraphNames() throws {
    let dir = NSTemporaryDirectory() + "p5-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func build(_ g: Graph, _ phase: TrainingPhase) throws -> Sequential {
      Sequential([
        try Conv2D(graph: g, inputChannels: 1, filters: 2, kernelSize: [3, 3], padding: .same, seed: 5),
        try BatchNorm(graph: g, channels: 2, phase: phase),
        try Conv2D(graph: g, inputChannels: 2, filters: 2, kernelSize: [3, 3], padding: .same, seed: 6),
        try BatchNorm(graph: g, channels: 2, phase: phase),
        Flatten(),
        try Dense(graph: g, inputSize: 32, units: 4, seed: 7),
        try Dense(graph: g, inputSize: 4, units: 3, seed: 8),
        try Embedding(graph: g, vocabulary: 3, dimension: 2, seed: 9),
      ])
    }
    let e = Graph.eager()
    let ep = try TrainingPhase(graph: e, default: true)
    let eNet = try build(e, ep)
    let g = Graph()
    let gp = try TrainingPhase(graph: g)
    let gNet = try build(g, gp)
    #expect(e.variables.map(\.operation.name) == g.variables.map(\.operation.name))
    _ = (eNet, gNet)
    try Checkpoint.save(variablesOf: e, to: dir + "/e.safetensors")
    let s = Session(graph: g)
    try s.initializeVariables()
    _ = try Checkpoint.restore(session: s, from: dir + "/e.safetensors")
    try Checkpoint.save(session: s, to: dir + "/g.safetensors")
    _ = try Checkpoint.restore(variablesOf: e, from: dir + "/g.safetensors")
  }

  @Test func secondDerivativesThroughNormalizationEagerEqualsGraph() throws {
    // Gradient penalty: d/dw of |d loss / d x|^2, through BatchNorm (training) and LayerNorm.
    for dtype in [DType.float32, .float64] {
      func build(_ g: Graph, _ phase: TrainingPhase) throws -> Sequential {
        Sequential([
          try Dense(graph: g, inputSize: 4, units: 6, activation: .tanh, dtype: dtype, seed: 1),
          try BatchNorm(graph: g, channels: 6, phase: phase, dtype: dtype),
          try LayerNorm(graph: g, features: 6, dtype: dtype),
          try Dense(graph: g, inputSize: 6, units: 3, dtype: dtype, seed: 2),
        ])
      }
      let (bx, by) = batch(5, seed: 3, dtype: dtype)
      let g = Graph()
      let phase = try TrainingPhase(graph: g, default: true)
      let net = try build(g, phase)
      let x = g.placeholder(dtype, shape: [nil, 4])
      let loss = try softmaxCrossEntropy(logits: net(x), labels: g.constant(by))
      let gx = try gradients(of: loss, withRespectTo: [x])[0]!
      let penalty = try sum(square(gx))
      let gw = try gradients(of: penalty, withRespectTo: g.trainableVariables).map { $0! }
      let s = Session(graph: g)
      try s.initializeVariables()
      let graphValues = try s.run([penalty] + gw, feeding: [x: bx])

      let e = Graph.eager()
      let ep = try TrainingPhase(graph: e, default: true)
      let eNet = try build(e, ep)
      let tape = GradientTape()
      let xt = tape.watch(bx)
      let eloss = try tape.record { try softmaxCrossEntropy(logits: eNet(xt), labels: Tensor(by)) }
      let egx = try tape.gradient(of: eloss, withRespectTo: [xt])[0]
      let epenalty = try tape.record { try sum(square(egx)) }
      let egw = try tape.gradient(of: epenalty, withRespectTo: e.trainableVariables)
      #expect(try epenalty.value.isBitIdentical(to: graphValues[0]), "\(dtype) penalty")
      for (a, b) in zip(egw, graphValues.dropFirst()) {
        #expect(try a.value.isBitIdentical(to: b), "\(dtype) \(a.name)")
      }
    }
  }

  @Test func compiledTraceExportsAndImports() throws {
    let p = Graph.eager()
    let dense = try Dense(graph: p, inputSize: 3, units: 2, activation: .relu, seed: 1, name: "d")
    let f = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try meanSquaredError(predicted: dense(i[0]), expected: i[1]) }
      let (clipped, norm) = try clipByGlobalNorm(try tape.gradient(of: loss, withRespectTo: dense.variables), clipNorm: 0.1)
      return [loss, norm] + clipped
    }
    let x = NDArray([Float(1), -2, 3, 4, 5, -6], shape: [2, 3])
    let y = NDArray([Float(1), 0, 0, 1], shape: [2, 2])
    let out = try f([x, y])
    let tape = GradientTape()
    let loss = try tape.record { try meanSquaredError(predicted: dense(Tensor(x)), expected: Tensor(y)) }
    let (clipped, norm) = try clipByGlobalNorm(try tape.gradient(of: loss, withRespectTo: dense.variables), clipNorm: 0.1)
    let eager = try [loss.value, norm.value] + clipped.map { try $0.value }
    for (a, b) in zip(out, eager) { #expect(a.isBitIdentical(to: b)) }
    let traced = try #require(f.graph(for: [x, y]))
    let def = try traced.graphDef()
    let imported = try Graph(graphDef: def)
    let names = Set(imported.operations.map(\.name))
    #expect(traced.operations.allSatisfy { names.contains($0.name) })
  }
}
