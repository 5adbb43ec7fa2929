import GraphCore
import Testing
import TestSupport

/// Every differentiable operation of the core, checked against central finite differences in
/// Double (TF1's gradient checker), on scalar, vector, matrix and broadcast shapes.
@Suite struct GradientCheckTests {
  static let unary: [(String, @Sendable (Tensor) throws -> Tensor, ClosedRange<Double>)] = [
    ("negate", { try negate($0) }, -2...2),
    ("square", { try square($0) }, -2...2),
    ("abs", { try abs($0) }, 0.2...2),  // away from the kink at 0
    ("exp", { try exp($0) }, -2...2),
    ("log", { try log($0) }, 0.3...3),
    ("sqrt", { try sqrt($0) }, 0.3...3),
    ("sigmoid", { try sigmoid($0) }, -4...4),
    ("tanh", { try tanh($0) }, -2...2),
    ("relu", { try relu($0) }, 0.2...2),
    ("reluNegative", { try relu($0) }, -2...(-0.2)),
    ("absNegative", { try abs($0) }, -2...(-0.2)),
  ]

  @Test(arguments: 0..<11, [[], [5], [3, 4]] as [[Int]])
  func unaryGradient(_ index: Int, _ shape: [Int]) throws {
    let (name, build, domain) = Self.unary[index]
    let x = randomArray(Shape(shape), in: domain, seed: UInt64(10 + index))
    let r = try checkGradients([x]) { _, t in try build(t[0]) }
    #expect(r.maxRelativeError < 1e-6, "\(name) \(shape): \(r.maxRelativeError)")
  }

  static let shapePairs: [([Int], [Int])] = [([], []), ([3], [3]), ([2, 3], [2, 3]), ([4, 3], [3]), ([4, 1], [1, 3]), ([], [2, 2]), ([2, 2], [])]

  @Test(arguments: ["add", "subtract", "multiply", "divide"], 0..<7)
  func binaryGradient(_ name: String, _ pair: Int) throws {
    let (sa, sb) = Self.shapePairs[pair]
    let a = randomArray(Shape(sa), in: 0.5...2, seed: 3)
    let b = randomArray(Shape(sb), in: 0.5...2, seed: 4)
    let r = try checkGradients([a, b]) { _, t in
      switch name {
      case "add": try t[0] + t[1]
      case "subtract": try t[0] - t[1]
      case "multiply": try t[0] * t[1]
      default: try t[0] / t[1]
      }
    }
    #expect(r.maxRelativeError < 1e-6, "\(name) \(sa) \(sb): \(r.maxRelativeError)")
  }

  @Test func reductionsAndShapeOperations() throws {
    let x = randomArray([3, 4], seed: 5)
    let cases: [(String, (Tensor) throws -> Tensor)] = [
      ("sum", { try sum($0) }), ("sum axis 0", { try sum($0, axes: [0]) }),
      ("sum keepDims", { try sum($0, axes: [1], keepDims: true) }), ("mean", { try mean($0) }),
      ("mean axis -1 keepDims", { try mean($0, axes: [-1], keepDims: true) }),
      ("expandDims", { try expandDims($0, axis: 1) }), ("reshape", { try reshape($0, to: [2, -1]) }),
      ("squeeze", { try squeeze(expandDims($0, axis: 0), axes: [0]) }),
    ]
    for (name, build) in cases {
      let r = try checkGradients([x]) { _, t in try build(t[0]) }
      #expect(r.maxRelativeError < 1e-6, "\(name): \(r.maxRelativeError)")
    }
  }

  @Test func castRoundTripHasTheIdentityGradient() throws {
    // Through float32, central differences in float64 measure float32 rounding, not the
    // derivative; the gradient of a cast is the identity, checked exactly instead.
    let graph = Graph()
    let v = graph.placeholder(.float64, shape: [3, 4], name: "v")
    let y = try cast(cast(v, to: .float32), to: .float64)
    let g = try #require(try gradients(of: [y], withRespectTo: [v])[0])
    let session = Session(graph: graph)
    let value = try session.run(g, feeding: [v: randomArray([3, 4], seed: 5)])
    #expect(value.shape == [3, 4])
    #expect(value.doubles == [Double](repeating: 1, count: 12))
  }

  @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
  func matmulGradient(_ ta: Bool, _ tb: Bool) throws {
    let a = randomArray(ta ? [4, 3] : [3, 4], seed: 6)
    let b = randomArray(tb ? [2, 4] : [4, 2], seed: 7)
    let r = try checkGradients([a, b]) { _, t in try matmul(t[0], t[1], transposeA: ta, transposeB: tb) }
    #expect(r.maxRelativeError < 1e-6, "transposeA \(ta) transposeB \(tb): \(r.maxRelativeError)")
  }

  @Test func batchedMatmulWithBroadcastBatch() throws {
    let a = randomArray([2, 3, 4], seed: 8)
    let b = randomArray([4, 2], seed: 9)
    let r = try checkGradients([a, b]) { _, t in try matmul(t[0], t[1]) }
    #expect(r.maxRelativeError < 1e-6)
  }

  @Test(arguments: 0..<7)
  func sigmoidCrossEntropyGradient(_ pair: Int) throws {
    let (sa, sb) = Self.shapePairs[pair]
    let logits = randomArray(Shape(sa), in: -3...3, seed: 11)
    let labels = randomArray(Shape(sb), in: 0...1, seed: 12)
    let r = try checkGradients([logits, labels]) { _, t in try sigmoidCrossEntropyWithLogits(logits: t[0], labels: t[1]) }
    #expect(r.maxRelativeError < 1e-6, "\(sa) \(sb): \(r.maxRelativeError)")
  }

  @Test func aCheckThatCanFail() throws {
    // The checker itself must notice a wrong gradient: `stopGradient(x) * x` has true derivative
    // `x` but the symbolic gradient of the blocked factor is missing, so 2x ≠ x is reported.
    let x = randomArray([3], in: 1...2, seed: 13)
    let r = try checkGradients([x]) { _, t in try stopGradient(t[0]) * t[0] }
    #expect(r.maxRelativeError > 0.1)
  }
}
