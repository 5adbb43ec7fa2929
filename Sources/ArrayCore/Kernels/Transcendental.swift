import CBackpropKernels
import RealModule

/// Elementwise functions defined once in C (Sources/CBackpropKernels/transcendental.c): an
/// array kernel per instruction set and a scalar function, all computing the same operations
/// in the same order, so an array and its elements one at a time give the same bits on every
/// path. Arrays of 64Ki elements and more are split over the threads (elements are independent:
/// the same bits on any thread count).
extension Kernels {
  /// `eˣ` on one value: `k = round(x / ln 2)`, `r = (x − k·ln2_hi) − k·ln2_lo` (Cody–Waite,
  /// fdlibm's split of ln 2), `eˣ = 2ᵏ · (1 + (r + r²·Σ_{n=2…d} rⁿ⁻²/n!))`, with `d = 7` for
  /// `Float` (in `Float` arithmetic, a 9-bit split of ln 2 and `r`'s rounding error carried:
  /// within 1 ulp of the correctly rounded result for every `Float`) and `d = 13` for `Double`
  /// (within 1 ulp). NaN gives NaN, `+∞` and large `x` give `+∞`, `−∞` and very negative `x`
  /// give 0 (through the subnormals), `e^(±0) = 1`.
  /// The same bits as ``exp(_:into:)`` on every instruction set.
  @inlinable @inline(__always) public static func exp<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_exp1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    if T.self == Double.self { return unsafeBitCast(bp_d_exp1(unsafeBitCast(x, to: Double.self)), to: T.self) }
    return T.exp(x)
  }

  /// The logistic sigmoid on one value through `exp(_:)` on one value: `1 / (1 + e⁻ˣ)` for `x ≥ 0`,
  /// `eˣ / (1 + eˣ)` otherwise (neither overflows), each operation rounded in `T`. NaN gives
  /// NaN, `σ(+∞) = 1`, `σ(−∞) = 0`. The same bits as ``sigmoid(_:into:)``.
  @inlinable @inline(__always) public static func sigmoid<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_sigmoid1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    if T.self == Double.self { return unsafeBitCast(bp_d_sigmoid1(unsafeBitCast(x, to: Double.self)), to: T.self) }
    if x >= 0 { return 1 / (1 + T.exp(-x)) }
    let e = T.exp(x)
    return e / (1 + e)
  }

  /// `tanh x` on one value. `Float`, in `Float` arithmetic: `|x| + |x|³·P(x²)` (a fitted cubic
  /// `P`) for `|x| < 0.3`, else `E / (E + 2)` with `E = e^(2|x|) − 1 = 2ᵏ·(eʳ − 1) + (2ᵏ − 1)`
  /// (the reduction of `exp(_:)`), with `x`'s sign: within 1 ulp of the correctly rounded result
  /// for every `Float`; `tanh(±0) = ±0`, `tanh(±∞) = ±1`, NaN gives NaN; the same bits as
  /// ``tanh(_:into:)``. `Double`: the system's `tanh`.
  @inlinable @inline(__always) public static func tanh<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_tanh1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    return T.tanh(x)
  }

  /// `ln x` on one value: `x = 2ᵏ·m` with `m` in `[√2/2, √2)`, `f = m − 1`, `s = f / (2 + f)`,
  /// `ln x = k·ln 2 + f − (f²/2 − s·(f²/2 + R(s²)))` with fdlibm's minimax polynomial `R` and
  /// its split of ln 2 (transcendental.c). `Float`: in `Float` arithmetic with FreeBSD's
  /// degree-4 `R`, within 1 ulp of the correctly rounded result for every `Float` (subnormal `x`
  /// scaled by 2²⁵ first); `Double`: within 1 ulp (subnormal `x` scaled by 2⁵⁴ first).
  /// `ln(±0) = −∞`, `ln` of a negative value or NaN is NaN, `ln(+∞) = +∞`. The same bits as
  /// ``log(_:into:)`` on every instruction set.
  @inlinable @inline(__always) public static func log<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_log1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    if T.self == Double.self { return unsafeBitCast(bp_d_log1(unsafeBitCast(x, to: Double.self)), to: T.self) }
    return T.log(x)
  }

  /// `ln(1 + x)` on one value, accurate near 0: the method of `log(_:)` on `u = 1 + x`, with
  /// `f = x` itself when `u` is in `[√2/2, √2)` and otherwise the rounding error of `1 + x`
  /// added back as `c / u`. `Float` in `Float` arithmetic, `Double` in `Double`, each within 1 ulp.
  /// `log1p(−1) = −∞`, below −1 or NaN gives NaN, `log1p(+∞) = +∞`, `log1p(±0) = ±0`.
  /// The same bits as ``log1p(_:into:)``.
  @inlinable @inline(__always) public static func log1p<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_log1p1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    if T.self == Double.self { return unsafeBitCast(bp_d_log1p1(unsafeBitCast(x, to: Double.self)), to: T.self) }
    return T.log(onePlus: x)
  }

  /// Softplus on one value, `max(x, 0) + log1p(e^(−|x|))` through ``exp(_:)`` and
  /// ``log1p(_:)`` on one value, each operation rounded in `T` (`max` as Swift's: NaN stays NaN).
  /// The same bits as ``softplus(_:into:)``.
  @inlinable @inline(__always) public static func softplus<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_softplus1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    if T.self == Double.self { return unsafeBitCast(bp_d_softplus1(unsafeBitCast(x, to: Double.self)), to: T.self) }
    return Swift.max(x, 0) + T.log(onePlus: T.exp(-Swift.abs(x)))
  }

  /// The sigmoid cross-entropy of logit `x` against label `z` on one pair,
  /// `(max(x, 0) − x·z) + log1p(e^(−|x|))`, as ``softplus(_:)`` computes its parts. The same bits
  /// as ``sigmoidCrossEntropy(_:_:into:)``.
  @inlinable @inline(__always) public static func sigmoidCrossEntropy<T: FloatElement>(_ x: T, _ z: T) -> T {
    if T.self == Float.self {
      return unsafeBitCast(bp_s_sigmoid_xent1(unsafeBitCast(x, to: Float.self), unsafeBitCast(z, to: Float.self)), to: T.self)
    }
    if T.self == Double.self {
      return unsafeBitCast(bp_d_sigmoid_xent1(unsafeBitCast(x, to: Double.self), unsafeBitCast(z, to: Double.self)), to: T.self)
    }
    return Swift.max(x, 0) - x * z + T.log(onePlus: T.exp(-Swift.abs(x)))
  }

  /// `out[i] = ln x[i]`, vectorized; the bits of `log(_:)` on one value per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func log(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "log", &out, bp_s_log, bp_d_log)
  }

  /// `out[i] = ln(1 + x[i])`, vectorized; the bits of `log1p(_:)` on one value per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func log1p(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "log1p", &out, bp_s_log1p, bp_d_log1p)
  }

  /// `out[i] = softplus(x[i])`, vectorized; the bits of `softplus(_:)` on one value per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func softplus(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "softplus", &out, bp_s_softplus, bp_d_softplus)
  }

  /// `out[i] = sigmoidCrossEntropy(x[i], z[i])` for logits and labels of one shape and float
  /// dtype, vectorized; the bits of ``sigmoidCrossEntropy(_:_:)`` per pair.
  /// - Throws: ``ShapeError`` when the shapes or dtypes differ or are not float.
  public static func sigmoidCrossEntropy(_ x: NDArray, _ z: NDArray, into out: inout NDArray) throws(ShapeError) {
    guard x.shape == z.shape, x.dtype == z.dtype, x.dtype == .float32 || x.dtype == .float64 else {
      throw ShapeError("sigmoid cross-entropy needs float logits and labels of one shape and dtype, got \(x.dtype) \(x.shape) and \(z.dtype) \(z.shape)")
    }
    out.prepare(fittingAnInput: x.shape, dtype: x.dtype)
    let n = x.elementCount
    if x.dtype == .float32 {
      bp_s_sigmoid_xent(
        n, x.storage.bytes.assumingMemoryBound(to: Float.self), z.storage.bytes.assumingMemoryBound(to: Float.self),
        out.storage.bytes.assumingMemoryBound(to: Float.self))
    } else {
      bp_d_sigmoid_xent(
        n, x.storage.bytes.assumingMemoryBound(to: Double.self), z.storage.bytes.assumingMemoryBound(to: Double.self),
        out.storage.bytes.assumingMemoryBound(to: Double.self))
    }
  }

  /// `out[i] = e^x[i]`, vectorized; the bits of `exp(_:)` on one value per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func exp(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "exp", &out, bp_s_exp, bp_d_exp)
  }

  /// `out[i] = σ(x[i])`, vectorized; the bits of `sigmoid(_:)` on one value per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func sigmoid(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "sigmoid", &out, bp_s_sigmoid, bp_d_sigmoid)
  }

  /// `out[i] = tanh x[i]`: float32 vectorized (the bits of `tanh(_:)` on one value), float64 the
  /// system's `tanh` per element (split over the kernel threads for large arrays).
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func tanh(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    if x.dtype == .float64 {
      Kernels.concurrentMap(x, into: &out, DoubleTanh())
      return
    }
    try mapKernel(x, "tanh", &out, bp_s_tanh, nil)
  }

  static func mapKernel(
    _ x: NDArray, _ name: String, _ out: inout NDArray,
    _ single: (Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
    _ double: ((Int, UnsafePointer<Double>?, UnsafeMutablePointer<Double>?) -> Void)?
  ) throws(ShapeError) {
    guard x.dtype == .float32 || (x.dtype == .float64 && double != nil) else {
      throw ShapeError("\(name) needs a float array, got \(x.dtype) \(x.shape)")
    }
    out.prepare(fittingAnInput: x.shape, dtype: x.dtype)
    let n = x.elementCount
    if x.dtype == .float32 {
      single(n, x.storage.bytes.assumingMemoryBound(to: Float.self), out.storage.bytes.assumingMemoryBound(to: Float.self))
    } else {
      double?(n, x.storage.bytes.assumingMemoryBound(to: Double.self), out.storage.bytes.assumingMemoryBound(to: Double.self))
    }
  }
}

/// Swift's `Double.tanh` as an ``ElementMap`` (float64 `tanh`'s kernel).
@usableFromInline struct DoubleTanh: ElementMap {
  @usableFromInline init() {}
  @inlinable func callAsFunction(_ x: Double) -> Double { Double.tanh(x) }
}
