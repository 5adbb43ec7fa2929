import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

@Suite struct ConvergenceTests {
  /// A 2-8-1 network (tanh, then a logit) with sigmoid cross-entropy and Adam learns XOR.
  @Test(arguments: [1, 2, 3] as [UInt64])
  func twoLayerNetworkLearnsXORWithAdam(seed: UInt64) throws {
    let graph = Graph()
    let x = graph.constant(NDArray([0.0, 0, 0, 1, 1, 0, 1, 1], shape: [4, 2]), name: "x")
    let labels = graph.constant(NDArray([0.0, 1, 1, 0], shape: [4, 1]), name: "labels")
    let model = Sequential([
      try Dense(graph: graph, inputSize: 2, units: 8, activation: .tanh, dtype: .float64, seed: seed),
      try Dense(graph: graph, inputSize: 8, units: 1, dtype: .float64, seed: seed &+ 100),
    ])
    let logits = try model(x)
    let loss = try mean(sigmoidCrossEntropyWithLogits(logits: logits, labels: labels))
    let train = try AdamOptimizer(learningRate: 0.05).minimize(loss, variables: model.variables)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let initialLoss = try session.run(loss).scalarValue
    for _ in 0..<300 { try session.run(train) }
    let values = try session.run([loss, logits])
    let finalLoss = values[0].scalarValue
    #expect(finalLoss < 0.02, "loss \(initialLoss) → \(finalLoss)")
    // Every point on the right side of the decision boundary (logit 0 ⇔ probability 1/2).
    #expect(values[1].doubles.map { $0 > 0 } == [false, true, true, false], "logits \(values[1].doubles)")
  }

  /// `y = 2x + 1` from 20 points: every optimizer (and a schedule and clipping) finds w = 2, b = 1.
  @Test(arguments: [
    "gradientDescent", "momentum", "nesterov", "adagrad", "rmsprop", "rmspropCentered", "adam", "adamW",
    "exponentialDecay", "clipped",
  ])
  func linearRegressionConverges(_ which: String) throws {
    let graph = Graph()
    let xs = (0..<20).map { -1 + 2 * Double($0) / 19 }
    let x = graph.constant(NDArray(xs, shape: [20, 1]), name: "x")
    let y = graph.constant(NDArray(xs.map { 2 * $0 + 1 }, shape: [20, 1]), name: "y")
    let layer = try Dense(graph: graph, inputSize: 1, units: 1, kernelInitializer: .zeros, dtype: .float64, seed: 0)
    let loss = try mean(square(layer(x) - y))
    let optimizer: any Optimizer
    var steps = 300
    var clip: Double?
    switch which {
    case "gradientDescent": optimizer = try GradientDescentOptimizer(learningRate: 0.3)
    case "momentum": optimizer = try MomentumOptimizer(learningRate: 0.05, momentum: 0.9)
    case "nesterov": optimizer = try MomentumOptimizer(learningRate: 0.05, momentum: 0.9, useNesterov: true)
    case "adagrad": optimizer = try AdagradOptimizer(learningRate: 0.5)
    case "rmsprop":
      optimizer = try RMSPropOptimizer(learningRate: .schedule(.exponentialDecay(initial: 0.05, decaySteps: 150, decayRate: 0.1)))
      steps = 400
    case "rmspropCentered":
      optimizer = try RMSPropOptimizer(
        learningRate: .schedule(.exponentialDecay(initial: 0.05, decaySteps: 100, decayRate: 0.1)), momentum: 0.5, epsilon: 1e-6,
        centered: true)
    case "adam":
      optimizer = try AdamOptimizer(learningRate: .schedule(.cosineDecay(initial: 0.1, decaySteps: 400, alpha: 0.001, warmupSteps: 10)))
      steps = 410
    case "adamW":
      // Decoupled decay shrinks w and b slightly (towards a fixed point a little below the fit).
      optimizer = try AdamWOptimizer(
        learningRate: .schedule(.cosineDecay(initial: 0.1, decaySteps: 400, alpha: 0.001)), weightDecay: 1e-4)
      steps = 400
    case "exponentialDecay":
      optimizer = try GradientDescentOptimizer(learningRate: .schedule(.exponentialDecay(initial: 0.5, decaySteps: 100, decayRate: 0.5)))
    default:
      optimizer = try GradientDescentOptimizer(learningRate: 0.3)
      clip = 0.5
      steps = 400
    }
    var pairs = try optimizer.computeGradients(loss)
    if let clip { pairs = try clipByGlobalNorm(pairs, clipNorm: clip).0 }
    let train = try optimizer.applyGradients(pairs, name: "train", location: SourceLocation(#fileID, #line))
    let session = Session(graph: graph)
    try session.initializeVariables()
    for _ in 0..<steps { try session.run(train) }
    let w = try session.value(of: layer.kernel).scalarValue
    let b = try session.value(of: try #require(layer.bias)).scalarValue
    let finalLoss = try session.run(loss).scalarValue
    #expect(Swift.abs(w - 2) < 1e-2 && Swift.abs(b - 1) < 1e-2, "\(which): w = \(w), b = \(b), loss \(finalLoss)")
    #expect(finalLoss < 1e-4, "\(which): loss \(finalLoss)")
  }
}
