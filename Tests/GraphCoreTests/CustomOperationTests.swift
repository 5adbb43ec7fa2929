import Foundation
@testable import GraphCore
import Testing
import TestSupport

// The examples of the article "Writing your own operation", verbatim, gradient-checked like the
// built-in operations.

struct Softsign: UnaryFunction {
  var typeName: String { "Softsign" }
  func callAsFunction<T: FloatElement>(_ x: T) -> T { x / (1 + Swift.abs(x)) }
  func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    try g / square(1 + abs(x))
  }
}

func softsign(_ x: Tensor, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Softsign(), x, file: file, line: line)
}

struct StraightThroughRound: CustomOperation {
  var typeName: String { "StraightThroughRound" }
  func forward(_ inputs: [NDArray]) throws -> [NDArray] {
    let x = inputs[0]
    return [NDArray(converting: x.doubles.map { $0.rounded(.toNearestOrEven) }, shape: x.shape, dtype: x.dtype)]
  }
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?] {
    [upstream[0]]
  }
}

struct ClipGradient: CustomOperation {
  var limit: Double
  var typeName: String { "ClipGradient" }
  func forward(_ inputs: [NDArray]) throws -> [NDArray] { [inputs[0]] }
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?] {
    [try upstream[0].map { try clip($0, min: -limit, max: limit) }]
  }
}

/// A custom operation whose forward breaks its own shape rule.
struct Liar: CustomOperation {
  var typeName: String { "Liar" }
  func forward(_ inputs: [NDArray]) throws -> [NDArray] { [NDArray([1.0, 2.0, 3.0])] }
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

@Suite struct CustomOperationTests {
  @Test func softsignIsGradientCheckedToSecondOrder() throws {
    let x = randomArray([2, 3], seed: 5)
    let first = try checkGradients([x]) { _, xs in try softsign(xs[0]) }
    #expect(first.maxRelativeError < 1e-6)
    // Second order: the gradient of the gradient, through the same checker.
    let second = try checkGradients([x]) { _, xs in try gradients(of: softsign(xs[0]), withRespectTo: [xs[0]])[0]! }
    #expect(second.maxRelativeError < 1e-5)
    // Forward against Foundation.
    let g = Graph()
    let value = try Session(graph: g).run(softsign(g.constant(x)))
    #expect(zip(value.doubles, x.doubles).allSatisfy { Swift.abs($0 - $1 / (1 + Swift.abs($1))) < 1e-15 })
  }

  @Test func softsignTakesTheScalarFastPath() throws {
    var runs: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [1])
      let a = try g.variable(NDArray([Float(0.5)]), name: "a")
      let loss = try square(softsign(x * a) - 0.3)
      let grad = try gradients(of: loss, withRespectTo: [a])[0]!
      let train = try assignSubtract(a, grad * 0.1)
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      runs.append(try (0..<50).map { i in
        try s.run([loss], feeding: [x: NDArray([Float(i % 7) - 3])], targets: [train])[0]
      })
      #expect(s.scalarRuns == (fast ? 51 : 0))  // the initializer and 50 steps
    }
    #expect(zip(runs[0], runs[1]).allSatisfy { $0.isBitIdentical(to: $1) })
  }

  @Test func straightThroughRoundPassesTheGradient() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [3])
    let y = try apply(StraightThroughRound(), to: [x])[0]
    let dx = try gradients(of: sum(y * y), withRespectTo: [x])[0]!
    let s = Session(graph: g)
    let (value, grad) = try { () throws -> (NDArray, NDArray) in
      let r = try s.run([y, dx], feeding: [x: NDArray([0.4, 1.6, -2.5])])
      return (r[0], r[1])
    }()
    #expect(value.doubles == [0, 2, -2])
    #expect(grad.doubles == [0, 4, -4])  // 2·round(x) times the identity's Jacobian
    // The gradient checker's two Jacobians: the estimator's symbolic one is the identity by
    // definition, while finite differences of the piecewise-constant forward are zero.
    let check = try checkGradients([NDArray([0.3, -1.2])]) { _, xs in try apply(StraightThroughRound(), to: [xs[0]])[0] }
    #expect(check.symbolic[0] == [1, 0, 0, 1])
    #expect(check.numeric[0] == [0, 0, 0, 0])
  }

  @Test func clipGradientClipsOnTheWayBack() throws {
    let x = randomArray([4], in: 0.5...2, seed: 3)
    // Within the limit the operation is the identity, gradient included.
    let inside = try checkGradients([x]) { _, xs in try apply(ClipGradient(limit: 100), to: [xs[0]])[0] * 2 }
    #expect(inside.maxRelativeError < 1e-8)
    let g = Graph()
    let v = g.placeholder(.float64, shape: [4])
    let dv = try gradients(of: sum(apply(ClipGradient(limit: 1), to: [v])[0] * 3), withRespectTo: [v])[0]!
    #expect(try Session(graph: g).run(dv, feeding: [v: x]).doubles == [1, 1, 1, 1])
  }

  @Test func aForwardThatBreaksItsShapeRuleIsAThrownError() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2])
    let y = try apply(Liar(), to: [x])[0]
    #expect {
      try Session(graph: g).run(y, feeding: [x: NDArray([1.0, 2.0])])
    } throws: { error in
      "\(error)".contains("Liar") && "\(error)".contains("[3]")
    }
  }
}

/// Issue 10's small conveniences: literal feeds, graph-scoped random builders, unconnected zeros.
@Suite struct ConvenienceTests {
  @Test func literalFeedsAndGraphScopedRandomValues() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let y = g.placeholder(.float32, shape: [1], name: "y")
    let a = try g.variable(g.randomNormal(shape: [1], seed: 43), name: "A")
    let loss = try square(x * a - y)
    let s = Session(graph: g)
    try s.initializeVariables()
    let viaLiterals = try s.run(loss, feeding: [x: [0.5], y: [10]])
    let explicit = try s.run(loss, feeding: [x: NDArray([Float(0.5)]), y: NDArray([Float(10)])])
    #expect(viaLiterals.isBitIdentical(to: explicit))
    let scalar: NDArray = 0.25
    #expect(scalar.shape == [] && scalar.dtype == .float32)
    // The method and the free function draw the same values for the same seed.
    let h = Graph()
    let r1 = try h.randomUniform(shape: [3], seed: 7)
    let r2 = try randomUniform(h, shape: [3], seed: 7)
    let t = Session(graph: h)
    #expect(try t.run(r1).isBitIdentical(to: t.run(r2)))
  }

  @Test func unconnectedGradientsAreNilOrZeros() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2]), z = g.placeholder(.float64, shape: [3])
    let y = try sum(square(x))
    #expect(try gradients(of: y, withRespectTo: [x, z])[1] == nil)
    let zero = try gradients(of: y, withRespectTo: [x, z], unconnected: .zero)[1]!
    let value = try Session(graph: g).run(zero, feeding: [x: NDArray([1.0, 2.0]), z: NDArray([1.0, 2.0, 3.0])])
    #expect(value.doubles == [0, 0, 0])
  }
}
