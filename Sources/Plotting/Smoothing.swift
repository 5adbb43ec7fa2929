/// The exponential moving average of `values` with bias correction, as TensorBoard smooths
/// learning curves:
///
///     m₀ = 0,  mₜ = w·mₜ₋₁ + (1 − w)·xₜ,  sₜ = mₜ / (1 − wⁿ)
///
/// where `n` counts the finite values seen so far (so `s₁ = x₁` and early values are not pulled
/// toward zero). Non-finite values are skipped: they leave the average unchanged and give
/// `.nan` at their own position (a gap in a plot). `weight` is clamped to `0...0.9999`;
/// `0` returns the values unchanged.
public func exponentialMovingAverage(_ values: [Double], weight: Double = 0.9) -> [Double] {
  let w = min(max(weight.isFinite ? weight : 0, 0), 0.9999)
  var m = 0.0
  var decay = 1.0  // wⁿ
  var out: [Double] = []
  out.reserveCapacity(values.count)
  for x in values {
    guard x.isFinite else {
      out.append(.nan)
      continue
    }
    m = w * m + (1 - w) * x
    decay *= w
    out.append(m / (1 - decay))
  }
  return out
}

/// A smoothing weight that suits a curve of `count` points: about `1 − 1/(count/20)`, from 0
/// (no smoothing below 20 points) up to 0.99.
public func suggestedSmoothingWeight(count: Int) -> Double {
  guard count > 20 else { return 0 }
  return min(0.99, 1 - 20 / Double(count))
}
