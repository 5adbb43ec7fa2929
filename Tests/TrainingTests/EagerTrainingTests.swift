import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Optimizers and layers on eager values: the same steps as the graph, bit for bit.
@Suite struct EagerTrainingTests {
  /// A batch of `n` rows of 4 features and one-hot labels over 3 classes, from `seed`.
  private func batch(_ n: Int, seed: UInt64) -> (NDArray, NDArray) {
    var g = SeededGenerator(seed: seed)
    let x = (0..<(n * 4)).map { _ in Float(g.normal()) }
    var y = [Float](repeating: 0, count: n * 3)
    for i in 0..<n { y[i * 3 + g.choice(3)] = 1 }
    return (NDArray(x, shape: [n, 4]), NDArray(y, shape: [n, 3]))
  }

  private func model(_ graph: Graph) throws -> Sequential {
    Sequential([
      try Dense(graph: graph, inputSize: 4, units: 8, activation: .tanh, seed: 11),
      try Dense(graph: graph, inputSize: 8, units: 3, seed: 12),
    ])
  }

  @Test func adamOnEagerLayersEqualsTheGraphBitForBit() throws {
    let steps = 6
    // The graph: placeholders, minimize, a session.
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 4], name: "x")
    let y = graph.placeholder(.float32, shape: [nil, 3], name: "y")
    let net = try model(graph)
    let loss = try softmaxCrossEntropy(logits: net(x), labels: y)
    let train = try AdamOptimizer(learningRate: 0.05).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    var graphLosses: [NDArray] = []
    for step in 0..<steps {
      let (bx, by) = batch(5, seed: UInt64(step))
      let out = try session.run([loss], feeding: [x: bx, y: by], targets: [train])
      graphLosses.append(out[0])
    }
    // Eager: the same layers in an eager graph, a tape per step, the same optimizer.
    let parameters = Graph.eager()
    let eagerNet = try model(parameters)
    let optimizer = EagerOptimizer(try AdamOptimizer(learningRate: 0.05))
    for step in 0..<steps {
      let (bx, by) = batch(5, seed: UInt64(step))
      let tape = GradientTape()
      let l = try tape.record { try softmaxCrossEntropy(logits: eagerNet(Tensor(bx)), labels: Tensor(by)) }
      let grads = try tape.gradient(of: l, withRespectTo: eagerNet.variables)
      try optimizer.update(eagerNet.variables, along: grads)
      let value = try l.value
      #expect(value.isBitIdentical(to: graphLosses[step]), "step \(step): eager \(value) vs graph \(graphLosses[step])")
    }
    for (v, e) in zip(net.variables, eagerNet.variables) {
      #expect(try session.value(of: v).isBitIdentical(to: e.value), "\(v.name) differs")
    }
    #expect(parameters.variables.count == 4)
  }

  @Test func gradientDescentOnArrays() throws {
    // The notebook's regression: x·A = 10, A from 0; d/dA (xA − 10)² = 2x(xA − 10).
    var parameters = [NDArray([Float(0)])]
    let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: 0.02))
    var expected: Float = 0
    for x: Float in [1, 0.9, 1.1, 1.05] {
      let (_, grads) = try valueWithGradient(at: parameters) { p in try square(Tensor(NDArray([x])) * p[0] - 10) }
      try optimizer.update(&parameters, along: grads)
      expected = expected - Float(0.02) * (2 * x * (x * expected - 10))
    }
    #expect(abs(parameters[0].scalars(as: Float.self)[0] - expected) < 1e-5)
    var wrong = [NDArray([Float(0), 1])]
    #expect(throws: GraphError.self) { try optimizer.update(&wrong, along: [NDArray([Float(0), 1])]) }
  }
}
