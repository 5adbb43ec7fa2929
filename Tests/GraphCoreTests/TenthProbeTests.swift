import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// The tenth probe (RELIABILITY.md, "The tenth probe: numerics at the edges"): large and small
/// magnitudes, special values (NaN, ±∞, -0) and their gradients, against float64 hand
/// computations, Foundation's functions and TensorFlow/PyTorch values (Scripts/reference/tenth_probe.py).
@Suite struct TenthProbeTests {
  private func array(_ v: [Double], _ dtype: DType, shape: Shape? = nil) -> NDArray {
    NDArray(converting: v, shape: shape ?? [v.count], dtype: dtype)
  }

  /// `logSumExp` of a row whose maximum is infinite: TensorFlow's `reduce_logsumexp` shifts by 0
  /// there (`-∞` for a row of `-∞`, a masked row; `+∞` with a `+∞`). It subtracted the maximum
  /// itself, `∞ - ∞ = NaN`, while `logSoftmax` (the same shift in its kernel) gave TF's values.
  @Test(arguments: [DType.float32, .float64])
  func logSumExpOfARowWithAnInfiniteMaximumIsTensorFlows(dtype: DType) throws {
    let inf = Double.infinity
    let x = array([-inf, -inf, inf, 1, -inf, 0, 1e30, -1e30], dtype, shape: [4, 2])
    let y = try logSumExp(Tensor(x), axes: [1]).value.doubles
    #expect(y[0] == -inf && y[1] == inf && y[2] == 0 && y[3] == x.doubles[6], "\(y)")
    let k = try logSumExp(Tensor(x), axes: [1], keepDims: true).value
    #expect(k.shape == [4, 1] && k.doubles[0] == -inf)
    // All elements: one +∞ makes it +∞.
    #expect(try logSumExp(Tensor(x)).value.doubles == [inf])
    // Finite rows keep their gradient, softmax(x).
    let (_, g) = try valueWithGradient(at: array([1e4, 0, -1e3, 1e3], dtype, shape: [2, 2])) { t in try sum(logSumExp(t, axes: [1])) }
    #expect(g.doubles == [1, 0, 0, 1], "\(g.doubles)")
  }

  /// Max pooling over a window holding NaN: NaN, wherever the NaN is (as the `max` reduction,
  /// `maximum` and PyTorch's `max_pool2d`), and the gradient goes to the window's first NaN.
  /// Before: the comparison `s > best` kept a NaN only in the window's first position; a NaN
  /// elsewhere was skipped (`[1, NaN, 3, 2]` pooled to 3), and a NaN first gave NaN with the
  /// gradient lost (no position equals NaN). Both the general loops (1 channel, float64) and
  /// the AVX2 2x2 kernel (8 float channels) on every path.
  @Test(arguments: [DType.float32, .float64])
  func maxPoolingPropagatesNaNWhereverItIsAndRoutesTheGradientToIt(dtype: DType) throws {
    let nan = Double.nan
    for isa in KernelSettings.availableInstructionSets {
      try KernelSettings.withInstructionSet(isa) { () throws -> Void in
        for (window, firstNaN) in [([1, nan, 3, 2], 1), ([nan, 1, 3, 2], 0), ([1, 3, 2, nan], 3), ([4, nan, nan, 2], 1), ([1, 3, 2, 0], -1)] {
          for c in [1, 8] {
            var values: [Double] = []
            for v in window { values += Array(repeating: v, count: c) }
            let x = array(values, dtype, shape: [1, 2, 2, c])
            let y = try maxPool2d(Tensor(x), window: [2, 2]).value.doubles
            let (_, g) = try valueWithGradient(at: x) { t in try sum(maxPool2d(t, window: [2, 2]) * 2) }
            let routed = (0..<4).map { p in g.doubles[p * c] }
            let allNaN = y.allSatisfy { $0.isNaN }, allThree = y.allSatisfy { $0 == 3 }
            if firstNaN >= 0 {
              #expect(allNaN, "\(isa) \(dtype) \(window) c=\(c): \(y)")
              #expect(routed == (0..<4).map { $0 == firstNaN ? 2 : 0 }, "\(isa) \(dtype) \(window) c=\(c): gradient \(g.doubles)")
            } else {
              #expect(allThree && routed == [0, 2, 0, 0], "\(isa) \(dtype) \(window) c=\(c)")
            }
          }
        }
      }
    }
  }

  /// Layer normalization (the `Normalize` kernel) of float32 values 1e4 + noise of 0.01: the
  /// statistics were right (summed in double) but `x̂` was computed as `x · s + (-μ · s)` in
  /// float32, `s ≈ 31`: two products near 3·10⁵ whose difference is about 1, so 1e-3 to 1e-2
  /// of absolute error (TensorFlow's `tf.nn.batch_normalization` form, 3e-3 in Keras's
  /// `LayerNormalization` on such data; PyTorch's `layer_norm` 5e-4). Now `(x - μ) · s` in
  /// double, rounded once: within a few float32 ulps of the truth (sums compensated).
  @Test(arguments: [DType.float32, .float64])
  func normalizationOfValuesWithALargeOffsetKeepsItsDigits(dtype: DType) throws {
    var rng = SeededGenerator(seed: 26)
    let n = 64
    let x = array((0..<(2 * n)).map { i in (i < n ? 1e4 : -3e5) + rng.nextUniform() * 0.01 }, dtype, shape: [2, n])
    let v = x.doubles
    // The truth: the sums compensated (Neumaier), so that their rounding is below a double's
    // ulp of the sum whatever the order (a plain double sum of 64 values near -3e5 is off by a
    // few ulps of 2e7, which the division by σ ≈ 3e-3 turns into about 1e-10 of x̂).
    func compensatedSum(_ terms: [Double]) -> Double {
      var sum = 0.0, carry = 0.0
      for t in terms {
        let next = sum + t
        carry += Swift.abs(sum) >= Swift.abs(t) ? (sum - next) + t : (t - next) + sum
        sum = next
      }
      return sum + carry
    }
    var truth: [Double] = []
    for r in 0..<2 {
      let row = Array(v[(r * n)..<((r + 1) * n)])
      let mu = compensatedSum(row) / Double(n)
      let variance = compensatedSum(row.map { ($0 - mu) * ($0 - mu) }) / Double(n)
      truth += row.map { ($0 - mu) / Foundation.sqrt(variance + 1e-3) }
    }
    let y = try layerNormalization(Tensor(x)).value.doubles
    let worst = zip(y, truth).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), 1) }.max()!
    // float32: a few of its ulps (the sums and x − μ in double are exact enough). float64:
    // centering is ill-conditioned here, |x| / σ ≈ 1e8, so a double computation in any summation
    // order is off by that many ulps of 1 at worst (the plain in-order sums: 1.8e-9, as the
    // kernel's partial sums).
    let conditioning = v.map(Swift.abs).max()! / 0.01 * 12.squareRoot()
    let bound = dtype == .float32 ? 4 * 0x1p-23 : 4 * 0x1p-52 * conditioning
    #expect(worst <= bound, "\(dtype): error \(worst) of the compensated float64 truth (bound \(bound))")
    let t = try normalize(Tensor(NDArray(converting: v, shape: [2, n, 1], dtype: dtype)), axes: [1]).normalized.value.doubles
    #expect(t == y, "normalize over a middle axis gives layerNormalization's values")
  }

  /// `withNumericChecks` names the first eager operation whose result holds NaN or ±∞ (its type
  /// and name), also inside a gradient (`√x` at 0: the gradient's division gives +∞), and lets
  /// finite results pass.
  @Test func numericChecksNameTheFirstOperationThatOverflows() throws {
    let x = Tensor(array([1, 0], .float32))
    let fine = try withNumericChecks { try exp(x).value }
    #expect(fine.doubles == [Double(Float(M_E)), 1])
    do {
      _ = try withNumericChecks { try exp(log(x, name: "log_of_zero") * 2, name: "after") }
      Issue.record("log(0) was not reported")
    } catch let SessionError.nonFinite(op, name, _) {
      #expect(op == "Log" && name.hasSuffix("log_of_zero"), "\(op) \(name)")
    }
    do {
      _ = try withNumericChecks { try valueWithGradient(at: array([4, 0], .float32)) { t in try sum(sqrt(t)) } }
      Issue.record("the gradient of √x at 0 was not reported")
    } catch let SessionError.nonFinite(op, _, _) {
      #expect(!op.isEmpty)
    }
  }

  /// Sums of 10⁶ float32 values over each kind of axis (all, the last, the first, a middle one)
  /// against float64 sums of the same values: within 2e-6 relative (the vectorized sums keep 32
  /// partial sums; the others add in order).
  @Test func sumsOfAMillionFloatsAreAccurate() throws {
    var rng = SeededGenerator(seed: 10)
    let values = (0..<1_000_000).map { _ in Double(Float(1 + 2 * rng.nextUniform())) }
    let x = NDArray(converting: values, shape: [10, 50_000, 2], dtype: .float32)
    func truth(_ axes: [Int]) -> [Double] {
      let shape = [10, 50_000, 2]
      var keptShape = shape
      for a in axes { keptShape[a] = 1 }
      var out = [Double](repeating: 0, count: keptShape.reduce(1, *))
      for (i, v) in values.enumerated() {
        let idx = [i / 100_000, (i / 2) % 50_000, i % 2]
        var o = 0
        for d in 0..<3 { o = o * keptShape[d] + (axes.contains(d) ? 0 : idx[d]) }
        out[o] += v
      }
      return out
    }
    for axes in [[0, 1, 2], [2], [1, 2], [0], [0, 1], [1]] {
      let got = try sum(Tensor(x), axes: axes).value.doubles
      let want = truth(axes)
      let worst = zip(got, want).map { Swift.abs($0 - $1) / $1 }.max()!
      #expect(worst <= (axes == [1] ? 1e-5 : 2e-6), "axes \(axes): relative error \(worst)")
    }
    // One axis of 10⁶ between axes of size 1.
    let column = NDArray(converting: values, shape: [1, 1_000_000, 1], dtype: .float32)
    let total = values.reduce(0, +)
    for axes in [[1], [0, 1], [1, 2]] {
      let got = try sum(Tensor(column), axes: axes).value.doubles[0]
      print("TenthProbe sum", axes, (got - total) / total)
      #expect(Swift.abs(got - total) / total <= 2e-6, "[1, 10⁶, 1] over \(axes): \(got) against \(total)")
    }
  }

  /// Approximate gelu's gradient at large |x|: `x³` overflowed inside the tanh (beyond about
  /// 1e13 in float32, 1e102 in float64), and the chain rule's `0 · ∞` made the gradient NaN
  /// (as TensorFlow's: NaN at 1e20 in Scripts/reference/tenth_probe.log) where it is 1 or 0.
  /// The values and the other gradients are unchanged, bit for bit.
  @Test(arguments: [DType.float32, .float64])
  func approximateGeluHasAFiniteGradientAtLargeInputs(dtype: DType) throws {
    let x = array([1e20, -1e20, 1e30, -1e30, 3, -0.5, 9.5, -9.5, 11, -11] + (dtype == .float64 ? [1e200, -1e200] : []), dtype)
    let (_, g) = try valueWithGradient(at: x) { t in try sum(gelu(t, approximate: true)) }
    let y = try gelu(Tensor(x), approximate: true).value.doubles
    let c = (2 / Double.pi).squareRoot()
    for (i, v) in x.doubles.enumerated() {
      let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
      let value = 0.5 * v * (1 + t)
      let slope = Swift.abs(v) > 20 ? (v > 0 ? 1.0 : 0.0) : 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
      #expect(Swift.abs(g.doubles[i] - slope) <= 1e-6, "\(dtype) x = \(v): gradient \(g.doubles[i]), expected \(slope)")
      #expect(Swift.abs(y[i] - value) <= 1e-6 * Swift.max(1, Swift.abs(value)), "\(dtype) x = \(v): \(y[i]), expected \(value)")
    }
  }
}
