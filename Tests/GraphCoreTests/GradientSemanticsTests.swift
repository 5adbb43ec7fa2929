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

  /// Gradients with respect to an intermediate tensor and to the input below it, in both orders,
  /// symbolic and eager: the walk reads each node's total once and moves it out, except an x's,
  /// which it reads again at the end (and which also flows on to the x below it).
  @Test func intermediateAndInputTogether() throws {
    for eager in [false, true] {
      for intermediateFirst in [true, false] {
        let grads: [Tensor?]
        if eager {
          let tape = GradientTape()
          let (xw, hw, yw) = try tape.record {
            let xw = tape.watch(NDArray(scalar: 2.0))
            let hw = try xw * 3 + xw  // 4x
            return (xw, hw, try square(hw) + hw)  // dy/dh = 2h + 1 = 17, dy/dx = 4 · 17 = 68
          }
          grads = try tape.gradient(of: yw, withRespectTo: intermediateFirst ? [hw, xw] : [xw, hw])
        } else {
          let x = Graph().constant(NDArray(scalar: 2.0))
          let h = try x * 3 + x
          let y = try square(h) + h
          grads = try gradients(of: y, withRespectTo: intermediateFirst ? [h, x] : [x, h])
        }
        let values = try grads.map { t in
          let t = try #require(t)
          return eager ? try t.value : try Session(graph: t.graph).run(t)
        }
        let (dh, dx) = intermediateFirst ? (values[0], values[1]) : (values[1], values[0])
        #expect(dh.scalarValue == 17, "eager \(eager), intermediate first \(intermediateFirst)")
        #expect(dx.scalarValue == 68, "eager \(eager), intermediate first \(intermediateFirst)")
      }
    }
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
