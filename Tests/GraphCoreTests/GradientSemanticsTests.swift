import GraphCore
import Testing
import TestSupport

/// What `gradients(of:withRespectTo:)` promises: accumulation, unused inputs, shapes, seeds and
/// second derivatives.
@Suite struct GradientSemanticsTests {
  func run(_ t: Tensor, _ feeds: [Tensor: NDArray] = [:]) throws -> NDArray {
    try Session(graph: t.graph).run(t, feeding: feeds)
  }

  @Test func tensorUsedTwiceAccumulates() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let y = try x * x + x  // dy/dx = 2x + 1
    let dx = try #require(try gradient(of: y, withRespectTo: x))
    #expect(try run(dx, [x: NDArray(scalar: 3.0)]).scalarValue == 7)
  }

  @Test func unusedInputHasNoGradient() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2])
    let z = g.placeholder(.float64, shape: [2])
    let y = try sum(x * 3)
    let grads = try gradients(of: y, withRespectTo: [x, z])
    #expect(grads[0] != nil)
    #expect(grads[1] == nil)
  }

  @Test func broadcastInputGradientHasInputShape() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [4, 3])
    let b = g.placeholder(.float64, shape: [3])
    let s = g.placeholder(.float64, shape: [])
    let y = try (x + b) * s
    let grads = try gradients(of: y, withRespectTo: [b, s])
    let session = Session(graph: g)
    let out = try session.run(grads.map { $0! }, feeding: [x: randomArray([4, 3], seed: 1), b: randomArray([3], seed: 2), s: NDArray(scalar: 2.0)])
    #expect(out[0].shape == [3])
    #expect(out[0].doubles == [8, 8, 8])  // Σ over 4 rows of s = 2
    #expect(out[1].shape == [])
  }

  @Test func unknownBatchDimensionUnbroadcastsAtRunTime() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [nil, 3])
    let w = try g.variable(NDArray([1.0, 2, 3]))
    let y = try sum(x * w)
    let dw = try #require(try gradient(of: y, withRespectTo: w))
    #expect(dw.shape == [3])
    let session = Session(graph: g)
    try session.initializeVariables()
    let batch = NDArray([1.0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4], shape: [4, 3])
    #expect(try session.run(dw, feeding: [x: batch]).doubles == [10, 10, 10])
    #expect(try session.run(dw, feeding: [x: NDArray([5.0, 6, 7], shape: [1, 3])]).doubles == [5, 6, 7])
  }

  @Test func explicitSeedScalesGradient() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2])
    let seed = g.constant(NDArray([10.0, 100]))
    let grads = try gradients(of: [try square(x)], withRespectTo: [x], gradientSeeds: [seed])
    #expect(try run(grads[0]!, [x: NDArray([1.0, 2])]).doubles == [20, 400])
  }

  @Test func stopGradientBlocks() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let y = try stopGradient(x * 2) + x
    let dx = try #require(try gradient(of: y, withRespectTo: x))
    #expect(try run(dx, [x: NDArray(scalar: 1.0)]).scalarValue == 1)
  }

  @Test func secondDerivativeOfCube() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let y = try x * x * x
    let d1 = try #require(try gradient(of: y, withRespectTo: x))
    let d2 = try #require(try gradient(of: d1, withRespectTo: x))
    let out = try Session(graph: g).run([d1, d2], feeding: [x: NDArray(scalar: 1.5)])
    expectClose(out[0].scalarValue, 3 * 1.5 * 1.5, rtol: 1e-15)
    expectClose(out[1].scalarValue, 6 * 1.5, rtol: 1e-15)
  }

  @Test func secondDerivativeOfSigmoid() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let d1 = try #require(try gradient(of: sigmoid(x), withRespectTo: x))
    let d2 = try #require(try gradient(of: d1, withRespectTo: x))
    for v in [-2.0, -0.3, 0, 0.7, 3] {
      let s = 1 / (1 + Foundation_exp(-v))
      let out = try Session(graph: g).run([d1, d2], feeding: [x: NDArray(scalar: v)])
      expectClose(out[0].scalarValue, s * (1 - s), rtol: 1e-14)
      expectClose(out[1].scalarValue, s * (1 - s) * (1 - 2 * s), rtol: 1e-12, atol: 1e-15)
    }
  }

  @Test func mixedSecondDerivativeOfProduct() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let y = g.placeholder(.float64, shape: [])
    let dx = try #require(try gradient(of: x * y, withRespectTo: x))  // = y
    let dxy = try gradients(of: dx, withRespectTo: [x, y])  // ∂²/∂x² = 0 (no path), ∂²/∂x∂y = 1
    #expect(dxy[0] == nil)
    let out = try Session(graph: g).run([dx, dxy[1]!], feeding: [x: NDArray(scalar: 2.0), y: NDArray(scalar: 5.0)])
    #expect(out[0].scalarValue == 5)
    #expect(out[1].scalarValue == 1)
  }

  @Test func gradientOperationsAreMarkedAndScoped() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [])
    let y = try square(x)
    let dx = try #require(try gradient(of: y, withRespectTo: x))
    #expect(dx.operation.isGradient)
    #expect(dx.operation.name.hasPrefix("gradients/"))
    #expect(!y.operation.isGradient)
  }
}

import Foundation
private func Foundation_exp(_ x: Double) -> Double { Foundation.exp(x) }
