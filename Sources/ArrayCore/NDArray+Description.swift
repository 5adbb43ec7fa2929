extension NDArray: CustomStringConvertible {
  /// Prints like NumPy's `str(array)`: `[9.932316]`, `[[0.03685168]]`, `[1 2 3]`, `[ True False]`.
  ///
  /// Floats use NumPy's default: the shortest decimal that round-trips in the array's own
  /// precision, with at most 8 fractional digits, switching to scientific notation when the
  /// smallest non-zero magnitude is below 1e-4 or the largest is at least 1e8 or the ratio of
  /// largest to smallest is above 1e3 (NumPy `array2string`, `floatmode='maxprec'`).
  public var description: String {
    let cells = formattedCells()
    if rank == 0 { return cells.first ?? "" }
    // NumPy aligns floats on the decimal point: integer parts padded on the left, fractions
    // on the right; other types are right-aligned.
    let split = cells.map { cell -> (String, String) in
      guard dtype.isFloatingPoint, let dot = cell.firstIndex(of: ".") else { return (cell, "") }
      return (String(cell[..<dot]), String(cell[dot...]))
    }
    let left = split.map(\.0.count).max() ?? 0
    let right = split.map(\.1.count).max() ?? 0
    let padded = split.map { (l, r) in
      String(repeating: " ", count: left - l.count) + l + r
        + String(repeating: " ", count: r.isEmpty && dtype.isFloatingPoint ? 0 : right - r.count)
    }
    var index = 0
    func nest(_ dim: Int, indent: Int) -> String {
      if dim == rank - 1 {
        let n = shape[dim]
        let row = padded[index..<(index + n)].joined(separator: " ")
        index += n
        return "[" + row + "]"
      }
      var parts: [String] = []
      for _ in 0..<shape[dim] { parts.append(nest(dim + 1, indent: indent + 1)) }
      let sep = String(repeating: "\n", count: rank - dim - 1) + String(repeating: " ", count: indent + 1)
      return "[" + parts.joined(separator: sep) + "]"
    }
    if elementCount == 0 { return String(repeating: "[", count: rank) + String(repeating: "]", count: rank) }
    return nest(0, indent: 0)
  }

  private func formattedCells() -> [String] {
    switch dtype {
    case .int32: return doubles.map { String(Int($0)) }
    case .bool: return withUnsafeBufferPointer(as: Bool.self) { $0.map { $0 ? "True" : "False" } }
    case .float32:
      return formatFloats(withUnsafeBufferPointer(as: Float.self) { $0.map { ShortestDecimal($0) } })
    case .float64:
      return formatFloats(withUnsafeBufferPointer(as: Double.self) { $0.map { ShortestDecimal($0) } })
    }
  }

  private func formatFloats(_ values: [ShortestDecimal]) -> [String] {
    let finite = values.filter { $0.value.isFinite && $0.value != 0 }.map { Swift.abs($0.value) }
    let maxV = finite.max() ?? 0
    let minV = finite.min() ?? 0
    let scientific = !finite.isEmpty && (minV < 1e-4 || maxV >= 1e8 || maxV / minV > 1e3)
    if scientific {
      let digits = Swift.min(8, values.map(\.significantDigits).max() ?? 1)
      return values.map { $0.scientific(fractionDigits: Swift.max(digits - 1, 0)) }
    }
    let frac = Swift.min(8, values.map(\.fractionDigits).max() ?? 0)
    return values.map { $0.positional(fractionDigits: frac) }
  }
}

/// A float's shortest round-trip decimal digits (Swift's `description` gives them).
struct ShortestDecimal {
  let value: Double
  let negative: Bool
  let digits: [UInt8]  // significant digits, no leading zeros
  let exponent: Int  // value = 0.d1d2d3... * 10^exponent

  init<F: BinaryFloatingPoint & LosslessStringConvertible>(_ x: F) {
    value = Double(x)
    negative = x < 0 || (x == 0 && x.sign == .minus)
    guard x.isFinite, x != 0 else { digits = []; exponent = 0; return }
    var text = Swift.abs(x).description  // e.g. "9.932316", "9.619727e-05", "1e+20"
    var exp = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
      exp = Int(text[text.index(after: e)...]) ?? 0
      text = String(text[..<e])
    }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let intPart = String(parts[0])
    let fracPart = parts.count > 1 ? String(parts[1]) : ""
    var all = Array((intPart + fracPart).utf8).map { $0 - 48 }
    var pointPos = intPart.count + exp
    while let f = all.first, f == 0 { all.removeFirst(); pointPos -= 1 }
    while let l = all.last, l == 0 { all.removeLast() }
    digits = all
    exponent = pointPos
  }

  var fractionDigits: Int { Swift.max(0, digits.count - exponent) }
  var significantDigits: Int { Swift.max(1, digits.count) }

  private var special: String? {
    if value.isNaN { return "nan" }
    if value.isInfinite { return negative ? "-inf" : "inf" }
    return nil
  }

  func positional(fractionDigits frac: Int) -> String {
    if let s = special { return s }
    let rounded = round(toFraction: frac)
    let sign = negative ? "-" : ""
    var intDigits = ""
    var fracDigits = ""
    let (ds, e) = rounded
    if e <= 0 { intDigits = "0" } else {
      for i in 0..<e { intDigits += i < ds.count ? String(ds[i]) : "0" }
    }
    for j in 0..<frac {
      let i = e + j
      fracDigits += (i >= 0 && i < ds.count) ? String(ds[i]) : "0"
    }
    // NumPy trims trailing zeros in maxprec mode but keeps the point: "1." and "0.5".
    while fracDigits.hasSuffix("0") { fracDigits.removeLast() }
    return sign + intDigits + "." + fracDigits
  }

  func scientific(fractionDigits frac: Int) -> String {
    if let s = special { return s }
    if digits.isEmpty { return (negative ? "-" : "") + "0.e+00" }
    var ds = digits
    var e = exponent - 1
    if ds.count > frac + 1 {
      ds = roundDigits(ds, keep: frac + 1, exponent: &e)
    }
    var mant = String(ds[0]) + "."
    for i in 1..<Swift.max(ds.count, 1) { mant += String(ds[i]) }
    while mant.hasSuffix("0") && !mant.hasSuffix(".") { mant.removeLast() }
    let es = e < 0 ? "-" : "+"
    let ev = Swift.abs(e)
    return (negative ? "-" : "") + mant + "e" + es + (ev < 10 ? "0" : "") + String(ev)
  }

  private func round(toFraction frac: Int) -> ([UInt8], Int) {
    let keep = exponent + frac
    if keep >= digits.count { return (digits, exponent) }
    if keep < 0 { return ([], exponent) }
    var e = exponent
    let ds = roundDigits(digits, keep: keep, exponent: &e)
    return (ds, e)
  }

  /// Keeps `keep` significant digits, rounding half to even on the exact decimal digits.
  private func roundDigits(_ ds: [UInt8], keep: Int, exponent e: inout Int) -> [UInt8] {
    var out = Array(ds.prefix(keep))
    let rest = ds.dropFirst(keep)
    guard let first = rest.first else { return out }
    let tail = rest.dropFirst().contains { $0 != 0 }
    let roundUp = first > 5 || (first == 5 && (tail || (out.last.map { $0 % 2 == 1 } ?? false)))
    if roundUp {
      var i = out.count - 1
      while i >= 0 {
        if out[i] == 9 { out[i] = 0; i -= 1 } else { out[i] += 1; break }
      }
      if i < 0 { out.insert(1, at: 0); e += 1 }
    }
    return out
  }
}
