import CBackpropKernels
import RealModule

/// Elementwise functions defined once in C (Sources/CBackpropKernels/transcendental.c): an
/// array kernel per instruction set and a scalar function, all computing the same operations
/// in the same order, so an array and its elements one at a time give the same bits on every
/// path.
extension Kernels {
  /// `eˣ` on one value: `k = round(x / ln 2)`, `r = (x − k·ln2_hi) − k·ln2_lo` (Cody–Waite,
  /// fdlibm's split of ln 2), `eˣ = 2ᵏ · (1 + (r + r²·Σ_{n=2…d} rⁿ⁻²/n!))`, with `d = 9` for
  /// `Float` (computed in `Double`, rounded once: within 1 ulp, nearly always the correctly
  /// rounded result) and `d = 13` for `Double` (within 1 ulp). NaN gives NaN, `+∞` and large `x`
  /// give `+∞`, `−∞` and very negative `x` give 0 (through the subnormals), `e^(±0) = 1`.
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

  /// `tanh x` on one value. `Float`: `sign(x) · E / (E + 2)` with `E = e^(2|x|) − 1` computed
  /// in `Double` by the reduction of `exp(_:)` on one value (`E = 2ᵏ·(eʳ − 1) + (2ᵏ − 1)`, no
  /// cancellation near 0) and rounded once: within 1 ulp; `tanh(±0) = ±0`, `tanh(±∞) = ±1`,
  /// NaN gives NaN; the same bits as ``tanh(_:into:)``. `Double`: the system's `tanh`.
  @inlinable @inline(__always) public static func tanh<T: FloatElement>(_ x: T) -> T {
    if T.self == Float.self { return unsafeBitCast(bp_s_tanh1(unsafeBitCast(x, to: Float.self)), to: T.self) }
    return T.tanh(x)
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
  /// system's `tanh` per element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func tanh(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    if x.dtype == .float64 {
      Kernels.map(x, Double.self, Double.self, into: &out) { Double.tanh($0) }
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
