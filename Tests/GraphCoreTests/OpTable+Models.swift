import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

// Rows of the operation table for the model-building operations: Normalize (batch and layer
// normalization), the inference form of batch normalization, embedding lookup and flatten.
// References are plain loops over doubles.

private let floats: [DType] = [.float32, .float64]

/// Mean and biased variance of each lane of `x` over the contiguous axes `a...b`, and `x̂`.
private func refNormalize(_ x: NDArray, _ a: Int, _ b: Int, epsilon: Double) -> (xhat: [Double], mean: [Double], variance: [Double]) {
  let d = x.shape.dimensions, v = x.doubles
  let outer = d[..<a].reduce(1, *), n = d[a...b].reduce(1, *), inner = d[(b + 1)...].reduce(1, *)
  var xhat = [Double](repeating: 0, count: v.count)
  var means: [Double] = [], vars: [Double] = []
  for o in 0..<outer {
    for i in 0..<inner {
      let idx = (0..<n).map { o * n * inner + $0 * inner + i }
      let m = n == 0 ? 0 : idx.map { v[$0] }.reduce(0, +) / Double(n)
      let s2 = n == 0 ? 0 : idx.map { (v[$0] - m) * (v[$0] - m) }.reduce(0, +) / Double(n)
      for j in idx { xhat[j] = (v[j] - m) / Foundation.sqrt(s2 + epsilon) }
      means.append(m)
      vars.append(s2)
    }
  }
  return (xhat, means, vars)
}

/// A `Normalize` case: a shape of rank 1-4, a contiguous run of axes `a...b`, two coefficients
/// and an epsilon.
private func drawNormalization(_ k: Int, _ g: inout SeededGenerator) -> (shape: [Int], a: Int, b: Int, c1: Double, c2: Double, eps: Double) {
  let shape = familyShape(k, &g, minRank: 1, maxRank: 4)
  let a = g.choice(shape.count)
  let b = a + g.choice(shape.count - a)
  let c1 = g.uniform(low: -1, high: 1), c2 = g.uniform(low: -1, high: 1)
  return (shape, a, b, c1, c2, [1e-3, 0.1][g.choice(2)])
}

func modelOpEntries() -> [OpEntry] {
  var t: [OpEntry] = []
  // x̂ + c₁·μ + c₂·σ² (broadcast), so that all three outputs' gradients are checked.
  t.append(
    OpEntry(
      name: "Normalize", covers: ["Normalize", "Size", "Sqrt", "Sum"], arity: 1,
      domain: "reals in [-2, 2]; a random contiguous run of axes; output x̂ + c₁·mean + c₂·variance", dtypes: floats,
      differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5,
      toleranceNote: "x̂ = x·k - μ·k in float32: cancellation when |μ| is large against the spread",
      draw: { g, k in
        let (shape, a, b, c1, c2, eps) = drawNormalization(k, &g)
        return OpCase(
          inputs: [Domain.real(-2, 2).array(shape, &g)],
          build: { xs, _ in
            let (y, m, v) = try normalize(xs[0], axes: Array(a...b), epsilon: eps)
            let graph = xs[0].graph
            return try y + graph.scalar(c1, like: y) * m + graph.scalar(c2, like: y) * v
          },
          reference: { x in
            let (xh, m, v) = refNormalize(x[0], a, b, epsilon: eps)
            let d = shape
            let inner = d[(b + 1)...].reduce(1, *), n = d[a...b].reduce(1, *)
            return arr(
              xh.indices.map { j in
                let lane = (j / (n * inner)) * inner + j % inner
                return xh[j] + c1 * m[lane] + c2 * v[lane]
              }, shape)
          })
      }))
  t.append(
    OpEntry(
      name: "Normalize statistics", covers: ["Normalize", "Size", "Sub"], arity: 1,
      domain: "reals in [-2, 2]; a random contiguous run of axes; output c₁·mean + c₂·variance (x̂ unused, as the BatchNorm layer uses it)",
      dtypes: floats, differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5,
      toleranceNote: "as Normalize",
      draw: { g, k in
        let (shape, a, b, c1, c2, eps) = drawNormalization(k, &g)
        let onlyVariance = g.choice(3) == 0
        return OpCase(
          inputs: [Domain.real(-2, 2).array(shape, &g)],
          build: { xs, _ in
            let (_, m, v) = try normalize(xs[0], axes: Array(a...b), epsilon: eps)
            let graph = xs[0].graph
            let scaled = try graph.scalar(c2, like: v) * v
            return onlyVariance ? scaled : try graph.scalar(c1, like: m) * m + scaled
          },
          reference: { x in
            let (_, m, v) = refNormalize(x[0], a, b, epsilon: eps)
            var d = shape
            for i in a...b { d[i] = 1 }
            return arr(m.indices.map { (onlyVariance ? 0 : c1 * m[$0]) + c2 * v[$0] }, d)
          })
      }))
  t.append(
    OpEntry(
      name: "layerNormalization", covers: ["Normalize", "Mul", "Add"], arity: 3,
      domain: "x reals in [-2, 2] of rank 1-3; gamma, beta reals in [-2, 2] of the last axis", dtypes: floats,
      differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5,
      toleranceNote: "as Normalize",
      draw: { g, k in
        var shape = familyShape(k, &g, minRank: 1, maxRank: 3)
        shape[shape.count - 1] = 2 + g.choice(3)
        let last = shape.last!
        return OpCase(
          inputs: [Domain.real(-2, 2).array(shape, &g), Domain.real(-2, 2).array([last], &g), Domain.real(-2, 2).array([last], &g)],
          build: { xs, _ in try layerNormalization(xs[0], gamma: xs[1], beta: xs[2]) },
          reference: { v in
            let r = shape.count - 1
            let (xh, _, _) = refNormalize(v[0], r, r, epsilon: 1e-3)
            let gamma = v[1].doubles, beta = v[2].doubles
            return arr(xh.indices.map { gamma[$0 % last] * xh[$0] + beta[$0 % last] }, shape)
          })
      }))
  t.append(
    OpEntry(
      name: "batchNormalization", covers: ["Rsqrt", "Mul", "Add", "Neg"], arity: 5,
      domain: "x, mean, offset, scale reals in [-2, 2]; variance in [0.2, 2]; statistics of the last axis", dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        var shape = familyShape(k, &g, minRank: 1, maxRank: 4)
        shape[shape.count - 1] = 1 + g.choice(3)
        let c = shape.last!
        let r = Domain.real(-2, 2)
        return OpCase(
          inputs: [r.array(shape, &g), r.array([c], &g), Domain.positive.array([c], &g), r.array([c], &g), r.array([c], &g)],
          build: { xs, _ in try batchNormalization(xs[0], mean: xs[1], variance: xs[2], offset: xs[3], scale: xs[4], epsilon: 1e-3) },
          reference: { v in
            let x = v[0].doubles, m = v[1].doubles, s2 = v[2].doubles, beta = v[3].doubles, gamma = v[4].doubles
            return arr(
              x.indices.map { i in
                let j = i % c
                return gamma[j] * (x[i] - m[j]) / Foundation.sqrt(s2[j] + 1e-3) + beta[j]
              }, shape)
          })
      }))
  t.append(
    OpEntry(
      name: "embeddingLookup", covers: ["GatherV2", "ScatterAdd"], arity: 2,
      domain: "table reals in [-2, 2] [V, D]; int32 ids in 0..<V of rank 0-2, repeated", dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let v = 1 + g.choice(4), d = 1 + g.choice(3)
        let idShape = familyShape(k, &g, maxRank: 2)
        let ids = (0..<idShape.reduce(1, *)).map { _ in g.choice(v) }
        return OpCase(
          inputs: [Domain.real(-2, 2).array([v, d], &g), ints(ids, idShape)],
          build: { xs, _ in try embeddingLookup(xs[0], ids: xs[1]) },
          reference: { a in
            let table = a[0].doubles
            return arr(ids.flatMap { i in (0..<d).map { table[i * d + $0] } }, idShape + [d])
          })
      }))
  t.append(
    OpEntry(
      name: "flatten", covers: ["Reshape"], arity: 1, domain: "reals in [-2, 2], rank 1-4", dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, minRank: 1, maxRank: 4)
        return OpCase(
          inputs: [Domain.real(-2, 2).array(shape, &g)], build: { xs, _ in try flatten(xs[0]) },
          reference: { x in arr(x[0].doubles, [shape[0], shape.dropFirst().reduce(1, *)]) })
      }))
  return t
}
