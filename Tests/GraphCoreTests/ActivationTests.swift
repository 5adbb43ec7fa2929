import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

@Suite struct ActivationTests {
  // Away from 0, where leakyRelu and elu have kinks.
  static let x = NDArray([-2.1, -0.7, -0.15, 0.2, 0.9, 1.8] as [Double], shape: [2, 3])

  func map(_ f: (Double) -> Double) -> NDArray { NDArray(Self.x.doubles.map(f), shape: Self.x.shape) }

  @Test func leakyReluEluSoftplus() throws {
    try expectForward([Self.x], map { $0 > 0 ? $0 : 0.1 * $0 }) { try leakyRelu($0[0], alpha: 0.1) }
    try expectForward([Self.x], map { $0 > 0 ? $0 : 0.2 * $0 }) { try leakyRelu($0[0]) }
    try expectForward([Self.x], map { $0 > 0 ? $0 : Foundation.expm1($0) }) { try elu($0[0]) }
    try expectForward([Self.x], map { Foundation.log(1 + Foundation.exp($0)) }) { try softplus($0[0]) }
    try expectGradients([Self.x]) { _, t in try leakyRelu(t[0], alpha: 0.1) }
    try expectGradients([Self.x]) { _, t in try elu(t[0]) }
    try expectGradients([Self.x]) { _, t in try softplus(t[0]) }
  }

  @Test func softplusIsStable() throws {
    let big = NDArray([-1000, 1000, 80] as [Float])
    let v = try evaluate([big]) { try softplus($0[0]) }.doubles
    #expect(v == [0, 1000, 80])
  }

  @Test func erfAndGelu() throws {
    try expectForward([Self.x], map { Foundation.erf($0) }) { try erf($0[0]) }
    try expectForward([Self.x], map { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }) { try gelu($0[0]) }
    try expectForward([Self.x], map { x in
      0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }) { try gelu($0[0], approximate: true) }
    try expectGradients([Self.x]) { _, t in try erf(t[0]) }
    try expectGradients([Self.x]) { _, t in try gelu(t[0]) }
    try expectGradients([Self.x]) { _, t in try gelu(t[0], approximate: true) }
  }

  @Test func activationErrors() {
    expectGraphError(["[Elu]", "int32", "[2]"]) { g in _ = try elu(g.placeholder(.int32, shape: [2])) }
    expectGraphError(["[LeakyRelu]", "alpha", "nan"]) { g in _ = try leakyRelu(g.placeholder(.float32, shape: [2]), alpha: .nan) }
  }

  @Test func stopGradientBlocksTheGradient() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [3])
    let value = NDArray([1, -2, 3] as [Double])
    // d/dx Σ stop(x)·x = stop(x) = x, not 2x.
    let grad = try gradient(of: sum(stopGradient(x) * x), withRespectTo: x)!
    #expect(try Session(graph: g).run(grad, feeding: [x: value]).doubles == [1, -2, 3])
    #expect(try gradient(of: sum(stopGradient(x)), withRespectTo: x) == nil)
    #expect(try Session(graph: g).run(stopGradient(x), feeding: [x: value]) == value)
  }
}

@Suite struct DropoutTests {
  @Test func trainingDropsAndRescales() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [40, 50])
    let training = g.placeholder(.bool, shape: [], name: "training")
    let y = try dropout(x, rate: 0.3, seed: 7, training: training)
    let w = g.constant(randomArray([40, 50], seed: 71))
    let dx = try gradient(of: sum(y * w), withRespectTo: x)!
    let xv = randomArray([40, 50], in: 0.5...1.5, seed: 72)
    let session = Session(graph: g)
    let r = try session.run([y, dx], feeding: [x: xv, training: NDArray(scalar: true)])
    let scale = 1 / 0.7
    let ratio = zip(r[0].doubles, xv.doubles).map { $0 / $1 }
    #expect(ratio.allSatisfy { $0 == 0 || Swift.abs($0 - scale) < 1e-12 })
    let dropped = Double(ratio.filter { $0 == 0 }.count) / 2000
    #expect(Swift.abs(dropped - 0.3) < 0.04, "dropped fraction \(dropped)")
    // The gradient uses the same mask: ∂/∂x Σ w·x·mask = w·mask.
    let expected = zip(ratio, g.nodesValue(w)).map { $0 * $1 }
    expectClose(r[1], NDArray(expected, shape: [40, 50]), rtol: 1e-12)
    // A new mask on each run; the same sequence for the same seed in a new session.
    let second = try session.run(y, feeding: [x: xv, training: NDArray(scalar: true)])
    #expect(second != r[0])
    let again = try Session(graph: g).run(y, feeding: [x: xv, training: NDArray(scalar: true)])
    #expect(again == r[0])
    // Not training: the identity.
    #expect(try session.run(y, feeding: [x: xv, training: NDArray(scalar: false)]) == xv)
  }

  @Test func fixedFlagAndValidation() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [4])
    #expect(try dropout(x, rate: 0.5, seed: 1, training: false) == x)
    let y = try dropout(x, rate: 0.5, seed: 1, training: true)
    let v = try Session(graph: g).run(y, feeding: [x: NDArray([1, 1, 1, 1] as [Float])]).doubles
    #expect(v.allSatisfy { $0 == 0 || $0 == 2 })
    #expect { try dropout(x, rate: 1, seed: 1, training: true) } throws: { "\($0)".contains("[Dropout]") && "\($0)".contains("rate") }
    expectGraphError(["[DropoutMask]", "bool scalar", "float32"]) { g in
      let p = g.placeholder(.float32, shape: [2])
      _ = try dropout(p, rate: 0.1, seed: 1, training: g.placeholder(.float32, shape: []))
    }
  }
}

extension Graph {
  /// The value of a constant tensor (for building expected values in tests).
  func nodesValue(_ t: Tensor) -> [Double] { (try? Session(graph: self).run(t).doubles) ?? [] }

  /// The dropout mask's branch-free loop gives, bit for bit, the definition it replaced:
  /// `u < rate ? 0 : 1/(1 - rate)` for u = the generator's next uniform, in order; rates whose
  /// threshold `rate · 2⁵³` is and is not an integer, 0, and rates outside [0, 1).
  @Test func dropoutMaskMatchesItsDefinition() throws {
    for dtype in [DType.float32, .float64] {
      for rate in [0, 0.1, 0.25, 0.5, 1.0 / 3, 0.9, 0.999, 0x1p-53, 1 - 0x1p-53, 1, 1.5] {
        var g = SeededGenerator(seed: 77)
        var reference = g
        let n = 1000
        let mask = DropoutMask.draw(shape: [n], dtype: dtype, rate: rate, generator: &g)
        let scale = 1 / (1 - rate)
        let expected = (0..<n).map { _ in reference.nextUniform() < rate ? 0 : scale }
        let got = mask.doubles
        for i in 0..<n {
          let want = dtype == .float32 ? Double(Float(expected[i])) : expected[i]
          #expect(got[i].bitPattern == want.bitPattern, "rate \(rate), \(dtype), element \(i)")
          if got[i].bitPattern != want.bitPattern { break }
        }
        #expect(g == reference, "the generator advances by one number per element")
      }
    }
  }

  /// The threshold is exact at its edge: the draw just below it is dropped and the draw at it
  /// kept, as `k · 2⁻⁵³ < rate` decides (rates whose `rate · 2⁵³` is and is not an integer).
  @Test func dropoutThresholdIsExactAtItsEdge() {
    var g = SeededGenerator(seed: 5)
    let rates = [0, 0.1, 0.25, 0.5, 1.0 / 3, 0.9, 0x1p-53, 1 - 0x1p-53] + (0..<200).map { _ in g.nextUniform() }
    for rate in rates {
      let t = DropoutMask.dropThreshold(rate)
      #expect(!(Double(t) * 0x1p-53 < rate), "rate \(rate): the draw at the threshold is kept")
      if t > 0 { #expect(Double(t - 1) * 0x1p-53 < rate, "rate \(rate): the draw below the threshold is dropped") }
    }
  }
}

