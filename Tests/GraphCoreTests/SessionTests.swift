import GraphCore
import Testing
import TestSupport

@Suite struct SessionTests {
  @Test func evaluatesOnlyTheNeededSubgraph() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let unfed = g.placeholder(.float32, shape: [1], name: "unfed")
    let y = try x * 3
    _ = try unfed + x  // needs `unfed`, but is not fetched
    #expect(try Session(graph: g).run(y, feeding: [x: NDArray([Float(2)])]).doubles == [6])
  }

  @Test func variablesLiveInTheSessionAndAssignmentsPersist() throws {
    let g = Graph()
    let v = try g.variable(NDArray([1.0, 2]), name: "v")
    let inc = try assignAdd(v, g.constant(NDArray([10.0, 20])))
    let s1 = Session(graph: g), s2 = Session(graph: g)
    try s1.initializeVariables()
    try s2.initializeVariables()
    try s1.run(inc)
    try s1.run(inc)
    #expect(try s1.value(of: v).doubles == [21, 42])
    #expect(try s2.value(of: v).doubles == [1, 2])  // another session, its own state
  }

  @Test func fetchedValuesAreNotChangedByLaterRuns() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2])
    let y = try x * 2
    let s = Session(graph: g)
    let first = try s.run(y, feeding: [x: NDArray([1.0, 2])])
    let second = try s.run(y, feeding: [x: NDArray([5.0, 6])])
    #expect(first.doubles == [2, 4])
    #expect(second.doubles == [10, 12])
  }

  @Test func trainingStepMatchesHandDerivation() throws {
    // loss = (x·A - y)², dloss/dA = 2x(xA - y); one step of SGD: A ← A - η·2x(xA - y).
    let g = Graph()
    let x = g.placeholder(.float64, shape: [1])
    let y = g.placeholder(.float64, shape: [1])
    let a = try g.variable(NDArray([0.5]), name: "A")
    let loss = try square(x * a - y)
    let train = try GradientDescentOptimizerForTests.minimize(loss, learningRate: 0.02)
    let s = Session(graph: g)
    try s.initializeVariables()
    var expected = 0.5
    for (xv, yv) in [(1.1, 10.0), (0.9, 10.0), (1.05, 10.0)] {
      try s.run(train, feeding: [x: NDArray([xv]), y: NDArray([yv])])
      expected -= 0.02 * 2 * xv * (xv * expected - yv)
      expectClose(try s.value(of: a).scalarValue, expected, rtol: 1e-15)
    }
  }

  @Test func randomOperationsAreSeededAndAdvance() throws {
    func draw() throws -> [[Double]] {
      let g = Graph()
      let r = try randomNormal(g, shape: [3], seed: 99)
      let s = Session(graph: g)
      return try [s.run(r).doubles, s.run(r).doubles]
    }
    let a = try draw(), b = try draw()
    #expect(a == b)
    #expect(a[0] != a[1])
  }

  @Test func nameScopesAndUniqueNames() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let (p, q) = try g.withNameScope("layer") { (try multiply(x, x), try multiply(x, x)) }
    #expect(p.operation.name == "layer/Mul")
    #expect(q.operation.name == "layer/Mul_1")
    #expect(p.name == "layer/Mul:0")
  }
}

/// Gradient descent written with the GraphCore primitives only (the Training module's optimizer
/// has its own tests), so this suite does not depend on the layer above.
enum GradientDescentOptimizerForTests {
  static func minimize(_ loss: Tensor, learningRate: Double) throws -> Operation {
    let vars = loss.graph.trainableVariables
    let grads = try gradients(of: loss, withRespectTo: vars)
    let updates = try zip(vars, grads).map { v, g in try assignSubtract(v, g! * learningRate) }
    return try loss.graph.group(updates)
  }
}
