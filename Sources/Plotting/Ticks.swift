/// Axis ticks at "nice" values: steps of 1, 2 or 5 times a power of ten, with an axis range
/// widened outward to whole steps (the nice-numbers method of Heckbert, *Graphics Gems*, 1990).
public struct AxisTicks: Sendable, Equatable {
  /// The lower end of the axis (a multiple of `step` on a linear axis).
  public var lower: Double
  /// The upper end of the axis.
  public var upper: Double
  /// The distance between ticks (a linear axis), or `1` decade (a logarithmic axis).
  public var step: Double
  /// The tick positions, in data units, ascending, from `lower` to `upper`.
  public var values: [Double]
  /// The tick labels, one per value, with as many decimals as `step` needs.
  public var labels: [String]

  /// Nice ticks for a linear axis that covers `[minimum, maximum]` with about `count` ticks.
  ///
  /// The step is `nice((maximum - minimum) / (count - 1))` where `nice(r)` is the smallest
  /// of `1, 2, 5, 10 × 10^⌊log₁₀ r⌋` that is `≥ r`; the range becomes
  /// `[⌊minimum/step⌋·step, ⌈maximum/step⌉·step]`, or stays `[minimum, maximum]` when `tight`
  /// (the ticks are then the multiples of the step inside it). An empty range
  /// (`minimum == maximum`) is widened to `value ± 1` (or `± |value|/10`); non-finite bounds
  /// give the axis `[0, 1]`.
  public static func linear(minimum: Double, maximum: Double, count: Int = 6, tight: Bool = false) -> AxisTicks {
    var lo = min(minimum, maximum)
    var hi = max(minimum, maximum)
    if !(lo.isFinite && hi.isFinite) {
      lo = 0
      hi = 1
    }
    if hi - lo <= abs(hi) * 1e-12 {
      let pad = lo == 0 ? 1 : abs(lo) / 10
      lo -= pad
      hi += pad
    }
    // A range wider than the largest Double (-1e308...1e308) is divided in halves: its width
    // overflowed to infinity, the step fell back to 1, and the loop below counted 2e308 ticks
    // (a hang).
    let intervals = Double(max(1, count - 1))
    let step = niceStep((hi - lo).isFinite ? (hi - lo) / intervals : (hi / 2 - lo / 2) / intervals * 2)
    let slack = step * 1e-9
    // Ends widened to whole steps stay in the range when they would leave `Double` (tight).
    let tight = tight || !((lo / step).rounded(.down) * step).isFinite || !((hi / step).rounded(.up) * step).isFinite
    let first = tight ? ((lo - slack) / step).rounded(.up) : (lo / step).rounded(.down)
    let last = tight ? ((hi + slack) / step).rounded(.down) : (hi / step).rounded(.up)
    let decimals = max(0, -Int(log10Floor(step)))
    var values: [Double] = []
    var k = first
    while k <= last + 0.5, values.count <= 10 * max(count, 1) + 10 {
      // k * step, snapped so that 0.1 * 3 prints as 0.3.
      values.append((k * step * power10(decimals)).rounded() / power10(decimals))
      k += 1
    }
    let useExponent = step < 1e-4 || max(abs(first * step), abs(last * step)) >= 1e6
    let labels = values.map { v -> String in
      if v == 0 { return "0" }
      return useExponent ? formatCompact(v, significantDigits: 3) : formatFixed(v, decimals: decimals)
    }
    return AxisTicks(
      lower: tight ? lo : first * step, upper: tight ? hi : last * step, step: step, values: values, labels: labels)
  }

  /// Ticks for a base-10 logarithmic axis covering the positive `[minimum, maximum]`: one tick
  /// per power of ten from `10^⌊log₁₀ minimum⌋` to `10^⌈log₁₀ maximum⌉`, or one every 2, 5,
  /// 10, 20... decades when there would be more than about `count`, labelled `0.01`, `1`, `100` when all lie
  /// in 0.001...10000 and `1e-5`, `1`, `1e2` otherwise. `lower`/`upper` are in data units.
  public static func logarithmic(minimum: Double, maximum: Double, count: Int = 6) -> AxisTicks {
    var lo = min(minimum, maximum)
    var hi = max(minimum, maximum)
    if !(lo.isFinite && hi.isFinite && lo > 0) {
      lo = 0.1
      hi = 1
    }
    var e0 = Int(log10Floor(lo))
    var e1 = Int(log10Floor(hi))
    if power10(e1) < hi { e1 += 1 }
    if e1 == e0 {
      e0 -= 1
      e1 += 1
    }
    // Every decade, or every 2nd, 5th, 10th, 20th... so that there are at most `count` ticks;
    // the ends move out to multiples of that stride.
    let stride = max(1, Int(niceStep(Double(e1 - e0) / Double(max(1, count)))))
    e0 = Int((Double(e0) / Double(stride)).rounded(.down)) * stride
    e1 = Int((Double(e1) / Double(stride)).rounded(.up)) * stride
    let exponents = Swift.stride(from: e0, through: e1, by: stride).map { $0 }
    let values = exponents.map(power10)
    // Plain decimals when every tick is between 0.001 and 10000, else all `1e-5` style.
    let plain = exponents.allSatisfy { (-3...4).contains($0) }
    let labels = exponents.map { e -> String in
      plain ? formatFixed(power10(e), decimals: max(0, -e)) : (e == 0 ? "1" : "1e" + String(e))
    }
    return AxisTicks(lower: power10(e0), upper: power10(e1), step: 1, values: values, labels: labels)
  }
}

/// The smallest of 1, 2, 5 or 10 times a power of ten that is at least `raw` (raw > 0).
func niceStep(_ raw: Double) -> Double {
  guard raw.isFinite, raw > 0 else { return 1 }
  let exponent = log10Floor(raw)
  let base = power10(Int(exponent))
  let fraction = raw / base
  let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
  return nice * base
}
