import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Optimizers and layers on eager values: the same steps as the graph, bit for bit.
/// A model's layers inside `compile` (TF2's `tf.function` around a Keras model): `Dense`,
/// `Conv2D` and `LayerNorm` made in `Graph.eager()` refused a trace's input as "another
/// graph's", and a `GradientTape` inside the function refused the trace's loss. Their
/// variables are now captured by reference, the tape's gradients are the trace's own, and a
/// training loop of compiled gradients and an eager optimizer equals the eager loop bit for bit.
@Suite struct CompiledLayerTests {
  @Test func layersAndTapesInsideCompile() throws {
    let p = Graph.eager()
    let dense = try Dense(graph: p, inputSize: 3, units: 2, activation: .relu, seed: 1, name: "d")
    let conv = try Conv2D(graph: p, inputChannels: 1, filters: 2, kernelSize: [2, 2], seed: 3, name: "c")
    let norm = try LayerNorm(graph: p, features: 2, name: "ln")
    let x = NDArray([Float(1), -2, 3, 4, 5, -6], shape: [2, 3])
    let forward = compile { i in [try norm(dense(i[0]))] }
    #expect(try forward([x])[0].isBitIdentical(to: norm(dense(Tensor(x))).value))
    let image = NDArray((0..<18).map { Float($0) / 7 }, shape: [2, 3, 3, 1])
    let convolve = compile { i in [try conv(i[0])] }
    #expect(try convolve([image])[0].isBitIdentical(to: conv(Tensor(image)).value))

    // A training loop: the compiled function returns the loss and the gradients, an eager Adam
    // applies them; against the same loop run eagerly, from the same initial values.
    let q = Graph.eager()
    let twin = try Dense(graph: q, inputSize: 3, units: 2, activation: .relu, seed: 1, name: "d")
    let gradients = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(square(dense(i[0]))) }
      return [loss] + (try tape.gradient(of: loss, withRespectTo: dense.variables))
    }
    let compiledAdam = EagerOptimizer(try AdamOptimizer(learningRate: 0.1))
    let eagerAdam = EagerOptimizer(try AdamOptimizer(learningRate: 0.1))
    for _ in 0..<3 {
      let out = try gradients([x])
      try compiledAdam.update(dense.variables, along: out.dropFirst().map { Tensor($0) })
      let tape = GradientTape()
      let loss = try tape.record { try sum(square(twin(Tensor(x)))) }
      #expect(out[0].isBitIdentical(to: try loss.value))
      try eagerAdam.update(twin.variables, along: try tape.gradient(of: loss, withRespectTo: twin.variables))
    }
    for (a, b) in zip(dense.variables, twin.variables) { #expect(try a.value.isBitIdentical(to: b.value)) }
    #expect(gradients.traceCount == 1)

    // What a trace cannot do is refused, saying what to do instead.
    let bn = try BatchNorm(graph: p, channels: 2, phase: TrainingPhase(graph: p), name: "bn")
    expectError(["[BatchNorm]", "a compile trace cannot follow its mode"]) { _ = try compile { i in [try bn(dense(i[0]))] }([x]) }
    let updating = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(dense(i[0])) }
      try compiledAdam.update(dense.variables, along: try tape.gradient(of: loss, withRespectTo: dense.variables))
      return [loss]
    }
    expectError(["[EagerOptimizer.update]", "return the gradients from the compiled function"]) { _ = try updating([x]) }
    // A graph run by a Session cannot read an eager variable: refused when built (it became a
    // placeholder that no run fed).
    let g = Graph()
    let input = g.placeholder(.float32, shape: [nil, 2], name: "input")
    expectError(["is an eager variable, which a graph run by a Session cannot read"]) { _ = try input * dense.variables[1] }
  }
}

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

  @Test func clippingAndPenaltiesTakeEagerValuesOfAnyEagerGraph() throws {
    // Eager values of different eager graphs (arrays, a layer's variables, a tape's values) were
    // refused as tensors "of another graph", though every builder combines them.
    let a = Tensor(NDArray([Float(3), 4]))
    let b = Tensor(NDArray([Float(0), 12]))
    let (clipped, norm) = try clipByGlobalNorm([a, b], clipNorm: 6.5)
    #expect(try norm.value == NDArray(scalar: Float(13)))
    #expect(try clipped[1].value == NDArray([Float(0), 6]))
    let v = try Graph.eager().variable(NDArray([Float(1), 2]), name: "penalized")
    #expect(try l2Penalty([v, a], scale: 2).value == NDArray(scalar: Float(30)))
    let (value, grads) = try valueWithGradient(at: [NDArray([Float(3), 4])]) { p in try l2Penalty([p[0], a, v], scale: 1) }
    #expect(value == NDArray(scalar: Float(27.5)) && grads[0] == NDArray([Float(3), 4]))
    #expect(throws: GraphError.self) { try l2Penalty([v, Graph().constant(NDArray([Float(1)]))], scale: 1) }
    #expect(throws: GraphError.self) { try clipByGlobalNorm([a, Graph().constant(NDArray([Float(1)]))], clipNorm: 1) }
  }

  @Test func anOptimizersSlotsBelongToTheVariablesOfItsFirstCall() throws {
    // Two layers' kernels of one shape: updating the second with the first's optimizer used
    // (and moved) the first's Adam moments, without a word; so did the same variables swapped.
    let graph = Graph.eager()
    let a = try graph.variable(NDArray([Float(1), 2]), name: "slots_a")
    let b = try graph.variable(NDArray([Float(3), 4]), name: "slots_b")
    let optimizer = EagerOptimizer(try AdamOptimizer(learningRate: 0.1))
    let g = Tensor(NDArray([Float(1), 1]))
    try optimizer.update([a], along: [g])
    #expect { try optimizer.update([b], along: [g]) } throws: {
      "\($0)".contains("[EagerOptimizer.update]") && "\($0)".contains("slots_a") && "\($0)".contains("slots_b")
    }
    #expect(try b.value == NDArray([Float(3), 4]))
    try optimizer.update([a], along: [g])
    let pair = EagerOptimizer(try AdamOptimizer(learningRate: 0.1))
    try pair.update([a, b], along: [g, g])
    #expect(throws: GraphError.self) { try pair.update([b, a], along: [g, g]) }
    try pair.update([a, b], along: [g, g])
  }

  @Test func convolutionalLayersEagerlyEqualTheGraph() throws {
    // Conv2D (SAME), MaxPool2D, LayerNorm, Flatten, Dense: three Momentum steps on 4 images.
    func model(_ graph: Graph) throws -> Sequential {
      Sequential([
        try Conv2D(graph: graph, inputChannels: 1, filters: 3, kernelSize: [3, 3], padding: .same, activation: .relu, seed: 5),
        try MaxPool2D(window: [2, 2]),
        Flatten(),
        try LayerNorm(graph: graph, features: 12),
        try Dense(graph: graph, inputSize: 12, units: 3, seed: 6),
      ])
    }
    var g = SeededGenerator(seed: 9)
    let images = (0..<3).map { _ in NDArray((0..<(4 * 16)).map { _ in Float(g.normal()) }, shape: [4, 4, 4, 1]) }
    let labels = (0..<3).map { _ in NDArray((0..<4).map { _ in Int32(g.choice(3)) }, shape: [4]) }
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 4, 4, 1])
    let y = graph.placeholder(.int32, shape: [nil])
    let net = try model(graph)
    let loss = try sparseSoftmaxCrossEntropy(logits: net(x), labels: y)
    let train = try MomentumOptimizer(learningRate: 0.1, momentum: 0.9).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let eagerNet = try model(Graph.eager())
    let optimizer = EagerOptimizer(try MomentumOptimizer(learningRate: 0.1, momentum: 0.9))
    for (bx, by) in zip(images, labels) {
      let graphLoss = try session.run([loss], feeding: [x: bx, y: by], targets: [train])[0]
      let tape = GradientTape()
      let eagerLoss = try tape.record { try sparseSoftmaxCrossEntropy(logits: eagerNet(Tensor(bx)), labels: Tensor(by)) }
      try optimizer.update(eagerNet.variables, along: try tape.gradient(of: eagerLoss, withRespectTo: eagerNet.variables))
      let value = try eagerLoss.value
      #expect(value.isBitIdentical(to: graphLoss), "eager \(value) vs graph \(graphLoss)")
    }
    for (v, e) in zip(net.variables, eagerNet.variables) {
      #expect(try session.value(of: v).isBitIdentical(to: e.value), "\(v.name) differs")
    }
  }

  @Test func batchNormAndDropoutTrainEagerlyAsTheGraph() throws {
    // Conv2D, BatchNorm, ReLU, Dropout, Flatten, Dense: three Momentum steps in training mode,
    // then inference. Values, gradients, moving averages and dropout masks equal the graph's.
    func model(_ graph: Graph, _ phase: TrainingPhase) throws -> Sequential {
      Sequential([
        try Conv2D(graph: graph, inputChannels: 1, filters: 3, kernelSize: [3, 3], padding: .same, seed: 5),
        try BatchNorm(graph: graph, channels: 3, phase: phase, momentum: 0.9),
        Activation.relu,
        try Dropout(rate: 0.25, seed: 7, phase: phase),
        Flatten(),
        try Dense(graph: graph, inputSize: 48, units: 3, seed: 6),
      ])
    }
    var g = SeededGenerator(seed: 9)
    let images = (0..<3).map { _ in NDArray((0..<(4 * 16)).map { _ in Float(g.normal()) }, shape: [4, 4, 4, 1]) }
    let labels = (0..<3).map { _ in NDArray((0..<4).map { _ in Int32(g.choice(3)) }, shape: [4]) }
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 4, 4, 1])
    let y = graph.placeholder(.int32, shape: [nil])
    let phase = try TrainingPhase(graph: graph)
    let net = try model(graph, phase)
    let logits = try net(x)
    let loss = try sparseSoftmaxCrossEntropy(logits: logits, labels: y)
    let train = try MomentumOptimizer(learningRate: 0.1, momentum: 0.9).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()

    let parameters = Graph.eager()
    let eagerPhase = try TrainingPhase(graph: parameters, default: true)
    let eagerNet = try model(parameters, eagerPhase)
    let optimizer = EagerOptimizer(try MomentumOptimizer(learningRate: 0.1, momentum: 0.9))
    for (bx, by) in zip(images, labels) {
      let graphLoss = try session.run(
        [loss], feeding: [x: bx, y: by].merging(phase.feed(true)) { a, _ in a }, targets: [train])[0]
      let tape = GradientTape()
      let eagerLoss = try tape.record { try sparseSoftmaxCrossEntropy(logits: eagerNet(Tensor(bx)), labels: Tensor(by)) }
      let trainable = parameters.trainableVariables
      try optimizer.update(trainable, along: try tape.gradient(of: eagerLoss, withRespectTo: trainable))
      let value = try eagerLoss.value
      #expect(value.isBitIdentical(to: graphLoss), "eager \(value) vs graph \(graphLoss)")
    }
    // Every variable, the moving averages included, is the graph's.
    #expect(net.variables.count == eagerNet.variables.count)
    for (v, e) in zip(net.variables, eagerNet.variables) {
      #expect(try session.value(of: v).isBitIdentical(to: e.value), "\(v.name) differs")
    }
    let bn = try #require(eagerNet.layers[1] as? BatchNorm)
    #expect(try bn.movingMean.value.scalars(as: Float.self) != [0, 0, 0])
    // Inference: moving averages, no dropout; the same as the graph with the flag not fed.
    try eagerPhase.setTraining(false)
    #expect(!eagerPhase.isTraining)
    let before = try bn.movingMean.value
    let inferred = try eagerNet(Tensor(images[0])).value
    #expect(inferred.isBitIdentical(to: try session.run(logits, feeding: [x: images[0]])))
    #expect(try bn.movingMean.value.isBitIdentical(to: before))
    #expect(throws: GraphError.self) { try phase.setTraining(true) }
  }

  @Test func eagerDropoutIsSeededAndAdvances() throws {
    let phase = try TrainingPhase(graph: Graph.eager(), default: true)
    let x = Tensor(NDArray([Float](repeating: 1, count: 64), shape: [8, 8]))
    let a = try Dropout(rate: 0.5, seed: 3, phase: phase)
    let b = try Dropout(rate: 0.5, seed: 3, phase: phase)
    let a1 = try a(x).value, a2 = try a(x).value
    #expect(a1.isBitIdentical(to: try b(x).value))      // the same seed, the same first mask
    #expect(!a1.isBitIdentical(to: a2))                 // a new mask each call
    #expect(Set(a1.scalars(as: Float.self)) == [0, 2])  // inverted dropout: 0 or 1/(1 - rate)
    // The graph's dropout with the same seed draws the same masks in the same order.
    let graph = Graph()
    let flag = graph.constant(NDArray(scalar: true))
    let input = graph.placeholder(.float32, shape: [8, 8])
    let masked = try dropout(input, rate: 0.5, seed: 3, training: flag)
    let session = Session(graph: graph)
    let ones = NDArray([Float](repeating: 1, count: 64), shape: [8, 8])
    #expect(try session.run(masked, feeding: [input: ones]).isBitIdentical(to: a1))
    #expect(try session.run(masked, feeding: [input: ones]).isBitIdentical(to: a2))
    try phase.setTraining(false)
    #expect(try a(x).value.isBitIdentical(to: x.value))
  }
}
