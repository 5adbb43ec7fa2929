import ArrayCore
import GraphCore
import Testing
import Training

/// One optimizer configuration checked against the NumPy reference trajectory produced by
/// Scripts/reference/optimizers.py (see OptimizerReferenceValues.swift).
struct ReferenceCase: Sendable, CustomTestStringConvertible {
  let name: String
  let expected: OptimizerReference.Trajectory
  let clipNorm: Double?
  let makeOptimizer: @Sendable () throws -> any Optimizer
  var testDescription: String { name }
}

/// The reference problem, built as the script describes it, in Double:
/// `loss = Σ (w ⊙ x - y)² + Σ (M·u - z)²`; runs 10 steps and returns the variables after each.
func runReferenceProblem(
  _ optimizer: any Optimizer, clipNorm: Double?
) throws -> (w: [[Double]], m: [[Double]], norms: [Double], graph: Graph, session: Session) {
  let r = OptimizerReference.self
  let graph = Graph()
  let x = graph.constant(NDArray(r.x, shape: [3]), name: "x")
  let y = graph.constant(NDArray(r.y, shape: [3]), name: "y")
  let u = graph.constant(NDArray(r.u, shape: [2, 1]), name: "u")
  let z = graph.constant(NDArray(r.z, shape: [2, 1]), name: "z")
  let w = try graph.variable(NDArray(r.w0, shape: [3]), name: "w")
  let m = try graph.variable(NDArray(r.m0, shape: [2, 2]), name: "M")
  let loss = try sum(square(w * x - y)) + sum(square(matmul(m, u) - z))
  var pairs = try optimizer.computeGradients(loss)
  var norm: Tensor?
  if let clipNorm {
    let clipped = try clipByGlobalNorm(pairs, clipNorm: clipNorm)
    pairs = clipped.0
    norm = clipped.globalNorm
  }
  let train = try optimizer.applyGradients(pairs, name: "train", location: SourceLocation(#fileID, #line))
  let session = Session(graph: graph)
  try session.initializeVariables()
  var ws: [[Double]] = [], ms: [[Double]] = [], norms: [Double] = []
  for _ in 0..<10 {
    if let norm {
      norms.append(try session.run([norm], targets: [train])[0].scalarValue)
    } else {
      try session.run(train)
    }
    ws.append(try session.value(of: w).doubles)
    ms.append(try session.value(of: m).doubles)
  }
  return (ws, ms, norms, graph, session)
}

/// The largest `|a - b| / |b|` (or `|a - b|` where `b` is 0) over matching rows.
func maxRelativeError(_ a: [[Double]], _ b: [[Double]]) -> Double {
  var worst = 0.0
  for (ra, rb) in zip(a, b) {
    precondition(ra.count == rb.count, "row lengths differ")
    for (x, y) in zip(ra, rb) {
      let e = y == 0 ? Swift.abs(x - y) : Swift.abs(x - y) / Swift.abs(y)
      worst = Swift.max(worst, x.isNaN ? .infinity : e)
    }
  }
  return worst
}

let referenceCases: [ReferenceCase] = [
  ReferenceCase(name: "gradientDescent", expected: OptimizerReference.gradientDescent, clipNorm: nil) {
    try GradientDescentOptimizer(learningRate: 0.05)
  },
  ReferenceCase(name: "momentum", expected: OptimizerReference.momentum, clipNorm: nil) {
    try MomentumOptimizer(learningRate: 0.05, momentum: 0.9)
  },
  ReferenceCase(name: "nesterov", expected: OptimizerReference.nesterov, clipNorm: nil) {
    try MomentumOptimizer(learningRate: 0.05, momentum: 0.9, useNesterov: true)
  },
  ReferenceCase(name: "adagrad", expected: OptimizerReference.adagrad, clipNorm: nil) {
    try AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: 0.1)
  },
  ReferenceCase(name: "rmsprop", expected: OptimizerReference.rmsprop, clipNorm: nil) {
    try RMSPropOptimizer(learningRate: 0.01, decay: 0.9, momentum: 0, epsilon: 1e-10)
  },
  ReferenceCase(name: "rmspropCenteredMomentum", expected: OptimizerReference.rmspropCenteredMomentum, clipNorm: nil) {
    try RMSPropOptimizer(learningRate: 0.01, decay: 0.9, momentum: 0.5, epsilon: 1e-7, centered: true)
  },
  ReferenceCase(name: "adam", expected: OptimizerReference.adam, clipNorm: nil) {
    try AdamOptimizer(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
  },
  ReferenceCase(name: "adamW", expected: OptimizerReference.adamW, clipNorm: nil) {
    try AdamWOptimizer(learningRate: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
  },
  ReferenceCase(name: "exponentialDecay", expected: OptimizerReference.exponentialDecay, clipNorm: nil) {
    try GradientDescentOptimizer(learningRate: .schedule(.exponentialDecay(initial: 0.1, decaySteps: 3, decayRate: 0.5)))
  },
  ReferenceCase(name: "exponentialDecayStaircase", expected: OptimizerReference.exponentialDecayStaircase, clipNorm: nil) {
    try GradientDescentOptimizer(
      learningRate: .schedule(.exponentialDecay(initial: 0.1, decaySteps: 3, decayRate: 0.5, staircase: true)))
  },
  ReferenceCase(name: "piecewiseConstant", expected: OptimizerReference.piecewiseConstant, clipNorm: nil) {
    try MomentumOptimizer(
      learningRate: .schedule(.piecewiseConstant(boundaries: [3, 6], values: [0.1, 0.05, 0.01])), momentum: 0.9)
  },
  ReferenceCase(name: "cosineDecayWarmup", expected: OptimizerReference.cosineDecayWarmup, clipNorm: nil) {
    try AdamOptimizer(learningRate: .schedule(.cosineDecay(initial: 0.1, decaySteps: 5, alpha: 0.1, warmupSteps: 3)))
  },
  ReferenceCase(name: "clippedGradientDescent", expected: OptimizerReference.clippedGradientDescent, clipNorm: 1) {
    try GradientDescentOptimizer(learningRate: 0.1)
  },
  ReferenceCase(name: "clippedAdam", expected: OptimizerReference.clippedAdam, clipNorm: 2) {
    try AdamOptimizer(learningRate: 0.1)
  },
]

@Suite struct OptimizerReferenceTests {
  @Test("10 steps match the NumPy reference within 1e-12 (relative)", arguments: referenceCases)
  func trajectoryMatchesReference(_ c: ReferenceCase) throws {
    let run = try runReferenceProblem(c.makeOptimizer(), clipNorm: c.clipNorm)
    #expect(run.w.count == 10 && c.expected.w.count == 10)
    let errW = maxRelativeError(run.w, c.expected.w)
    let errM = maxRelativeError(run.m, c.expected.m)
    #expect(errW <= 1e-12, "\(c.name): w differs by \(errW)\nours: \(run.w)\nref:  \(c.expected.w)")
    #expect(errM <= 1e-12, "\(c.name): M differs by \(errM)\nours: \(run.m)\nref:  \(c.expected.m)")
    if c.clipNorm != nil {
      #expect(maxRelativeError([run.norms], [c.expected.globalNorms]) <= 1e-12)
    }
    // The trajectory moved: a broken update that does nothing cannot pass by accident.
    #expect(run.w.last != OptimizerReference.w0)
  }

  @Test("the Swift schedule formulas give the reference learning rates", arguments: referenceCases)
  func learningRatesMatchReference(_ c: ReferenceCase) throws {
    let optimizer = try c.makeOptimizer()
    let rate: LearningRate
    switch optimizer {
    case let o as GradientDescentOptimizer: rate = o.learningRate
    case let o as MomentumOptimizer: rate = o.learningRate
    case let o as AdagradOptimizer: rate = o.learningRate
    case let o as RMSPropOptimizer: rate = o.learningRate
    case let o as AdamOptimizer: rate = o.learningRate
    case let o as AdamWOptimizer: rate = o.learningRate
    default:
      Issue.record("unknown optimizer \(optimizer)")
      return
    }
    let ours = (0..<10).map { rate.value(atStep: $0) }
    #expect(maxRelativeError([ours], [c.expected.learningRates]) <= 1e-15, "\(ours) vs \(c.expected.learningRates)")
  }
}
