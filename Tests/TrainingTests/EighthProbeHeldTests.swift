import ArrayCore
import Foundation
import GraphCore
import Synchronization
import Testing
import Training

/// What held in the eighth probe (session 26), kept as guards.
@Suite struct EighthProbeHeldTests {
  /// Every loss with every reduction, against values worked by hand.
  @Test func lossReductionsByHand() throws {
    let p = Tensor(try NDArray(validating: [0.5, -1.0, 2.0, 3.0], shape: [2, 2]))
    let e = Tensor(try NDArray(validating: [1.0, 1.0, 0.0, 3.5], shape: [2, 2]))
    // Residuals -0.5, -2, 2, -0.5.
    #expect(try meanSquaredError(predicted: p, expected: e, reduction: .none).value.doubles == [0.25, 4, 4, 0.25])
    #expect(try meanSquaredError(predicted: p, expected: e, reduction: .sum).value.doubles == [8.5])
    #expect(try meanAbsoluteError(predicted: p, expected: e).value.doubles == [1.25])
    #expect(try huber(predicted: p, expected: e, delta: 1, reduction: .sum).value.doubles == [0.125 + 1.5 + 1.5 + 0.125])
    let k = Tensor(NDArray([Int32(1), 0]))
    let perExample = try sparseSoftmaxCrossEntropy(logits: p, labels: k, reduction: .none).value.doubles
    let byHand = [Foundation.log(Foundation.exp(0.5) + Foundation.exp(-1.0)) + 1, Foundation.log(Foundation.exp(2.0) + Foundation.exp(3.0)) - 2]
    #expect(zip(perExample, byHand).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
    let mean = try sparseSoftmaxCrossEntropy(logits: p, labels: k).value.doubles[0]
    #expect(Swift.abs(mean - (byHand[0] + byHand[1]) / 2) < 1e-12)
    // An empty batch: the sum is 0 and the mean NaN, as TensorFlow's.
    let none = Tensor(try NDArray(validating: [Double](), shape: [0, 2]))
    let noLabels = Tensor(try NDArray(validating: [Int32](), shape: [0]))
    #expect(try sparseSoftmaxCrossEntropy(logits: none, labels: noLabels, reduction: .sum).value.doubles == [0])
    #expect(try sparseSoftmaxCrossEntropy(logits: none, labels: noLabels).value.doubles[0].isNaN)
  }

  /// The rate each schedule applies at each step of a session equals `value(atStep:)`.
  @Test func schedulesApplyTheirDocumentedRates() throws {
    for schedule in [
      try LearningRateSchedule.exponentialDecay(initial: 0.1, decaySteps: 3, decayRate: 0.5, staircase: true),
      try .piecewiseConstant(boundaries: [2, 4], values: [0.1, 0.05, 0.01]),
      try .cosineDecay(initial: 0.1, decaySteps: 4, alpha: 0.1, warmupSteps: 2, warmupStart: 0.01),
    ] {
      let graph = Graph()
      let w = try graph.variable(NDArray([0.0]), name: "w")
      let train = try GradientDescentOptimizer(learningRate: .schedule(schedule)).minimize(sum(w))  // ∂/∂w = 1
      let session = Session(graph: graph)
      try session.initializeVariables()
      var previous = 0.0
      for step in 0..<8 {
        try session.run(train)
        let now = try session.value(of: w).doubles[0]
        #expect(Swift.abs((previous - now) - schedule.value(atStep: Double(step))) < 1e-12, "\(schedule) step \(step)")
        previous = now
      }
    }
  }

  /// A model of every layer kind, in float64, differentiated eagerly: the input's and the
  /// parameters' gradients against central differences.
  @Test func layerGradientsMatchFiniteDifferences() throws {
    let parameters = Graph.eager()
    let phase = try TrainingPhase(graph: parameters, default: true)
    let model = Sequential([
      try Conv2D(
        graph: parameters, inputChannels: 2, filters: 4, kernelSize: [3, 3], strides: [2, 2], padding: .same, groups: 2,
        activation: .tanh, dtype: .float64, seed: 1),
      try BatchNorm(graph: parameters, channels: 4, phase: phase, dtype: .float64),
      try AvgPool2D(window: [2, 2], padding: .same), Flatten(),
      try Dense(graph: parameters, inputSize: 16, units: 3, activation: .sigmoid, dtype: .float64, seed: 2),
      try LayerNorm(graph: parameters, features: 3, dtype: .float64),
    ])
    var generator = SeededGenerator(seed: 5)
    let x = NDArray(converting: (0..<100).map { _ in generator.normal(mean: 0, standardDeviation: 1) }, shape: [2, 5, 5, 2], dtype: .float64)
    let weights = Tensor(NDArray(converting: (0..<6).map { _ in generator.normal(mean: 0, standardDeviation: 1) }, shape: [2, 3], dtype: .float64))
    func f(_ input: NDArray) throws -> Double { try sum(model(Tensor(input)) * weights).value.doubles[0] }
    let (_, gradient) = try valueWithGradient(at: [x]) { q in try sum(model(q[0]) * weights) }
    var values = x.doubles
    for i in stride(from: 0, to: values.count, by: 7) {
      let (h, original) = (1e-5, values[i])
      values[i] = original + h
      let up = try f(NDArray(converting: values, shape: x.shape, dtype: .float64))
      values[i] = original - h
      let down = try f(NDArray(converting: values, shape: x.shape, dtype: .float64))
      values[i] = original
      #expect(Swift.abs((up - down) / (2 * h) - gradient[0].doubles[i]) < 1e-8)
    }
    let tape = GradientTape()
    let loss = try tape.record { try sum(model(Tensor(x)) * weights) }
    for (v, g) in zip(parameters.trainableVariables, try tape.gradient(of: loss, withRespectTo: parameters.trainableVariables)) {
      let original = try v.value
      var w = original.doubles
      for i in stride(from: 0, to: w.count, by: 3) {
        let (h, o) = (1e-5, w[i])
        w[i] = o + h
        try v.assign(NDArray(converting: w, shape: original.shape, dtype: .float64))
        let up = try f(x)
        w[i] = o - h
        try v.assign(NDArray(converting: w, shape: original.shape, dtype: .float64))
        let down = try f(x)
        w[i] = o
        try v.assign(original)
        #expect(Swift.abs((up - down) / (2 * h) - (try g.value.doubles[i])) < 1e-8, "\(v.name)")
      }
    }
  }

  /// An eager model (convolution, batch normalization in inference, dropout, dense, layer
  /// normalization) called from 16 threads at once, and differentiated on a tape per thread:
  /// the serial values and gradients, bit for bit.
  @Test func eagerModelsServeThreads() throws {
    let parameters = Graph.eager()
    let phase = try TrainingPhase(graph: parameters, default: false)
    let model = Sequential([
      try Conv2D(graph: parameters, inputChannels: 1, filters: 2, kernelSize: [3, 3], padding: .same, seed: 1),
      try BatchNorm(graph: parameters, channels: 2, phase: phase), Activation.relu, Flatten(),
      try Dropout(rate: 0.5, seed: 2, phase: phase), try Dense(graph: parameters, inputSize: 32, units: 3, seed: 3),
      try LayerNorm(graph: parameters, features: 3),
    ])
    var generator = SeededGenerator(seed: 9)
    let inputs = (0..<16).map { _ in
      NDArray(converting: (0..<32).map { _ in generator.normal(mean: 0, standardDeviation: 1) }, shape: [2, 4, 4, 1], dtype: .float32)
    }
    func run(_ x: NDArray) throws -> [NDArray] {
      let tape = GradientTape()
      let y = try tape.record { try model(Tensor(x)) }
      return [try y.value] + (try tape.gradient(of: sum(y), withRespectTo: parameters.trainableVariables).map { try $0.value })
    }
    let serial = try inputs.map(run)
    nonisolated(unsafe) let shared = run
    let results = Mutex<[Int: [NDArray]]>([:])
    DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
      let r = try? shared(inputs[i])
      results.withLock { $0[i] = r }
    }
    for i in inputs.indices { #expect(results.withLock { $0[i] } == serial[i], "input \(i)") }
  }
}
