import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

/// `f` applied with broadcasting of `[2, 3]` with `[3]`, by plain loops.
func broadcastOracle(_ a: NDArray, _ b: NDArray, _ f: (Double, Double) -> Double) -> NDArray {
  let av = a.doubles, bv = b.doubles
  return NDArray((0..<av.count).map { f(av[$0], bv[$0 % bv.count]) }, shape: a.shape)
}

@Suite struct BinaryExtensionTests {
  // Values kept apart (no ties between x and y) so maximum/minimum are differentiable.
  static let x = NDArray([0.3, -1.2, 2.5, 1.7, -0.4, 0.9] as [Double], shape: [2, 3])
  static let y = NDArray([0.8, -0.7, 1.1] as [Double], shape: [3])

  @Test func maximumMinimum() throws {
    try expectForward([Self.x, Self.y], broadcastOracle(Self.x, Self.y) { Swift.max($0, $1) }) { try maximum($0[0], $0[1]) }
    try expectForward([Self.x, Self.y], broadcastOracle(Self.x, Self.y) { Swift.min($0, $1) }) { try minimum($0[0], $0[1]) }
    try expectGradients([Self.x, Self.y]) { _, t in try maximum(t[0], t[1]) }
    try expectGradients([Self.x, Self.y]) { _, t in try minimum(t[0], t[1]) }
  }

  @Test func maximumTieGoesToX() throws {
    let g = Graph()
    let a = g.constant(NDArray([1, 2] as [Double]))
    let b = g.constant(NDArray([1, 3] as [Double]))
    let grads = try gradients(of: maximum(a, b), withRespectTo: [a, b])
    let v = try Session(graph: g).run([grads[0]!, grads[1]!])
    #expect(v[0].doubles == [1, 0] && v[1].doubles == [0, 1])
  }

  @Test func powForwardGradientAndSecondOrder() throws {
    let base = randomArray([2, 3], in: 0.5...2, seed: 31)
    let exponent = randomArray([3], in: -1.5...2.5, seed: 32)
    try expectForward([base, exponent], broadcastOracle(base, exponent) { Foundation.pow($0, $1) }) { try pow($0[0], $0[1]) }
    try expectGradients([base, exponent]) { _, t in try pow(t[0], t[1]) }
    let w = randomArray([2, 3], seed: 33)
    try expectGradients([base, exponent]) { g, t in
      let grads = try gradients(of: sum(pow(t[0], t[1]) * g.constant(w)), withRespectTo: [t[0], t[1]])
      return try sum(grads[0]!) + sum(grads[1]!)
    }
  }

  @Test func powOfNegativeAndZeroBases() throws {
    let a = NDArray([-2, -2, 0, 0, -8] as [Double])
    let b = NDArray([2, 3, 0, 2, 0.5] as [Double])
    let v = try evaluate([a, b]) { try pow($0[0], $0[1]) }.doubles
    #expect(Array(v[0..<4]) == [4, -8, 1, 0] && v[4].isNaN)
  }

  @Test func clipForwardAndGradient() throws {
    let x = NDArray([-1.5, -0.2, 0.4, 0.9, 1.6, 0.05] as [Double], shape: [2, 3])
    let expected = NDArray(x.doubles.map { Swift.min(Swift.max($0, -0.5), 1) }, shape: [2, 3])
    try expectForward([x], expected) { try clip($0[0], min: -0.5, max: 1) }
    try expectGradients([x]) { _, t in try clip(t[0], min: -0.5, max: 1) }
    let g = Graph()
    let p = g.constant(x)
    let grad = try gradient(of: clip(p, min: -0.5, max: 1), withRespectTo: p)!
    #expect(try Session(graph: g).run(grad).doubles == [0, 1, 1, 1, 0, 1])
  }

  @Test func binaryErrors() {
    expectGraphError(["[Maximum]", "[2, 3]", "[4]", "cannot be broadcast"]) { g in
      _ = try maximum(g.placeholder(.float32, shape: [2, 3]), g.placeholder(.float32, shape: [4]))
    }
    expectGraphError(["[Pow]", "float32", "float64"]) { g in
      _ = try pow(g.placeholder(.float32, shape: [2]), g.placeholder(.float64, shape: [2]))
    }
    expectGraphError(["[ClipByValue]", "[2.0, 1.0]"]) { g in
      _ = try clip(g.placeholder(.float32, shape: [2]), min: 2, max: 1)
    }
  }
}
