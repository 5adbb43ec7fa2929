import RealModule

extension Kernels {
  /// The shape of a reduction's result: reduced axes removed, or kept with size 1.
  public static func reducedShape(_ shape: Shape, axes: [Int], keepDims: Bool) -> Shape {
    var dims: [Int] = []
    for i in 0..<shape.rank {
      if axes.contains(i) { if keepDims { dims.append(1) } } else { dims.append(shape[i]) }
    }
    return Shape(dims)
  }

  /// Reduces `a` over `axes` (normalized, sorted) with `combine`, starting from `initial`.
  /// The result has the shape given by ``reducedShape(_:axes:keepDims:)``.
  @inlinable public static func reduce<T: Element>(
    _ a: NDArray, _: T.Type, axes: [Int], keepDims: Bool, initial: T, into out: inout NDArray,
    _ combine: (T, T) -> T
  ) {
    var kept = a.shape
    for ax in axes { kept[ax] = 1 }
    let resultShape = keepDims ? kept : reducedShape(a.shape, axes: axes, keepDims: false)
    out.prepare(fittingAnInput: resultShape, dtype: T.dtype)
    let dst = out.storage.bytes.assumingMemoryBound(to: T.self)
    let src = a.storage.bytes.assumingMemoryBound(to: T.self)
    let m = kept.elementCount
    for i in 0..<m { dst[i] = initial }
    let n = a.elementCount
    if m == 1 {
      var acc = initial
      for i in 0..<n { acc = combine(acc, src[i]) }
      dst[0] = acc
      return
    }
    // Walk the input in order; the output offset moves with stride 0 along reduced axes.
    broadcastLoop(shape: a.shape, a.shape, kept) { o, _, ib, count, _, sb in
      if sb == 0 {
        var acc = dst[ib]
        for j in 0..<count { acc = combine(acc, src[o + j]) }
        dst[ib] = acc
      } else {
        for j in 0..<count { dst[ib + j] = combine(dst[ib + j], src[o + j]) }
      }
    }
  }

  /// Sum over `axes` (`nil`: all). `out = Σ_axes a`.
  /// Float and double sums over all axes, the trailing axes or the leading axes run vectorized
  /// C loops (with several partial sums, so results can differ from a left-to-right sum in the
  /// last bits). Int32 sums wrap around on overflow.
  /// - Precondition: `a.dtype != .bool` (a bool array has no sum: cast it first; the graph's
  ///   `sum` builder refuses bool tensors with a thrown error, so only direct kernel calls can
  ///   reach this trap).
  public static func sum(_ a: NDArray, axes: [Int], keepDims: Bool, into out: inout NDArray) {
    if vectorizedSum(a, axes: axes, keepDims: keepDims, into: &out) { return }
    if vectorizedSumWithoutUnitAxes(a, axes: axes, keepDims: keepDims, into: &out) { return }
    switch a.dtype {
    case .float32: reduce(a, Float.self, axes: axes, keepDims: keepDims, initial: 0, into: &out, +)
    case .float64: reduce(a, Double.self, axes: axes, keepDims: keepDims, initial: 0, into: &out, +)
    case .int32: reduce(a, Int32.self, axes: axes, keepDims: keepDims, initial: 0, into: &out, &+)
    case .bool: preconditionFailure("Kernels.sum: bool arrays cannot be summed")
    }
  }

  /// The sum of `a` over `axes` viewed without its axes of size 1, which change no sum but
  /// decide whether the reduced axes are a leading or trailing run that the vectorized kernels
  /// take: `[1, N, 1]` over axis 1 was a sum in order of `N` elements in the generic loop (3e-5
  /// relative error for 10⁶ floats, 30 times the vectorized sum's of the same elements over
  /// `[0, 1]`). `false` when the view is not vectorized either.
  @usableFromInline static func vectorizedSumWithoutUnitAxes(_ a: NDArray, axes: [Int], keepDims: Bool, into out: inout NDArray) -> Bool {
    guard a.dtype == .float32 || a.dtype == .float64, a.shape.dimensions.contains(1) else { return false }
    var dims: [Int] = [], reduced: [Int] = []
    for (i, d) in a.shape.dimensions.enumerated() where d != 1 {
      if axes.contains(i) { reduced.append(dims.count) }
      dims.append(d)
    }
    guard !reduced.isEmpty, let view = try? a.reshaped(to: Shape(dims)),
      vectorizedSum(view, axes: reduced, keepDims: false, into: &out),
      let result = try? out.reshaped(to: reducedShape(a.shape, axes: axes, keepDims: keepDims))
    else { return false }
    out = result
    return true
  }

  /// Sums `a` down to `target`, the inverse of broadcasting `target` up to `a.shape`
  /// (un-broadcasting a gradient).
  /// - Throws: ``ShapeError`` when `target` does not broadcast to `a.shape`.
  public static func sum(_ a: NDArray, to target: Shape, into out: inout NDArray) throws(ShapeError) {
    if a.shape == target { copy(a, into: &out); return }
    let axes = try reductionAxes(from: a.shape, to: target)
    sum(a, axes: axes, keepDims: true, into: &out)
    // keepDims kept the leading axes as 1s; drop them to match the target's rank.
    out = try out.reshaped(to: target)
  }
}
