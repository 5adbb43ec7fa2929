/// A seedable pseudo-random number generator that gives the same numbers for the same seed on
/// every run and every machine.
///
/// The core is xoshiro256** (Blackman & Vigna, 2018) seeded through SplitMix64. Normal samples
/// use the Marsaglia polar method with a logarithm computed here from IEEE 754 arithmetic alone
/// (no platform `libm` call), so results are bit-identical across operating systems.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable {
  // Visible to inlined code (`next()` is inlined into callers' loops, such as the dropout masks',
  // instead of a call per number); not part of the API.
  @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
  private var spareNormal: Double?

  /// Creates a generator from a 64-bit seed.
  public init(seed: UInt64) {
    var z = seed
    func splitMix() -> UInt64 {
      z &+= 0x9E37_79B9_7F4A_7C15
      var x = z
      x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
      x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
      return x ^ (x >> 31)
    }
    s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
  }

  /// The generator's whole state as text, so that a checkpoint can carry it: the four words of
  /// xoshiro256** in hexadecimal, and a fifth, the bits of a normal sample drawn in a pair and
  /// not yet used, when there is one (`"9e3779b97f4a7c15 ..."`).
  package var stateText: String {
    ([s0, s1, s2, s3] + (spareNormal.map { [$0.bitPattern] } ?? [])).map { String($0, radix: 16) }.joined(separator: " ")
  }

  /// The generator whose state ``stateText`` wrote; `nil` for text it cannot have written
  /// (another word count, a word that is not hexadecimal, the all-zero state xoshiro never leaves).
  package init?(stateText: String) {
    let words = stateText.split(separator: " ").map { UInt64($0, radix: 16) }
    guard words.count == 4 || words.count == 5, !words.contains(nil), words[0..<4].contains(where: { $0 != 0 }) else { return nil }
    (s0, s1, s2, s3) = (words[0]!, words[1]!, words[2]!, words[3]!)
    spareNormal = words.count == 5 ? Double(bitPattern: words[4]!) : nil
  }

  /// The next 64 random bits.
  @inlinable public mutating func next() -> UInt64 {
    let result = rotl(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
    s2 ^= t
    s3 = rotl(s3, 45)
    return result
  }

  @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A uniform `Double` in `[0, 1)` with 53 random bits.
  @inlinable public mutating func nextUniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A uniform `Double` in `[low, high)`.
  public mutating func uniform(low: Double = 0, high: Double = 1) -> Double {
    low + (high - low) * nextUniform()
  }

  /// A normal sample with the given mean and standard deviation (Marsaglia polar method).
  public mutating func normal(mean: Double = 0, standardDeviation: Double = 1) -> Double {
    if let z = spareNormal {
      spareNormal = nil
      return mean + standardDeviation * z
    }
    while true {
      let u = 2 * nextUniform() - 1
      let v = 2 * nextUniform() - 1
      let s = u * u + v * v
      if s >= 1 || s == 0 { continue }
      let f = (-2 * portableLog(s) / s).squareRoot()
      spareNormal = v * f
      return mean + standardDeviation * (u * f)
    }
  }

  /// A uniform integer in `0..<upperBound` (unbiased: Lemire's multiply-and-reject).
  /// - Precondition: `upperBound > 0`.
  public mutating func choice(_ upperBound: Int) -> Int {
    precondition(upperBound > 0, "SeededGenerator.choice: upper bound must be positive")
    let n = UInt64(upperBound)
    var m = next().multipliedFullWidth(by: n)
    if m.low < n {
      let threshold = (0 &- n) % n
      while m.low < threshold { m = next().multipliedFullWidth(by: n) }
    }
    return Int(m.high)
  }

  /// A random permutation of `0..<count` (Fisher-Yates); empty for `count <= 0`.
  public mutating func permutation(_ count: Int) -> [Int] {
    var p = Array(0..<Swift.max(count, 0))
    if count < 2 { return p }
    for i in stride(from: count - 1, to: 0, by: -1) {
      p.swapAt(i, choice(i + 1))
    }
    return p
  }

  /// `count` normal samples as an array of `shape` and `dtype`.
  /// - Throws: ``ShapeError`` when the shape is invalid (``Shape/validate(dtype:)``).
  public mutating func normalArray(
    shape: Shape, mean: Double = 0, standardDeviation: Double = 1, dtype: DType = .float32
  ) throws(ShapeError) -> NDArray {
    try shape.validate(dtype: dtype)
    var values = [Double](repeating: 0, count: shape.elementCount)
    for i in values.indices { values[i] = normal(mean: mean, standardDeviation: standardDeviation) }
    return NDArray(converting: values, shape: shape, dtype: dtype)
  }

  /// Uniform samples in `[low, high)` as an array of `shape` and `dtype`.
  /// - Throws: ``ShapeError`` when the shape is invalid (``Shape/validate(dtype:)``).
  public mutating func uniformArray(
    shape: Shape, low: Double = 0, high: Double = 1, dtype: DType = .float32
  ) throws(ShapeError) -> NDArray {
    try shape.validate(dtype: dtype)
    var values = [Double](repeating: 0, count: shape.elementCount)
    for i in values.indices { values[i] = uniform(low: low, high: high) }
    return NDArray(converting: values, shape: shape, dtype: dtype)
  }
}

/// The natural logarithm of a positive, finite `x`, computed with IEEE 754 basic operations only
/// (so it is bit-identical on every platform): `x = m * 2^e` with `m` in `[√½, √2)`, then
/// `log m = 2 atanh(t)`, `t = (m - 1)/(m + 1)`, summed as a series to full precision.
public func portableLog(_ x: Double) -> Double {
  precondition(x > 0 && x.isFinite, "portableLog: argument must be positive and finite")
  var e = Int(x.exponent)
  var m = x.significand  // in [1, 2)
  if m > 1.4142135623730951 { m /= 2; e += 1 }
  let t = (m - 1) / (m + 1)
  let t2 = t * t
  var term = t
  var sum = 0.0
  var k = 1.0
  while true {
    let next = sum + term / k
    if next == sum { break }
    sum = next
    term *= t2
    k += 2
  }
  let ln2Hi = 0.6931471803691238  // high bits of ln 2
  let ln2Lo = 1.9082149292705877e-10  // ln 2 - ln2Hi
  return Double(e) * ln2Hi + (2 * sum + Double(e) * ln2Lo)
}
