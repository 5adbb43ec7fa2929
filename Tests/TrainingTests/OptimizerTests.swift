import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Whether building `body` throws `GraphError.invalidArgument` whose message contains every
/// one of `fragments`.
func expectInvalidArgument(
  _ fragments: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("no error thrown; expected one mentioning \(fragments)", sourceLocation: sourceLocation)
  } catch let error as GraphError {
    guard case .invalidArgument = error else {
      Issue.record("expected invalidArgument, got \(error)", sourceLocation: sourceLocation)
      return
    }
    for f in fragments where !error.description.contains(f) {
      Issue.record("message \"\(error)\" does not mention \"\(f)\"", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("expected GraphError, got \(error)", sourceLocation: sourceLocation)
  }
}

@Suite struct OptimizerValidationTests {
  @Test func invalidHyperparametersNameOptimizerParameterAndValue() {
    expectInvalidArgument(["[GradientDescent]", "learning rate", "-1.0"]) { _ = try GradientDescentOptimizer(learningRate: -1) }
    expectInvalidArgument(["[Momentum]", "momentum", "1.5"]) { _ = try MomentumOptimizer(learningRate: 0.1, momentum: 1.5) }
    expectInvalidArgument(["[Momentum]", "learning rate", "nan"]) { _ = try MomentumOptimizer(learningRate: .constant(.nan), momentum: 0.9) }
    expectInvalidArgument(["[Adagrad]", "initialAccumulatorValue", "0.0"]) {
      _ = try AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: 0)
    }
    expectInvalidArgument(["[RMSProp]", "decay", "-0.1"]) { _ = try RMSPropOptimizer(learningRate: 0.1, decay: -0.1) }
    expectInvalidArgument(["[RMSProp]", "epsilon", "0.0"]) { _ = try RMSPropOptimizer(learningRate: 0.1, epsilon: 0) }
    expectInvalidArgument(["[Adam]", "beta1", "1.0", "< 1.0"]) { _ = try AdamOptimizer(beta1: 1) }
    expectInvalidArgument(["[Adam]", "beta2", "inf"]) { _ = try AdamOptimizer(beta2: .infinity) }
    expectInvalidArgument(["[Adam]", "learning rate", "0.0"]) { _ = try AdamOptimizer(learningRate: 0.0) }
    expectInvalidArgument(["[AdamW]", "weightDecay", "-0.01"]) { _ = try AdamWOptimizer(weightDecay: -0.01) }
  }

  @Test func invalidSchedulesAreRejected() {
    expectInvalidArgument(["[ExponentialDecay]", "decaySteps", "0.0"]) {
      _ = try LearningRateSchedule.exponentialDecay(initial: 0.1, decaySteps: 0, decayRate: 0.5)
    }
    expectInvalidArgument(["[PiecewiseConstant]", "one more value"]) {
      _ = try LearningRateSchedule.piecewiseConstant(boundaries: [1, 2], values: [0.1, 0.2])
    }
    expectInvalidArgument(["[PiecewiseConstant]", "strictly increasing", "[5, 2]"]) {
      _ = try LearningRateSchedule.piecewiseConstant(boundaries: [5, 2], values: [0.1, 0.2, 0.3])
    }
    expectInvalidArgument(["[CosineDecay]", "alpha", "2.0"]) {
      _ = try LearningRateSchedule.cosineDecay(initial: 0.1, decaySteps: 10, alpha: 2)
    }
  }

  @Test func scheduleValuesAtHandPickedSteps() throws {
    // Hand-computed: 0.1·0.5^(4/2) = 0.025; staircase ⌊5/2⌋ = 2 → 0.025.
    let e = try LearningRateSchedule.exponentialDecay(initial: 0.1, decaySteps: 2, decayRate: 0.5)
    #expect(e.value(atStep: 4) == 0.025)
    let s = try LearningRateSchedule.exponentialDecay(initial: 0.1, decaySteps: 2, decayRate: 0.5, staircase: true)
    #expect(s.value(atStep: 5) == 0.025)
    let p = try LearningRateSchedule.piecewiseConstant(boundaries: [10, 20], values: [1, 0.5, 0.1])
    #expect([0, 10, 11, 20, 21, 1000].map { p.value(atStep: $0) } == [1, 1, 0.5, 0.5, 0.1, 0.1])
    // Warm-up 0 → 1 over 4 steps, then cosine over 10 steps down to alpha = 0.2.
    let c = try LearningRateSchedule.cosineDecay(initial: 1, decaySteps: 10, alpha: 0.2, warmupSteps: 4)
    #expect(c.value(atStep: 0) == 0)
    #expect(c.value(atStep: 2) == 0.5)
    #expect(c.value(atStep: 4) == 1)
    expectClose(c.value(atStep: 9), 0.2 + 0.8 * 0.5)  // halfway: cos(π/2) = 0
    #expect(c.value(atStep: 14) == 0.2)
    #expect(c.value(atStep: 100) == 0.2)
  }

  /// `value(atStep:)` (public; training never passes a negative step) computed each formula
  /// before step 0: the exponential decay grew (0.1 · 0.5^(-1/2) at step -1), the warm-up went
  /// below its start (-0.25 at step -1, a negative rate), a cosine decay without warm-up
  /// divided by its 0 warm-up steps (-∞). A step before 0 is now step 0, for every kind; a NaN
  /// step is NaN.
  @Test func stepsBeforeZeroAreStepZero() throws {
    let rates: [LearningRate] = [
      .constant(0.1),
      .schedule(try .exponentialDecay(initial: 0.1, decaySteps: 2, decayRate: 0.5)),
      .schedule(try .exponentialDecay(initial: 0.1, decaySteps: 2, decayRate: 0.5, staircase: true)),
      .schedule(try .piecewiseConstant(boundaries: [-5, 10], values: [1, 0.5, 0.1])),
      .schedule(try .piecewiseConstant(boundaries: [], values: [0.3])),
      .schedule(try .cosineDecay(initial: 1, decaySteps: 10, alpha: 0.2)),
      .schedule(try .cosineDecay(initial: 1, decaySteps: 10, alpha: 0.2, warmupSteps: 4)),
      .schedule(try .cosineDecay(initial: 1, decaySteps: 10, warmupSteps: 4, warmupStart: 0.5)),
    ]
    for rate in rates {
      let first = rate.value(atStep: 0)
      #expect(first >= 0 && first.isFinite, "\(rate)")
      for step in [-1, -3, -1000, Int.min] {
        #expect(rate.value(atStep: step) == first, "\(rate) at step \(step)")
      }
      guard case let .schedule(schedule) = rate else { continue }
      for step in [-0.5, -0.0, -1e300, -Double.infinity] {
        #expect(schedule.value(atStep: step) == first, "\(schedule) at step \(step)")
      }
      #expect(schedule.value(atStep: .nan).isNaN, "\(schedule)")
      // Steps from 0 on are unchanged (the hand-picked values above, and the graph's).
      #expect(schedule.value(atStep: 3) == ScheduledLearningRate(schedule: schedule).formula.value(atStep: 3))
    }
  }

  @Test func clippingRejectsBadInput() throws {
    let g = Graph()
    let a = g.constant(NDArray([1.0, 2.0]))
    let b = g.constant(NDArray([Float(1)]))
    expectInvalidArgument(["[ClipByGlobalNorm]", "no gradients"]) { _ = try clipByGlobalNorm([Tensor](), clipNorm: 1) }
    expectInvalidArgument(["[ClipByGlobalNorm]", "clipNorm", "-1.0"]) { _ = try clipByGlobalNorm([a], clipNorm: -1) }
    expectInvalidArgument(["[ClipByGlobalNorm]", "float64", "float32"]) { _ = try clipByGlobalNorm([a, b], clipNorm: 1) }
  }

  @Test func clippingMatchesHandComputedValues() throws {
    // ‖(3, 4)‖ = 5 with (12) → global norm √(25 + 144) = 13; clip to 6.5 halves everything.
    let g = Graph()
    let a = g.constant(NDArray([3.0, 4.0]))
    let b = g.constant(NDArray([12.0]))
    let (clipped, norm) = try clipByGlobalNorm([a, b], clipNorm: 6.5)
    let (same, _) = try clipByGlobalNorm([a, b], clipNorm: 20)
    let s = Session(graph: g)
    let values = try s.run([clipped[0], clipped[1], norm, same[0], same[1]])
    #expect(values[0].doubles == [1.5, 2])
    #expect(values[1].doubles == [6])
    #expect(values[2].scalarValue == 13)
    #expect(values[3].doubles == [3, 4])  // below the bound: bit-identical
    #expect(values[4].doubles == [12])
  }
}

@Suite struct OptimizerSlotTests {
  @Test func slotsAreNamedAsTF1AndCounterCounts() throws {
    let graph = Graph()
    let a = try graph.variable(NDArray([1.0, 2.0]), name: "A")
    let loss = try sum(square(a))
    let adam = try AdamOptimizer(learningRate: 0.1)
    let train = try adam.minimize(loss)
    let names = graph.variables.map { $0.operation.name }
    #expect(names == ["A", "Adam/iterations", "A/Adam", "A/Adam_1"])
    #expect(graph.trainableVariables.map { $0.operation.name } == ["A"])
    let counter = try #require(adam.stepCounter(in: graph))
    let session = Session(graph: graph)
    try session.initializeVariables()
    for _ in 0..<3 { try session.run(train) }
    #expect(try session.value(of: counter).scalarValue == 3)
    // m after 3 steps is non-zero and has A's shape.
    let m = try session.value(of: graph.variables[2])
    #expect(m.shape == [2])
    #expect(m.doubles.allSatisfy { $0 > 0 })
  }

  @Test func rmspropSlotsStartAtOneAndZero() throws {
    let graph = Graph()
    let a = try graph.variable(NDArray([1.0]), name: "A")
    _ = try RMSPropOptimizer(learningRate: 0.1, centered: true).minimize(try sum(square(a)))
    let vars = graph.variables
    #expect(vars.map { $0.operation.name } == ["A", "A/RMSProp", "A/RMSProp_1", "A/RMSProp_2"])
    let session = Session(graph: graph)
    try session.initializeVariables()
    #expect(try vars[1...].map { try session.value(of: $0).scalarValue } == [1, 0, 0])
  }

  @Test func gradientDescentKeepsNoSlotsAndNoCounter() throws {
    let graph = Graph()
    let a = try graph.variable(NDArray([1.0]), name: "A")
    let sgd = try GradientDescentOptimizer(learningRate: 0.25)
    let train = try sgd.minimize(try sum(square(a)))
    #expect(graph.variables.count == 1)
    #expect(sgd.stepCounter(in: graph) == nil)
    let session = Session(graph: graph)
    try session.initializeVariables()
    try session.run(train)
    #expect(try session.value(of: a).doubles == [0.5])  // 1 - 0.25·2
  }

  @Test func float32VariablesTrainWithSchedulesAndAdam() throws {
    // Same problem as the Double reference, in float32: follows it to float32 accuracy.
    let r = OptimizerReference.self
    let graph = Graph()
    let x = graph.constant(NDArray(r.x.map { Float($0) }, shape: [3]))
    let y = graph.constant(NDArray(r.y.map { Float($0) }, shape: [3]))
    let w = try graph.variable(NDArray(r.w0.map { Float($0) }, shape: [3]), name: "w")
    let adam = try AdamOptimizer(learningRate: .schedule(.cosineDecay(initial: 0.1, decaySteps: 5, alpha: 0.1, warmupSteps: 3)))
    let train = try adam.minimize(try sum(square(w * x - y)))
    let session = Session(graph: graph)
    try session.initializeVariables()
    for _ in 0..<10 { try session.run(train) }
    let got = try session.value(of: w)
    #expect(got.dtype == .float32)
    // The w trajectory does not depend on M (separate terms), so the Double reference applies.
    expectClose(got.converted(to: .float64), NDArray(r.cosineDecayWarmup.w[9], shape: [3]), rtol: 1e-5, atol: 1e-6)
  }

  @Test func mixedDtypesAreRejected() throws {
    let graph = Graph()
    let a = try graph.variable(NDArray([1.0]), name: "A")
    let g = graph.constant(NDArray([Float(1)]))
    expectInvalidArgument(["[Adam]", "does not fit variable", "float32", "float64"]) {
      _ = try AdamOptimizer().applyGradients(
        [GradientAndVariable(gradient: g, variable: a)], name: "train", location: SourceLocation(#fileID, #line))
    }
  }
}
