// Number formatting without Foundation: fixed decimals for SVG coordinates and tick labels,
// shortest round-trip text for logs.

/// Formats `value` with exactly `decimals` digits after the point (`formatFixed(3.14159, 2)`
/// is `"3.14"`), rounding half away from zero. Non-finite values give `"nan"`, `"inf"` or
/// `"-inf"`; magnitudes beyond 1e15 fall back to `value.description`.
public func formatFixed(_ value: Double, decimals: Int) -> String {
  guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
  let d = max(0, min(decimals, 12))
  var scale = 1.0
  for _ in 0..<d { scale *= 10 }
  let scaled = (abs(value) * scale).rounded()
  guard scaled < 9e15 else { return value.description }
  let digits = String(UInt64(scaled))
  let negative = value < 0 && scaled != 0
  var text: String
  if d == 0 {
    text = digits
  } else {
    let padded = String(repeating: "0", count: max(0, d + 1 - digits.count)) + digits
    let split = padded.index(padded.endIndex, offsetBy: -d)
    text = String(padded[..<split]) + "." + String(padded[split...])
  }
  return negative ? "-" + text : text
}

/// Formats `value` compactly: fixed notation with up to `significantDigits` significant digits
/// and no trailing zeros (`0.0123`, `26.12`, `1400`), or `1.5e-7` style when the magnitude is
/// below 1e-4 or at least 1e6.
public func formatCompact(_ value: Double, significantDigits: Int = 4) -> String {
  guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
  if value == 0 { return "0" }
  let magnitude = abs(value)
  let exponent = Int((log10Floor(magnitude)))
  if magnitude < 1e-4 || magnitude >= 1e6 {
    var mantissa = value / power10(exponent)
    var e = exponent
    // Rounding can carry the mantissa to 10 (9.9996 -> 10.000).
    if abs((mantissa * power10(significantDigits - 1)).rounded()) >= power10(significantDigits) {
      mantissa /= 10
      e += 1
    }
    return trimZeros(formatFixed(mantissa, decimals: significantDigits - 1)) + "e" + String(e)
  }
  let decimals = max(0, significantDigits - 1 - exponent)
  return trimZeros(formatFixed(value, decimals: decimals))
}

/// `floor(log10(x))` for positive finite `x`, exact at powers of ten.
func log10Floor(_ x: Double) -> Double {
  var e = 0
  var v = x
  while v >= 10 {
    v /= 10
    e += 1
  }
  while v < 1 {
    v *= 10
    e -= 1
  }
  return Double(e)
}

/// `10^n`, correctly rounded (parsed from `1e<n>`, so `power10(30)` is exactly the double
/// nearest 10³⁰, which repeated multiplication misses).
func power10(_ n: Int) -> Double { Double("1e\(n)") ?? .nan }

/// Removes trailing zeros after a decimal point, and the point itself if nothing follows.
func trimZeros(_ text: String) -> String {
  guard text.contains(".") else { return text }
  var t = Substring(text)
  while t.last == "0" { t.removeLast() }
  if t.last == "." { t.removeLast() }
  return String(t)
}
