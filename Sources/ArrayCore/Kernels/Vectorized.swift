import CBackpropKernels

/// The arithmetic of ``Kernels/arithmetic(_:_:_:into:)``.
public enum ArithmeticOperation: Sendable, Hashable {
  /// `x + y`
  case add
  /// `x - y`
  case subtract
  /// `x · y`
  case multiply
  /// `x / y`
  case divide

  @usableFromInline var code: bp_binary_op {
    switch self {
    case .add: BP_ADD
    case .subtract: BP_SUB
    case .multiply: BP_MUL
    case .divide: BP_DIV
    }
  }
}

extension Kernels {
  /// Elementwise arithmetic with NumPy broadcasting: `out[i] = a[i] ∘ b[i]` for ∘ in
  /// {+, −, ·, /}.
  ///
  /// Float and double arrays run vectorized C loops (AVX2 when the CPU has it) for equal
  /// shapes, a one-element operand and rows broadcast along the last axis; every other case
  /// (and `int32`) runs the generic ``zip(_:_:_:_:into:_:)``.
  /// - Throws: ``ShapeError`` when the shapes do not broadcast or the dtypes differ.
  public static func arithmetic(
    _ operation: ArithmeticOperation, _ a: NDArray, _ b: NDArray, into out: inout NDArray
  ) throws(ShapeError) {
    guard a.dtype == b.dtype else {
      throw ShapeError("\(operation) needs operands of one dtype, got \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape)")
    }
    switch a.dtype {
    case .float32:
      try arithmetic(operation, a, b, &out, Float.self, bp_s_binary_vv, bp_s_binary_vs, bp_s_binary_sv, bp_s_binary_rows)
    case .float64:
      try arithmetic(operation, a, b, &out, Double.self, bp_d_binary_vv, bp_d_binary_vs, bp_d_binary_sv, bp_d_binary_rows)
    case .int32:
      switch operation {
      case .add: try zip(a, b, Int32.self, Int32.self, into: &out) { $0 &+ $1 }
      case .subtract: try zip(a, b, Int32.self, Int32.self, into: &out) { $0 &- $1 }
      case .multiply: try zip(a, b, Int32.self, Int32.self, into: &out) { $0 &* $1 }
      case .divide:
        try zip(a, b, Int32.self, Int32.self, into: &out) { $1 == 0 ? 0 : ($0 == .min && $1 == -1 ? .min : $0 / $1) }
      }
    case .bool:
      throw ShapeError("\(operation) is not defined for bool arrays (\(a.shape) and \(b.shape))")
    }
  }

  @inlinable static func arithmetic<T: Element>(
    _ operation: ArithmeticOperation, _ a: NDArray, _ b: NDArray, _ out: inout NDArray, _: T.Type,
    _ vv: (bp_binary_op, Int, UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void,
    _ vs: (bp_binary_op, Int, UnsafePointer<T>, T, UnsafeMutablePointer<T>) -> Void,
    _ sv: (bp_binary_op, Int, T, UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void,
    _ rows: (bp_binary_op, Int, Int, UnsafePointer<T>, Int, UnsafePointer<T>, Int, UnsafeMutablePointer<T>) -> Void
  ) throws(ShapeError) {
    let shape = try broadcastShape(a.shape, b.shape)
    try out.prepare(shape: shape, dtype: T.dtype)
    let n = shape.elementCount
    let op = operation.code
    let dst = out.storage.bytes.assumingMemoryBound(to: T.self)
    let pa = UnsafePointer(a.storage.bytes.assumingMemoryBound(to: T.self))
    let pb = UnsafePointer(b.storage.bytes.assumingMemoryBound(to: T.self))
    if a.shape == b.shape {
      vv(op, n, pa, pb, dst)
    } else if b.elementCount == 1 {
      vs(op, n, pa, pb[0], dst)
    } else if a.elementCount == 1 {
      sv(op, n, pa[0], pb, dst)
    } else if a.shape == shape, let cols = rowLength(of: b.shape, against: shape) {
      // A row (a bias, a per-channel scale) against every row of `a`: one call.
      rows(op, n / cols, cols, pa, cols, pb, 0, dst)
    } else if b.shape == shape, let cols = rowLength(of: a.shape, against: shape) {
      rows(op, n / cols, cols, pa, 0, pb, cols, dst)
    } else {
      broadcastLoop(shape: shape, a.shape, b.shape) { o, ia, ib, count, sa, sb in
        switch (sa, sb) {
        case (1, 1): vv(op, count, pa + ia, pb + ib, dst + o)
        case (1, 0): vs(op, count, pa + ia, pb[ib], dst + o)
        case (0, 1): sv(op, count, pa[ia], pb + ib, dst + o)
        default:  // both operands broadcast along the row: one value repeated
          sv(op, 1, pa[ia], pb + ib, dst + o)
          for j in 1..<Swift.max(count, 1) { dst[o + j] = dst[o] }
        }
      }
    }
  }

  /// A per-channel scale and a shift, then optionally ReLU, in one pass: `out = x · k + c` with
  /// `k` a row that broadcasts along `x`'s leading sizes (``rowLength(of:against:)``) and `c` such
  /// a row or an array of `x`'s shape, each operation rounded as the separate `Mul`, `Add` and
  /// `Relu` kernels round it (the same bits). With a `center` row `m` of the same length,
  /// `out = (x − m) · k + c`, the `Sub` rounded first as its kernel rounds it.
  /// - Returns: `false`, having changed nothing, when the operands do not fit this kernel (not
  ///   float, different dtypes, `k` or `center` not a row of `x`, `c` neither a row of the same
  ///   length nor of `x`'s shape); the caller then runs the kernels one by one.
  public static func affineRows(
    _ x: NDArray, _ k: NDArray, _ c: NDArray, center: NDArray? = nil, relu: Bool, into out: inout NDArray
  ) throws(ShapeError) -> Bool {
    guard x.dtype.isFloatingPoint, k.dtype == x.dtype, c.dtype == x.dtype, let cols = rowLength(of: k.shape, against: x.shape)
    else { return false }
    if let center, center.dtype != x.dtype || rowLength(of: center.shape, against: x.shape) != cols { return false }
    let cs: Int
    if c.shape == x.shape {
      cs = cols
    } else if rowLength(of: c.shape, against: x.shape) == cols {
      cs = 0
    } else {
      return false
    }
    try out.prepare(shape: x.shape, dtype: x.dtype)
    let rows = x.elementCount / cols
    if x.dtype == .float32 {
      bp_s_affine_rows(
        rows, cols, x.storage.bytes.assumingMemoryBound(to: Float.self), center?.storage.bytes.assumingMemoryBound(to: Float.self),
        k.storage.bytes.assumingMemoryBound(to: Float.self), c.storage.bytes.assumingMemoryBound(to: Float.self), cs, relu ? 1 : 0,
        out.storage.bytes.assumingMemoryBound(to: Float.self))
    } else {
      bp_d_affine_rows(
        rows, cols, x.storage.bytes.assumingMemoryBound(to: Double.self), center?.storage.bytes.assumingMemoryBound(to: Double.self),
        k.storage.bytes.assumingMemoryBound(to: Double.self), c.storage.bytes.assumingMemoryBound(to: Double.self), cs, relu ? 1 : 0,
        out.storage.bytes.assumingMemoryBound(to: Double.self))
    }
    return true
  }

  /// Two per-channel affine terms summed in one pass: `out = P + Q` (`Q + P` with `qFirst`),
  /// `P = (x − m) · k` and `Q = (x2 − m2) · k2 + c2`, with `x` and `x2` of one shape, `k`, `k2`,
  /// `c2` and the optional centres `m`, `m2` rows of it (``rowLength(of:against:)``), each
  /// operation rounded as its own kernel rounds it (the bits of the separate `Sub`, `Mul` and
  /// `Add` kernels): a gradient's `g · k + t` where `t` is the gradient through batch
  /// statistics, without writing `t`.
  /// - Returns: `false`, having changed nothing, when the operands do not fit (not float,
  ///   different dtypes or shapes, a row of another length); the caller then runs the kernels.
  public static func affineRowsSum(
    _ x: NDArray, _ k: NDArray, center m: NDArray?, plus x2: NDArray, _ k2: NDArray, center m2: NDArray?, _ c2: NDArray,
    innerFirst: Bool, into out: inout NDArray
  ) throws(ShapeError) -> Bool {
    guard x.dtype.isFloatingPoint, x2.shape == x.shape, x2.dtype == x.dtype, let cols = rowLength(of: k.shape, against: x.shape)
    else { return false }
    for row in [k, k2, c2] + [m, m2].compactMap({ $0 }) where row.dtype != x.dtype || rowLength(of: row.shape, against: x.shape) != cols {
      return false
    }
    try out.prepare(shape: x.shape, dtype: x.dtype)
    let rows = x.elementCount / cols
    if x.dtype == .float32 {
      func f(_ a: NDArray?) -> UnsafeMutablePointer<Float>? { a?.storage.bytes.assumingMemoryBound(to: Float.self) }
      bp_s_affine2_rows(rows, cols, f(x), f(m), f(k), f(x2), f(m2), f(k2), f(c2), innerFirst ? 1 : 0, f(out))
    } else {
      func d(_ a: NDArray?) -> UnsafeMutablePointer<Double>? { a?.storage.bytes.assumingMemoryBound(to: Double.self) }
      bp_d_affine2_rows(rows, cols, d(x), d(m), d(k), d(x2), d(m2), d(k2), d(c2), innerFirst ? 1 : 0, d(out))
    }
    return true
  }

  /// `Σ a·b` summed down to `target` (the un-broadcasting of a product: a gradient's `Σ g·x`
  /// over a batch) without the product array, when the sum is a leading-axes column sum: the
  /// bits of ``arithmetic(_:_:_:into:)`` (multiply) then ``sum(_:to:into:)``, which sums those
  /// columns in the same order.
  /// - Returns: `false`, having changed nothing, when the operands do not fit (not float,
  ///   different shapes or dtypes, no reduction, or one that is not over leading axes alone);
  ///   the caller then runs the two kernels.
  public static func sumOfProducts(_ a: NDArray, _ b: NDArray, to target: Shape, into out: inout NDArray) throws(ShapeError) -> Bool {
    guard a.dtype.isFloatingPoint, b.dtype == a.dtype, a.shape == b.shape, a.shape != target else { return false }
    let axes = try reductionAxes(from: a.shape, to: target)
    // vectorizedSum's column-sum case: a contiguous run from axis 0 that is not every axis.
    guard let last = axes.last, axes[0] == 0, last < a.rank - 1, axes.enumerated().allSatisfy({ $0.element == $0.offset }) else {
      return false
    }
    var rows = 1
    for ax in axes { rows *= a.shape[ax] }
    guard rows > 0, target.elementCount == a.elementCount / rows else { return false }
    let cols = a.elementCount / rows
    try out.prepare(shape: target, dtype: a.dtype)
    if a.dtype == .float32 {
      bp_s_sum_products_columns(
        rows, cols, a.storage.bytes.assumingMemoryBound(to: Float.self), b.storage.bytes.assumingMemoryBound(to: Float.self),
        out.storage.bytes.assumingMemoryBound(to: Float.self))
    } else {
      bp_d_sum_products_columns(
        rows, cols, a.storage.bytes.assumingMemoryBound(to: Double.self), b.storage.bytes.assumingMemoryBound(to: Double.self),
        out.storage.bytes.assumingMemoryBound(to: Double.self))
    }
    return true
  }

  /// The number of elements of `row` when it is `shape`'s trailing sizes preceded only by 1s
  /// (`[C]` or `[1, 1, 1, C]` against `[N, H, W, C]`), so that it broadcasts as one row repeated
  /// over `shape`'s leading sizes; `nil` otherwise, or when the row is empty.
  @usableFromInline static func rowLength(of row: Shape, against shape: Shape) -> Int? {
    let r = row.dimensions, s = shape.dimensions
    var first = 0
    while first < r.count && r[first] == 1 { first += 1 }
    let k = r.count - first
    guard k > 0, r.count <= s.count else { return nil }
    var cols = 1
    for i in 0..<k {
      guard r[first + i] == s[s.count - k + i] else { return nil }
      cols *= r[first + i]
    }
    return cols > 0 ? cols : nil
  }

  /// Standardizes `x`, viewed as `[outer, count, inner]`, over its middle axis (the core of
  /// batch and layer normalization): per `(o, i)`,
  ///
  /// `μ = Σ_j x / count`, `σ² = Σ_j (x - μ)² / count` (sums in `Double`: over `j` in order when
  /// `inner > 1`; for a contiguous row, `inner = 1` as in layer normalization, in 16 partial sums,
  /// element `j` into sum `j mod 16`, added in a fixed tree; a `count` of 0 divides by 1),
  /// `s = 1 / √(σ² + ε)` and `x̂ = (x - μ) · s`,
  ///
  /// `x̂` computed in `Double` and rounded once to the element type (within an ulp or two of the
  /// exact value also for values far from 0: `x · s + (-μ · s)` in float32 lost 1e-2 of `x̂` on
  /// values 1e4 + noise), `μ` and `σ²` stored rounded. Vectorized (across the lanes `i`, or
  /// across a row's partial sums), with the lanes or rows split over threads in fixed pieces: the
  /// bits do not depend on the path or the thread count.
  /// The outputs must already have their shapes (`x`'s, and `outer · inner` elements).
  /// - Throws: ``ShapeError`` when `x` is not a float array or the sizes do not fit.
  public static func normalize(
    _ x: NDArray, outer: Int, count: Int, inner: Int, epsilon: Double,
    normalized y: inout NDArray, mean m: inout NDArray, variance v: inout NDArray
  ) throws(ShapeError) {
    try standardize(x, outer: outer, count: count, inner: inner, epsilon: epsilon, normalized: &y, statisticsOnly: false, mean: &m, variance: &v)
  }

  /// The mean and biased variance of `x`, viewed as `[outer, count, inner]`, over its middle
  /// axis: ``normalize(_:outer:count:inner:epsilon:normalized:mean:variance:)``'s `μ` and `σ²`,
  /// bit for bit, in two passes (no `x̂` written).
  /// - Throws: ``ShapeError`` when `x` is not a float array or the sizes do not fit.
  public static func moments(
    _ x: NDArray, outer: Int, count: Int, inner: Int, mean m: inout NDArray, variance v: inout NDArray
  ) throws(ShapeError) {
    var unused = NDArray()
    try standardize(x, outer: outer, count: count, inner: inner, epsilon: 1, normalized: &unused, statisticsOnly: true, mean: &m, variance: &v)
  }

  /// The work of ``normalize(_:outer:count:inner:epsilon:normalized:mean:variance:)`` and
  /// ``moments(_:outer:count:inner:mean:variance:)`` (`y` untouched when `statisticsOnly`).
  private static func standardize(
    _ x: NDArray, outer: Int, count: Int, inner: Int, epsilon: Double,
    normalized y: inout NDArray, statisticsOnly: Bool, mean m: inout NDArray, variance v: inout NDArray
  ) throws(ShapeError) {
    // Products checked for overflow: hostile sizes are a thrown error, not a trap.
    let (lanes, lanesOverflow) = outer.multipliedReportingOverflow(by: inner)
    let (total, totalOverflow) = lanes.multipliedReportingOverflow(by: count)
    guard outer >= 0, count >= 0, inner >= 0, !lanesOverflow, !totalOverflow, total == x.elementCount,
      statisticsOnly || (y.elementCount == x.elementCount && y.dtype == x.dtype),
      m.elementCount == lanes, v.elementCount == lanes, m.dtype == x.dtype, v.dtype == x.dtype
    else {
      throw ShapeError("normalize: sizes [\(outer), \(count), \(inner)] do not fit \(x.dtype) \(x.shape) and its outputs")
    }
    if !statisticsOnly { y.makeUnique() }
    m.makeUnique()
    v.makeUnique()
    switch x.dtype {
    case .float32:
      bp_s_normalize(
        outer, count, inner, x.storage.bytes.assumingMemoryBound(to: Float.self),
        statisticsOnly ? nil : y.storage.bytes.assumingMemoryBound(to: Float.self),
        m.storage.bytes.assumingMemoryBound(to: Float.self), v.storage.bytes.assumingMemoryBound(to: Float.self), epsilon)
    case .float64:
      bp_d_normalize(
        outer, count, inner, x.storage.bytes.assumingMemoryBound(to: Double.self),
        statisticsOnly ? nil : y.storage.bytes.assumingMemoryBound(to: Double.self),
        m.storage.bytes.assumingMemoryBound(to: Double.self), v.storage.bytes.assumingMemoryBound(to: Double.self), epsilon)
    default:
      throw ShapeError("normalize needs a float array, got \(x.dtype) \(x.shape)")
    }
  }

  /// The affine map `out[i] = (scale · x[i]) + shift` in one pass (float and double), rounded
  /// after the product and after the sum as a multiplication then an addition would be (no
  /// FMA): the bits of the graph's `scale * x + shift`, which a plan runs through this kernel.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func scaleAndShift(_ x: NDArray, scale: Double, shift: Double, into out: inout NDArray) throws(ShapeError) {
    try out.prepare(shape: x.shape, dtype: x.dtype)
    let n = x.elementCount
    switch x.dtype {
    case .float32:
      bp_s_axpb(n, Float(scale), x.storage.bytes.assumingMemoryBound(to: Float.self), Float(shift),
        out.storage.bytes.assumingMemoryBound(to: Float.self))
    case .float64:
      bp_d_axpb(n, scale, x.storage.bytes.assumingMemoryBound(to: Double.self), shift,
        out.storage.bytes.assumingMemoryBound(to: Double.self))
    default:
      throw ShapeError("scaleAndShift needs a float array, got \(x.dtype) \(x.shape)")
    }
  }

  /// Adam's update in place, one pass (float and double; every array of one shape and dtype):
  ///
  ///     m ← m·β₁ + g·(1−β₁);  v ← v·β₂ + g²·(1−β₂)
  ///     x ← x + (−1)·(x·λ)  (when `decay` is given)
  ///     x ← x + (−1)·(η·m / (√v + ε))
  ///
  /// with the constants rounded to the dtype once (`1−β` computed in `Double` first), and the
  /// same IEEE operations in the same order as separate elementwise kernels would apply them.
  /// - Throws: ``ShapeError`` when the shapes or dtypes differ or are not float.
  public static func adamUpdate(
    gradient g: NDArray, m: inout NDArray, v: inout NDArray, x: inout NDArray,
    beta1: Double, beta2: Double, epsilon: Double, stepSize: Double, decay: Double?
  ) throws(ShapeError) {
    func check(_ a: NDArray) throws(ShapeError) {
      guard a.shape == g.shape, a.dtype == g.dtype else {
        throw ShapeError("gradient of \(g.dtype) \(g.shape) does not fit \(a.dtype) \(a.shape)")
      }
    }
    try check(m)
    try check(v)
    try check(x)
    m.makeUnique()
    v.makeUnique()
    x.makeUnique()
    let n = g.elementCount
    let c = (beta1, 1 - beta1, beta2, 1 - beta2, stepSize, epsilon, decay ?? 0, decay == nil ? 0.0 : 1)
    func constants<T: FloatElement>(_: T.Type, _ body: (UnsafePointer<T>) -> Void) {
      withUnsafeTemporaryAllocation(of: T.self, capacity: 8) { p in
        (p[0], p[1], p[2], p[3]) = (T(c.0), T(c.1), T(c.2), T(c.3))
        (p[4], p[5], p[6], p[7]) = (T(c.4), T(c.5), T(c.6), T(c.7))
        body(p.baseAddress!)
      }
    }
    switch g.dtype {
    case .float32:
      constants(Float.self) { cf in
        bp_s_adam(
          n, g.storage.bytes.assumingMemoryBound(to: Float.self), m.storage.bytes.assumingMemoryBound(to: Float.self),
          v.storage.bytes.assumingMemoryBound(to: Float.self), x.storage.bytes.assumingMemoryBound(to: Float.self), cf)
      }
    case .float64:
      constants(Double.self) { cd in
        bp_d_adam(
          n, g.storage.bytes.assumingMemoryBound(to: Double.self), m.storage.bytes.assumingMemoryBound(to: Double.self),
          v.storage.bytes.assumingMemoryBound(to: Double.self), x.storage.bytes.assumingMemoryBound(to: Double.self), cd)
      }
    default:
      throw ShapeError("adamUpdate needs float arrays, got \(g.dtype) \(g.shape)")
    }
  }

  /// The rectifier `out[i] = x[i] > 0 ? x[i] : 0` (float and double; NaN gives 0).
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func relu(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try out.prepare(shape: x.shape, dtype: x.dtype)
    let n = x.elementCount
    switch x.dtype {
    case .float32:
      bp_s_relu(n, x.storage.bytes.assumingMemoryBound(to: Float.self), out.storage.bytes.assumingMemoryBound(to: Float.self))
    case .float64:
      bp_d_relu(n, x.storage.bytes.assumingMemoryBound(to: Double.self), out.storage.bytes.assumingMemoryBound(to: Double.self))
    default:
      throw ShapeError("relu needs a float array, got \(x.dtype) \(x.shape)")
    }
  }

  /// `out[i] = √x[i]`, vectorized; correctly rounded, so the bits of `squareRoot()` on each
  /// element (a negative gives NaN).
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func squareRoot(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "sqrt", &out, bp_s_sqrt, bp_d_sqrt)
  }

  /// `out[i] = 1 / √x[i]`, vectorized: the square root and the division each correctly
  /// rounded, so the bits of `1 / x.squareRoot()` on each element.
  /// - Throws: ``ShapeError`` when `x` is not a float array.
  public static func reciprocalSquareRoot(_ x: NDArray, into out: inout NDArray) throws(ShapeError) {
    try mapKernel(x, "rsqrt", &out, bp_s_rsqrt, bp_d_rsqrt)
  }

  /// ReLU's gradient as a plan fuses a `Sign` and a `Mul`: `out[i] = t[i] · sign(x[i])`, or
  /// `sign(x[i]) · t[i]` when `signFirst` (the product's operand order kept), with
  /// `sign(x) = x > 0 ? 1 : (x < 0 ? −1 : x)`, in one pass (float and double).
  /// - Throws: ``ShapeError`` when the shapes or dtypes differ or are not float.
  public static func multiplyBySign(_ t: NDArray, _ x: NDArray, signFirst: Bool, into out: inout NDArray) throws(ShapeError) {
    guard t.shape == x.shape, t.dtype == x.dtype, t.dtype.isFloatingPoint else {
      throw ShapeError("multiplyBySign needs two float arrays of one shape, got \(t.dtype) \(t.shape) and \(x.dtype) \(x.shape)")
    }
    out.prepare(fittingAnInput: t.shape, dtype: t.dtype)
    let n = t.elementCount, first: Int32 = signFirst ? 1 : 0
    if t.dtype == .float32 {
      bp_s_mul_sign(
        n, t.storage.bytes.assumingMemoryBound(to: Float.self), x.storage.bytes.assumingMemoryBound(to: Float.self), first,
        out.storage.bytes.assumingMemoryBound(to: Float.self))
    } else {
      bp_d_mul_sign(
        n, t.storage.bytes.assumingMemoryBound(to: Double.self), x.storage.bytes.assumingMemoryBound(to: Double.self), first,
        out.storage.bytes.assumingMemoryBound(to: Double.self))
    }
  }

  /// Whether `shape` is already the shape of the reduction of `input` over `axes` (sorted,
  /// contiguous), compared without building that shape.
  @usableFromInline static func hasReducedShape(_ shape: Shape, of input: Shape, axes: [Int], keepDims: Bool) -> Bool {
    guard shape.rank == (keepDims ? input.rank : input.rank - axes.count) else { return false }
    var j = 0
    for i in 0..<input.rank {
      let reduced = i >= axes[0] && i <= axes[axes.count - 1]
      if reduced && !keepDims { continue }
      if shape[j] != (reduced ? 1 : input[i]) { return false }
      j += 1
    }
    return true
  }

  /// Vectorized float/double sums for the contiguous cases: all axes, trailing axes (row sums)
  /// or leading axes (column sums). Returns `false` (doing nothing) for any other case.
  @usableFromInline static func vectorizedSum(_ a: NDArray, axes: [Int], keepDims: Bool, into out: inout NDArray) -> Bool {
    guard a.dtype == .float32 || a.dtype == .float64, !axes.isEmpty else { return false }
    let rank = a.rank
    // Reduced axes must be one contiguous run at the start or the end.
    for (i, ax) in axes.enumerated() where ax != axes[0] + i { return false }
    let trailing = axes.last == rank - 1
    let leading = axes[0] == 0
    guard trailing || leading else { return false }
    var reducedCount = 1
    for ax in axes { reducedCount &*= a.shape[ax] }
    let keptCount = reducedCount == 0 ? 0 : a.elementCount / reducedCount
    if reducedCount == 0 { return false }  // empty reductions: the generic path writes zeros
    if hasReducedShape(out.shape, of: a.shape, axes: axes, keepDims: keepDims) {
      out.prepare(fittingAnInput: out.shape, dtype: a.dtype)  // steady state: no new shape, no allocation
    } else {
      out.prepare(fittingAnInput: reducedShape(a.shape, axes: axes, keepDims: keepDims), dtype: a.dtype)
    }
    let src = a.storage.bytes
    let dst = out.storage.bytes
    if a.dtype == .float32 {
      let x = src.assumingMemoryBound(to: Float.self), y = dst.assumingMemoryBound(to: Float.self)
      if trailing {
        bp_s_sum_rows(keptCount, reducedCount, x, y)
      } else {
        bp_s_sum_columns(reducedCount, keptCount, x, y)
      }
    } else {
      let x = src.assumingMemoryBound(to: Double.self), y = dst.assumingMemoryBound(to: Double.self)
      if trailing {
        bp_d_sum_rows(keptCount, reducedCount, x, y)
      } else {
        bp_d_sum_columns(reducedCount, keptCount, x, y)
      }
    }
    return true
  }
}

/// An instruction set the C kernels have a version for.
public enum KernelInstructionSet: Int32, CaseIterable, Sendable, CustomStringConvertible {
  /// Plain C that the compiler vectorizes for the baseline ISA (SSE2 on x86-64, NEON on ARM).
  case portable = 0
  /// AVX2 with FMA (x86-64): 6x16 float and 6x8 double matrix-product tiles.
  case avx2 = 1
  /// AVX-512F (x86-64): 8x32 float and 12x16 double matrix-product tiles, 512-bit elementwise
  /// loops and reductions. Its results equal the AVX2 path's bit for bit (the same operations
  /// in the same order per element).
  case avx512 = 2

  /// The name `BACKPROP_ISA` takes and the benchmarks print: `portable`, `avx2+fma`, `avx512`.
  public var description: String {
    switch self {
    case .portable: "portable"
    case .avx2: "avx2+fma"
    case .avx512: "avx512"
    }
  }
}

/// Run-time settings of the C kernels (process-wide).
public enum KernelSettings {
  /// The instruction set the kernels use on the calling thread: `"avx512"`, `"avx2+fma"` or
  /// `"portable"` (or `"avx512 tiles on avx2"`, the test-only path of `withAVX512TilesOnAVX2`).
  public static var instructionSet: String { name(ofLevel: bp_kernel_isa()) }

  /// The instruction sets this CPU can run, from the portable one up (for tests and benchmarks
  /// that compare every path the machine has).
  public static var availableInstructionSets: [KernelInstructionSet] {
    KernelInstructionSet.allCases.filter { $0.rawValue <= bp_cpu_isa() }
  }

  static func name(ofLevel level: Int32) -> String {
    if level == BP_ISA_WIDE_ON_AVX2 { return "avx512 tiles on avx2" }
    return KernelInstructionSet(rawValue: level)?.description ?? "portable"
  }

  /// Forces the portable C kernels (`true`) or restores the automatic choice (`false`) for the
  /// whole process, as the environment variable `BACKPROP_ISA=portable` (or `auto`) does at
  /// start; for benchmarks of the fallback path. Both paths give results within rounding, not
  /// bit for bit: while other threads compute, prefer ``withPortableKernels(_:_:)``.
  public static func forcePortable(_ portable: Bool) { bp_force_portable_kernels(portable ? 1 : 0) }

  /// A note when `BACKPROP_ISA` asked for an instruction set this CPU or build lacks (or a
  /// value other than `auto`, `avx512`, `avx2` and `portable`), naming what is used instead;
  /// else `nil`.
  public static var instructionSetNote: String? {
    guard bp_isa_request_unmet() != 0 else { return nil }
    let requested = bp_isa_requested().map { String(cString: $0) } ?? ""
    let offered = availableInstructionSets.map { $0 == .avx2 ? "avx2" : $0.description }
    return "BACKPROP_ISA=\(requested) is not available (this CPU and build offer auto, \(offered.reversed().joined(separator: ", "))); using \(instructionSet)"
  }

  /// Runs `body` with the portable kernels (`true`) or the best kernels the CPU has (`false`)
  /// on the calling thread, and on the pool threads that run its products, whatever the
  /// process-wide choice; other threads keep theirs. For tests that compare the paths while
  /// other work runs in the same process.
  public static func withPortableKernels<R, E: Error>(_ portable: Bool = true, _ body: () throws(E) -> R) throws(E) -> R {
    try withLevel(portable ? BP_ISA_PORTABLE : BP_ISA_AVX512, body)
  }

  /// Runs `body` with the kernels of `instructionSet`, or of the best one below it that this
  /// CPU has (see ``availableInstructionSets``), on the calling thread and the pool threads that
  /// run its products, as ``withPortableKernels(_:_:)`` does.
  public static func withInstructionSet<R, E: Error>(_ instructionSet: KernelInstructionSet, _ body: () throws(E) -> R) throws(E) -> R {
    try withLevel(instructionSet.rawValue, body)
  }

  /// Runs `body` with the AVX-512 path's matrix-product tiles, blocking and packing computed
  /// with AVX2+FMA instructions (each 512-bit vector as two 256-bit ones: slow, for tests), so
  /// that a machine without AVX-512 tests all of that path but its instruction encoding. It
  /// gives the same bits as the AVX-512 and the AVX2 paths. Without AVX2: the portable kernels.
  package static func withAVX512TilesOnAVX2<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    try withLevel(BP_ISA_WIDE_ON_AVX2, body)
  }

  private static func withLevel<R, E: Error>(_ level: Int32, _ body: () throws(E) -> R) throws(E) -> R {
    let saved = bp_thread_isa()
    bp_set_thread_isa(level)
    defer { bp_set_thread_isa(saved) }
    return try body()
  }

  /// Runs `body` with ``directSmallProducts`` set to `direct` on the calling thread only (and
  /// the pool threads that run its products).
  public static func withDirectSmallProducts<R, E: Error>(_ direct: Bool, _ body: () throws(E) -> R) throws(E) -> R {
    let saved = bp_thread_direct_gemm()
    bp_set_thread_direct_gemm(direct ? 1 : 0)
    defer { bp_set_thread_direct_gemm(saved) }
    return try body()
  }

  /// Whether float matrix-vector products (one column, or one row times a transposed matrix)
  /// and products with 2 to 15 columns whose left operand's rows are contiguous (a dense
  /// layer's few outputs) or 2 to 12 columns with the left operand transposed (its weight
  /// gradient), below the threading threshold, run the direct AVX2+FMA kernels (dot or outer
  /// products that read the operands in place) instead of the blocked, packed path. On by
  /// default unless `BACKPROP_DIRECT_GEMM=0`; for tests and benchmarks of either path. Both give
  /// results within rounding of each other.
  public static var directSmallProducts: Bool {
    get { bp_direct_gemm() != 0 }
    set { bp_set_direct_gemm(newValue ? 1 : 0) }
  }

  /// Whether 3x3 convolutions with stride 1 (one group, no dilation, at least 32 input and
  /// output channels, outputs of at least 4x4, at least 512 tiles of 2x2 outputs in the batch:
  /// where it measured faster; and a transformed filter, 16·cin·cout values, of at most 32 MiB)
  /// take the Winograd form F(2x2, 3x3) for their
  /// forward pass, input gradient and filter gradient: 16 matrix products of transformed tiles,
  /// 2.25 times fewer multiply-adds than im2col's single product (Lavin and Gray, 2016). On by
  /// default unless `BACKPROP_WINOGRAD=0`; off, they take im2col and the packed product. The two
  /// agree to within rounding; either gives the same bits on any number of threads.
  public static var winogradConvolutions: Bool {
    get { bp_winograd() != 0 }
    set { bp_set_winograd(newValue ? 1 : 0) }
  }

  /// Runs `body` with ``winogradConvolutions`` set to `on` for the convolutions the calling
  /// thread runs.
  public static func withWinogradConvolutions<R, E: Error>(_ on: Bool, _ body: () throws(E) -> R) throws(E) -> R {
    let saved = bp_thread_winograd()
    bp_set_thread_winograd(on ? 1 : 0)
    defer { bp_set_thread_winograd(saved) }
    return try body()
  }

  /// The number of threads a large matrix product is split over: the online cores unless the
  /// environment variable `BACKPROP_NUM_THREADS` or ``setMatmulThreads(_:)`` says otherwise.
  public static var matmulThreads: Int { Int(bp_max_threads()) }

  /// Sets the number of threads for large matrix products; `nil` restores the default.
  public static func setMatmulThreads(_ threads: Int?) { bp_set_max_threads(Int32(clamping: threads ?? 0)) }

  /// Whether medium matrix products (from 512K to 4M multiply-adds, where a split's hand-off
  /// costs a noticeable share of the work) are split over ``matmulThreads`` threads: `nil` (the
  /// default) when splitting measured faster lately for that kind of product (it does on an idle
  /// machine; with the other cores busy it may not), `true` always, `false` never. Process-wide;
  /// the results are the same bits in every case, only the time differs.
  public static func setMediumProductSplit(_ split: Bool?) { bp_set_split_policy(split.map { $0 ? 1 : 0 } ?? -1) }

  /// The blocking of the packed matrix product for `dtype` (float32, else float64) on the
  /// calling thread's instruction set (its register tile): `kc` values of depth per packed
  /// panel (fixed per type, 256 for float32 and 512 for float64, so that products round alike
  /// on every machine with the same kernel path), `mc` rows of A per block (about 9/32 of L2),
  /// `nc` columns of B per block (a quarter of L3 shared by the cores for float, an eighth for
  /// double), derived at first use from ``cacheSizes``.
  public static func matmulBlocking(for dtype: DType) -> (kc: Int, mc: Int, nc: Int) {
    blockingAndCaches(dtype).blocking
  }

  /// The data cache sizes in bytes that the blocking was derived from, `[L1d, L2, L3]` (0 where
  /// the system did not say and a default was used: 32 KiB, 512 KiB, 8 MiB).
  public static var cacheSizes: [Int] { blockingAndCaches(.float32).caches }

  /// The process's blocking for `dtype` and the cache sizes it came from (`bp_gemm_blocking`).
  private static func blockingAndCaches(_ dtype: DType) -> (blocking: (kc: Int, mc: Int, nc: Int), caches: [Int]) {
    var kc = 0, mc = 0, nc = 0
    var caches = [0, 0, 0]
    caches.withUnsafeMutableBufferPointer { bp_gemm_blocking(dtype == .float32 ? 0 : 1, &kc, &mc, &nc, $0.baseAddress) }
    return ((kc, mc, nc), caches)
  }

  /// The blocking the rule of ``matmulBlocking(for:)`` gives for other cache sizes
  /// (`[L1d, L2, L3]` in bytes, 0 for unknown) and core count, without changing this
  /// process's (for tests of the rule).
  /// `wideTiles`: the AVX-512 path's 8×32 / 12×16 tiles instead of the 6-row ones.
  package static func matmulBlocking(for dtype: DType, caches: [Int], cores: Int, wideTiles: Bool = false) -> (kc: Int, mc: Int, nc: Int) {
    var kc = 0, mc = 0, nc = 0
    let sizes = (0..<3).map { $0 < caches.count ? caches[$0] : 0 }
    sizes.withUnsafeBufferPointer {
      bp_gemm_derive_blocking(dtype == .float32 ? 0 : 1, wideTiles ? 1 : 0, $0.baseAddress, cores, &kc, &mc, &nc)
    }
    return (kc, mc, nc)
  }

  /// The implementation large matrix products use: `"blas"` (a system BLAS, see
  /// ``blasLibrary``), or the package's own kernels as ``instructionSet`` names them.
  public static var matmulBackend: String {
    let backend = bp_gemm_backend()
    return backend < 0 ? "blas" : name(ofLevel: backend)
  }

  /// The path (or name) of the system CBLAS library in use for large products, or `nil`.
  ///
  /// Nothing is loaded unless the environment variable `BACKPROP_BLAS` holds a library path or
  /// `auto` (try `libopenblas.so.0`, `libblis.so.4`, `libmkl_rt.so`, `libblas.so.3`, and
  /// Accelerate on macOS), or ``setSystemBLAS(_:)`` asks. Products of at least 4·2²⁰
  /// multiply-adds then follow that library's rounding instead of the package's kernels.
  public static var blasLibrary: String? { bp_blas_library().map { String(cString: $0) } }

  /// Why the requested system BLAS could not be used (the `dlopen`/`dlsym` messages), or `nil`
  /// when none was requested or it loaded. Products then use the package's own kernels.
  public static var blasError: String? { bp_blas_error().map { String(cString: $0) } }

  /// Selects the system BLAS as `BACKPROP_BLAS` would: `nil` or `""` for none (the package's
  /// kernels, bit-reproducible), a library path, or `"auto"`. Replaces the current choice for the
  /// whole process; returns whether a library is now in use (see ``blasError`` when not).
  @discardableResult
  public static func setSystemBLAS(_ location: String?) -> Bool {
    guard let location else { return bp_blas_select(nil) == 1 }
    return location.withCString { bp_blas_select($0) } == 1
  }
}
