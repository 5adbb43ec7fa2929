import Foundation
import Plotting
import Testing

@Suite struct FormattingTests {
  @Test func fixedDecimals() {
    #expect(formatFixed(3.14159, decimals: 2) == "3.14")
    #expect(formatFixed(-0.005, decimals: 2) == "-0.01")
    #expect(formatFixed(-0.004, decimals: 2) == "0.00")
    #expect(formatFixed(12, decimals: 0) == "12")
    #expect(formatFixed(0.5, decimals: 3) == "0.500")
    #expect(formatFixed(.nan, decimals: 2) == "nan")
    #expect(formatFixed(-.infinity, decimals: 2) == "-inf")
  }

  @Test func compactNumbers() {
    #expect(formatCompact(26.1222) == "26.12")
    #expect(formatCompact(0.0123456) == "0.01235")  // 4 significant digits
    #expect(formatCompact(1400) == "1400")
    #expect(formatCompact(-1) == "-1")
    #expect(formatCompact(0) == "0")
    #expect(formatCompact(0.00001234) == "1.234e-5")
    #expect(formatCompact(2_500_000) == "2.5e6")
    #expect(formatCompact(9.99996e-5) == "1e-4")  // mantissa rounding carries into the exponent
  }

  @Test func niceLinearTicks() {
    // Range 97 over 5 intervals: 19.4 -> step 20; axis [0, 100].
    let t = AxisTicks.linear(minimum: 3, maximum: 97, count: 6)
    #expect(t.step == 20)
    #expect(t.lower == 0 && t.upper == 100)
    #expect(t.values == [0, 20, 40, 60, 80, 100])
    #expect(t.labels == ["0", "20", "40", "60", "80", "100"])
    // Steps below one get decimals: range 0.7 / 4 = 0.175 -> 0.2.
    let small = AxisTicks.linear(minimum: -0.1, maximum: 0.6, count: 5)
    #expect(small.step == 0.2)
    #expect(small.labels == ["-0.2", "0", "0.2", "0.4", "0.6"])
    // Tight: the axis keeps the data range; ticks are the multiples of the step inside it.
    let tight = AxisTicks.linear(minimum: 1, maximum: 100, count: 8, tight: true)
    #expect(tight.lower == 1 && tight.upper == 100)
    #expect(tight.values == [20, 40, 60, 80, 100])
    // A single value is widened so the axis is not empty.
    let flat = AxisTicks.linear(minimum: 5, maximum: 5)
    #expect(flat.lower < 5 && flat.upper > 5)
  }

  @Test func logarithmicTicks() {
    let t = AxisTicks.logarithmic(minimum: 0.0006, maximum: 98)
    #expect(t.values == [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100])
    #expect(t.labels == ["1e-4", "1e-3", "1e-2", "1e-1", "1", "1e1", "1e2"])
    // 36 decades: one tick every 10.
    let wide = AxisTicks.logarithmic(minimum: 20, maximum: 3e36, count: 6)
    #expect(wide.values == [1, 1e10, 1e20, 1e30, 1e40])
    #expect(wide.labels == ["1", "1e10", "1e20", "1e30", "1e40"])
    let plain = AxisTicks.logarithmic(minimum: 0.02, maximum: 30)
    #expect(plain.labels == ["0.01", "0.1", "1", "10", "100"])
  }

  @Test func exponentialMovingAverageMatchesClosedForm() {
    let xs = [4.0, 1, 7, 2, 8, 3]
    let w = 0.6
    let smoothed = exponentialMovingAverage(xs, weight: w)
    // Closed form: s_t = Σ_{i≤t} w^(t-i)(1-w) x_i / (1 - w^t).
    for t in 1...xs.count {
      var numerator = 0.0
      for i in 1...t { numerator += pow(w, Double(t - i)) * (1 - w) * xs[i - 1] }
      let expected = numerator / (1 - pow(w, Double(t)))
      #expect(abs(smoothed[t - 1] - expected) < 1e-12)
    }
    #expect(smoothed[0] == 4)  // bias correction: the first value is kept
  }

  @Test func movingAverageSkipsNonFinite() {
    let s = exponentialMovingAverage([2, .nan, 4], weight: 0.5)
    #expect(s[0] == 2)
    #expect(s[1].isNaN)
    // m = 0.5·1 + 0.5·4 = 2.5 after two finite values, so s = 2.5 / (1 − 0.5²).
    #expect(abs(s[2] - 2.5 / 0.75) < 1e-12)
  }

  @Test func sparklineLevels() {
    #expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█")
    #expect(sparkline([10, 0, 10]) == "█▁█")
    #expect(sparkline([3, 3, 3]) == "▄▄▄")
    #expect(sparkline([1, .nan, 2]) == "▁ █")
    #expect(sparkline([]) == "")
    // Eight values into four buckets of two: means 0.5, 2.5, 4.5, 6.5 over [0.5, 6.5].
    #expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], width: 4) == "▁▃▆█")
    // Logarithmic: log₁₀ = 0, 1, 2, 3 → levels ⌊0⌋, ⌊8/3⌋, ⌊16/3⌋, 7; zero has no logarithm.
    #expect(sparkline([1, 10, 100, 1000, 0], scale: .logarithmic) == "▁▃▆█ ")
  }

  @Test func progressLines() {
    let p = ProgressLine(step: 350, total: 1400, loss: 0.0123, elapsed: 2)
    #expect(p.stepsPerSecond == 175)
    #expect(p.secondsLeft == 6)
    #expect(p.plain() == "step  350/1400  loss 0.0123  175 steps/s  ETA 0:06")
    #expect(p.bar(width: 8) == "[██░░░░░░]  350/1400   25%  loss 0.0123  175 steps/s  ETA 0:06")
    let done = ProgressLine(step: 10, total: 10, loss: nil, elapsed: 3725)
    #expect(done.plain().hasSuffix("1:02:05"))
    #expect(!done.plain().contains("ETA"))
    #expect(!p.plain().contains("\r"))
  }
}
