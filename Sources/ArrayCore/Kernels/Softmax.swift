import CBackpropKernels
import RealModule

extension Kernels {
  /// Softmax along `axis`, shifted by the maximum so no exponential overflows:
  /// `out = e^(x - m) / Σ_axis e^(x - m)` with `m = max_axis x`.
  /// With `log: true`, the log-softmax `(x - m) - log Σ_axis e^(x - m)`, which stays finite for
  /// any finite input (it is computed without taking the logarithm of a softmax).
  ///
  /// One C kernel (`bp_s_softmax`, transcendental.c): a NaN makes `m` NaN; `m = 0` when it is
  /// `±∞` (a row of `-∞`, or one holding `+∞`: no shift, as TF); `e = exp(x - m)` is
  /// `exp(_:)` on one value in the element type; `S = Σ e` is summed in double, in a fixed order — a
  /// contiguous row (the last axis) into 16 accumulators (element `j` into `j mod 16`) added in a
  /// halving tree, any other axis over its elements in order — and each element is `e / S` in
  /// double, rounded once, or `(x - m) - T(log S)`. The rows are split over threads in fixed
  /// pieces, so the bits are the same on any thread count and instruction set.
  /// - Throws: ``ShapeError`` for a non-float array or an axis out of range.
  public static func softmax(_ a: NDArray, axis: Int, log: Bool = false, into out: inout NDArray) throws(ShapeError) {
    let ax = try normalizeAxis(axis, rank: a.rank)
    try out.prepare(shape: a.shape, dtype: a.dtype)
    let (outer, n, inner) = split3(a.shape, axis: ax)
    let form: Int32 = log ? 1 : 0
    switch a.dtype {
    case .float32:
      bp_s_softmax(
        outer, n, inner, a.storage.bytes.assumingMemoryBound(to: Float.self), out.storage.bytes.assumingMemoryBound(to: Float.self), form)
    case .float64:
      bp_d_softmax(
        outer, n, inner, a.storage.bytes.assumingMemoryBound(to: Double.self), out.storage.bytes.assumingMemoryBound(to: Double.self), form)
    default: throw ShapeError("softmax needs a float array, got \(a.dtype)")
    }
  }

  /// The index of the largest (`largest: true`) or smallest element along `axis`, as int32
  /// (the first one on ties; a NaN counts as the extreme, as NumPy). The axis is removed.
  /// - Throws: ``ShapeError`` for a bool array, an empty axis or an axis out of range.
  public static func argExtreme(_ a: NDArray, axis: Int, largest: Bool, into out: inout NDArray) throws(ShapeError) {
    let ax = try normalizeAxis(axis, rank: a.rank)
    guard a.shape[ax] > 0 else { throw ShapeError("cannot take the arg-\(largest ? "max" : "min") of an empty axis \(ax) of \(a.shape)") }
    try out.prepare(shape: reducedShape(a.shape, axes: [ax], keepDims: false), dtype: .int32)
    let (outer, n, inner) = split3(a.shape, axis: ax)
    switch a.dtype {
    // Contiguous rows (the last axis): each row's extreme from the vectorized reduction kernel,
    // then the first position holding it (`bp_s_arg_extreme_rows`), the scan's index.
    case .float32 where inner == 1:
      bp_s_arg_extreme_rows(
        outer, n, a.storage.bytes.assumingMemoryBound(to: Float.self), out.storage.bytes.assumingMemoryBound(to: Int32.self),
        largest ? 1 : 0)
    case .float64 where inner == 1:
      bp_d_arg_extreme_rows(
        outer, n, a.storage.bytes.assumingMemoryBound(to: Double.self), out.storage.bytes.assumingMemoryBound(to: Int32.self),
        largest ? 1 : 0)
    case .float32: argTyped(Float.self, a, ax, largest, &out)
    case .float64: argTyped(Double.self, a, ax, largest, &out)
    case .int32: argTyped(Int32.self, a, ax, largest, &out)
    case .bool: throw ShapeError("arg-\(largest ? "max" : "min") needs a numeric array, got bool")
    }
  }

  @inlinable static func argTyped<T: Element & Comparable>(
    _: T.Type, _ a: NDArray, _ axis: Int, _ largest: Bool, _ out: inout NDArray
  ) {
    let (outer, n, inner) = split3(a.shape, axis: axis)
    let src = a.storage.bytes.assumingMemoryBound(to: T.self)
    let dst = out.storage.bytes.assumingMemoryBound(to: Int32.self)
    for o in 0..<outer {
      for r in 0..<inner {
        let base = o * n * inner + r
        var best = src[base], at = 0
        if best == best {  // not NaN
          for j in 1..<n {
            let v = src[base + j * inner]
            if v != v { at = j; break }
            if largest ? v > best : v < best { best = v; at = j }
          }
        }
        dst[o * inner + r] = Int32(at)
      }
    }
  }

  /// The maximum (`largest: true`) or minimum over `axes` (normalized, sorted); NaN propagates
  /// (the first NaN in order), and of equal extremes the later one is kept (of `+0` and `-0`,
  /// the sign of the last). An empty reduction gives `-∞` (maximum) or `+∞` (minimum), as TF.
  /// Axes that form one contiguous run go through a vectorized C kernel, split over threads for
  /// large arrays, with the same bits.
  /// - Throws: ``ShapeError`` for a non-float array.
  public static func extreme(_ a: NDArray, axes: [Int], keepDims: Bool, largest: Bool, into out: inout NDArray) throws(ShapeError) {
    switch a.dtype {
    case .float32: extremeTyped(Float.self, a, axes, keepDims, largest, &out)
    case .float64: extremeTyped(Double.self, a, axes, keepDims, largest, &out)
    default: throw ShapeError("max/min reductions need a float array, got \(a.dtype)")
    }
  }

  @inlinable static func extremeTyped<T: FloatElement>(
    _: T.Type, _ a: NDArray, _ axes: [Int], _ keepDims: Bool, _ largest: Bool, _ out: inout NDArray
  ) {
    // One contiguous run of axes (a row's maximum, a column's, all of them): the C kernel, with
    // the bits of the scan below (`bp_s_extreme`).
    if let first = axes.first, let last = axes.last, last - first + 1 == axes.count {
      var outer = 1, n = 1, inner = 1
      for i in 0..<a.rank {
        if i < first { outer *= a.shape[i] } else if i > last { inner *= a.shape[i] } else { n *= a.shape[i] }
      }
      out.prepare(fittingAnInput: reducedShape(a.shape, axes: axes, keepDims: keepDims), dtype: T.dtype)
      if T.self == Float.self {
        bp_s_extreme(
          outer, n, inner, a.storage.bytes.assumingMemoryBound(to: Float.self),
          out.storage.bytes.assumingMemoryBound(to: Float.self), largest ? 1 : 0)
      } else {
        bp_d_extreme(
          outer, n, inner, a.storage.bytes.assumingMemoryBound(to: Double.self),
          out.storage.bytes.assumingMemoryBound(to: Double.self), largest ? 1 : 0)
      }
      return
    }
    if largest {
      reduce(a, T.self, axes: axes, keepDims: keepDims, initial: -T.infinity, into: &out) { acc, v in
        acc > v || acc.isNaN ? acc : v
      }
    } else {
      reduce(a, T.self, axes: axes, keepDims: keepDims, initial: T.infinity, into: &out) { acc, v in
        acc < v || acc.isNaN ? acc : v
      }
    }
  }
}
