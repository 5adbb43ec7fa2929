// Kernels that move elements without computing with them: transpose, slice, concatenation,
// split, gather and scatter-add, one-hot encoding and selection. Except for scatter-add and
// one-hot (which compute in a float type), they copy raw elements, so every dtype works.

extension Kernels {
  /// Copies a strided view: `dst[dOff + Σ i_k·dStrides[k]] = src[sOff + Σ i_k·sStrides[k]]` for
  /// every multi-index `i` of `shape` (offsets and strides in elements of `byteSize` bytes).
  @usableFromInline static func stridedCopy(
    byteSize: Int, shape: [Int],
    from src: UnsafeRawPointer, _ sOff: Int, _ sStrides: [Int],
    to dst: UnsafeMutableRawPointer, _ dOff: Int, _ dStrides: [Int]
  ) {
    switch byteSize {
    case 1: typedCopy(UInt8.self, shape, src, sOff, sStrides, dst, dOff, dStrides)
    case 4: typedCopy(UInt32.self, shape, src, sOff, sStrides, dst, dOff, dStrides)
    default: typedCopy(UInt64.self, shape, src, sOff, sStrides, dst, dOff, dStrides)
    }
  }

  @inlinable static func typedCopy<T: FixedWidthInteger>(
    _: T.Type, _ shape: [Int], _ src: UnsafeRawPointer, _ sOff: Int, _ sStrides: [Int],
    _ dst: UnsafeMutableRawPointer, _ dOff: Int, _ dStrides: [Int]
  ) {
    let count = shape.reduce(1, *)
    if count == 0 { return }
    let size = MemoryLayout<T>.size
    let rank = shape.count
    if rank == 0 {
      dst.storeBytes(of: src.load(fromByteOffset: sOff * size, as: T.self), toByteOffset: dOff * size, as: T.self)
      return
    }
    // The innermost run: the last axis, extended over the axes before it while both sides
    // continue at the same spacing (a concatenation's parts, a slice of whole rows), so that
    // the walk below goes over fewer, longer runs; a run contiguous on both sides is one memcpy.
    var first = rank - 1, inner = shape[rank - 1]
    let si = sStrides[rank - 1], di = dStrides[rank - 1]
    while first > 0 && sStrides[first - 1] == inner &* si && dStrides[first - 1] == inner &* di {
      first -= 1
      inner &*= shape[first]
    }
    let contiguous = si == 1 && di == 1
    // A transpose: the destination's last axis is contiguous, the source's is not, and another
    // axis is contiguous in the source. Copied in square tiles, so that both sides' cache lines
    // are used whole (element by element, each source read touched a new line).
    if first == rank - 1, di == 1, si != 1, let p = (0..<(rank - 1)).last(where: { sStrides[$0] == 1 && shape[$0] > 1 }) {
      transposeTiles(T.self, shape, src, sOff, sStrides, dst, dOff, dStrides, across: p)
      return
    }
    var counter = [Int](repeating: 0, count: rank)
    var s = sOff, d = dOff
    for _ in 0..<(count / inner) {
      if contiguous {
        (dst + d &* size).copyMemory(from: src + s &* size, byteCount: inner &* size)
      } else {
        for j in 0..<inner {
          let v = src.load(fromByteOffset: (s + j &* si) &* size, as: T.self)
          dst.storeBytes(of: v, toByteOffset: (d + j &* di) &* size, as: T.self)
        }
      }
      advance(&counter, over: first, of: shape, &s, sStrides, &d, dStrides)
    }
  }

  /// Steps the multi-index `counter` over the first `axes` axes of `shape` (the last of them
  /// fastest), moving offsets `a` and `b` by their strides: an odometer, each wrap taking its
  /// axis's whole extent back.
  @inlinable @inline(__always) static func advance(
    _ counter: inout [Int], over axes: Int, of shape: [Int], _ a: inout Int, _ aStrides: [Int], _ b: inout Int, _ bStrides: [Int]
  ) {
    var k = axes - 1
    while k >= 0 {
      counter[k] += 1
      a += aStrides[k]
      b += bStrides[k]
      if counter[k] < shape[k] { return }
      a -= aStrides[k] * shape[k]
      b -= bStrides[k] * shape[k]
      counter[k] = 0
      k -= 1
    }
  }

  /// ``typedCopy(_:_:_:_:_:_:_:_:)`` when axis `p` is contiguous in the source and the last axis
  /// in the destination: for each index of the other axes, the `shape[p] × shape[last]` block is
  /// copied in tiles of 64 bytes by 64 bytes' worth of elements, `dst[a·dStrides[p] + b] =
  /// src[a + b·sStrides[last]]` (the order of the copies does not change what is copied).
  @inlinable static func transposeTiles<T: FixedWidthInteger>(
    _: T.Type, _ shape: [Int], _ src: UnsafeRawPointer, _ sOff: Int, _ sStrides: [Int],
    _ dst: UnsafeMutableRawPointer, _ dOff: Int, _ dStrides: [Int], across p: Int
  ) {
    let rank = shape.count
    let rows = shape[p], columns = shape[rank - 1]
    let sColumn = sStrides[rank - 1], dRow = dStrides[p]
    let tile = Swift.max(1, 64 / MemoryLayout<T>.size)
    let outerAxes = (0..<(rank - 1)).filter { $0 != p }
    let outerShape = outerAxes.map { shape[$0] }, outerS = outerAxes.map { sStrides[$0] }, outerD = outerAxes.map { dStrides[$0] }
    let outerCount = outerShape.reduce(1, *)
    let source = src.assumingMemoryBound(to: T.self), target = dst.assumingMemoryBound(to: T.self)
    var counter = [Int](repeating: 0, count: outerAxes.count)
    var s = sOff, d = dOff
    for _ in 0..<outerCount {
      for a0 in stride(from: 0, to: rows, by: tile) {
        let a1 = Swift.min(a0 + tile, rows)
        for b0 in stride(from: 0, to: columns, by: tile) {
          let b1 = Swift.min(b0 + tile, columns)
          for a in a0..<a1 {
            let from = source + (s &+ a), to = target + (d &+ a &* dRow)
            for b in b0..<b1 { to[b] = from[b &* sColumn] }
          }
        }
      }
      advance(&counter, over: outerShape.count, of: outerShape, &s, outerS, &d, outerD)
    }
  }

  /// Permutes the axes of `a`: `out.shape[k] = a.shape[permutation[k]]` and
  /// `out[i₀, …] = a[j]` with `j[permutation[k]] = i_k` (NumPy `transpose`).
  /// - Throws: ``ShapeError`` when `permutation` is not a permutation of `0..<a.rank`.
  public static func transpose(_ a: NDArray, permutation: [Int], into out: inout NDArray) throws(ShapeError) {
    guard permutation.sorted() == Array(0..<a.rank) else {
      throw ShapeError("\(permutation) is not a permutation of the axes of \(a.shape)")
    }
    let shape = Shape(permutation.map { a.shape[$0] })
    try out.prepare(shape: shape, dtype: a.dtype)
    let strides = a.shape.strides
    stridedCopy(
      byteSize: a.dtype.byteSize, shape: shape.dimensions, from: a.storage.bytes, 0,
      permutation.map { strides[$0] }, to: out.storage.bytes, 0, shape.strides)
  }

  /// The block of `a` starting at `begin` with `size` elements along each axis (`tf.slice`).
  /// - Throws: ``ShapeError`` when the block does not lie inside `a`.
  public static func slice(_ a: NDArray, begin: [Int], size: [Int], into out: inout NDArray) throws(ShapeError) {
    guard begin.count == a.rank, size.count == a.rank,
      (0..<a.rank).allSatisfy({ begin[$0] >= 0 && size[$0] >= 0 && begin[$0] <= a.shape[$0] && size[$0] <= a.shape[$0] - begin[$0] })
    else { throw ShapeError("slice at \(begin) of size \(size) does not fit in \(a.shape)") }
    let strides = a.shape.strides
    let offset = Swift.zip(begin, strides).reduce(0) { $0 + $1.0 * $1.1 }
    try out.prepare(shape: Shape(size), dtype: a.dtype)
    stridedCopy(
      byteSize: a.dtype.byteSize, shape: size, from: a.storage.bytes, offset, strides,
      to: out.storage.bytes, 0, Shape(size).strides)
  }

  /// Zeros of `shape` with `a` written at `begin` (the inverse of ``slice(_:begin:size:into:)``,
  /// a zero padding).
  /// - Throws: ``ShapeError`` when `a` does not fit inside `shape` at `begin`.
  public static func pad(_ a: NDArray, into shape: Shape, at begin: [Int], out: inout NDArray) throws(ShapeError) {
    try shape.validate(dtype: a.dtype)
    guard begin.count == shape.rank, a.rank == shape.rank,
      (0..<a.rank).allSatisfy({ begin[$0] >= 0 && begin[$0] <= shape[$0] && a.shape[$0] <= shape[$0] - begin[$0] })
    else { throw ShapeError("a block of shape \(a.shape) at \(begin) does not fit in \(shape)") }
    try out.prepare(shape: shape, dtype: a.dtype)
    out.storage.bytes.initializeMemory(as: UInt8.self, repeating: 0, count: shape.elementCount * a.dtype.byteSize)
    let strides = shape.strides
    let offset = Swift.zip(begin, strides).reduce(0) { $0 + $1.0 * $1.1 }
    stridedCopy(
      byteSize: a.dtype.byteSize, shape: a.shape.dimensions, from: a.storage.bytes, 0, a.shape.strides,
      to: out.storage.bytes, offset, strides)
  }

  /// Joins arrays along `axis` (`tf.concat`); the other sizes and the dtypes must agree.
  /// - Throws: ``ShapeError`` naming the shapes when they do not fit together.
  public static func concatenate(_ parts: [NDArray], axis: Int, into out: inout NDArray) throws(ShapeError) {
    guard let first = parts.first else { throw ShapeError("concatenation of no arrays") }
    let ax = try normalizeAxis(axis, rank: first.rank)
    var total = 0
    for p in parts {
      guard p.dtype == first.dtype, p.rank == first.rank,
        (0..<p.rank).allSatisfy({ $0 == ax || p.shape[$0] == first.shape[$0] })
      else {
        throw ShapeError("cannot concatenate \(parts.map { "\($0.dtype) \($0.shape)" }.joined(separator: ", ")) along axis \(ax)")
      }
      total += p.shape[ax]
    }
    var shape = first.shape
    shape[ax] = total
    try out.prepare(shape: shape, dtype: first.dtype)
    let strides = shape.strides
    var start = 0
    for p in parts {
      stridedCopy(
        byteSize: p.dtype.byteSize, shape: p.shape.dimensions, from: p.storage.bytes, 0, p.shape.strides,
        to: out.storage.bytes, start * strides[ax], strides)
      start += p.shape[ax]
    }
  }

  /// Views a shape as `[outer, shape[axis], inner]`.
  @inlinable static func split3(_ shape: Shape, axis: Int) -> (outer: Int, n: Int, inner: Int) {
    var outer = 1, inner = 1
    for i in 0..<axis { outer &*= shape[i] }
    for i in (axis + 1)..<shape.rank { inner &*= shape[i] }
    return (outer, shape[axis], inner)
  }

  static func int32Indices(_ indices: NDArray) throws(ShapeError) -> [Int] {
    guard indices.dtype == .int32 else { throw ShapeError("indices must be int32, got \(indices.dtype)") }
    return indices.withUnsafeBufferPointer(as: Int32.self) { $0.map(Int.init) }
  }

  /// Gathers slices of `params` along `axis` (`tf.gather`):
  /// `out[o, i..., r] = params[o, indices[i...], r]`, of shape
  /// `params.shape[..<axis] + indices.shape + params.shape[(axis+1)...]`.
  /// - Throws: ``ShapeError`` for an index outside `0..<params.shape[axis]` (naming it) or
  ///   non-int32 indices.
  public static func gather(_ params: NDArray, indices: NDArray, axis: Int, into out: inout NDArray) throws(ShapeError) {
    let ax = try normalizeAxis(axis, rank: params.rank)
    let idx = try int32Indices(indices)
    let (outer, n, inner) = split3(params.shape, axis: ax)
    for i in idx where i < 0 || i >= n {
      throw ShapeError("index \(i) is out of range [0, \(n)) for axis \(ax) of params \(params.shape)")
    }
    let d = params.shape.dimensions
    try out.prepare(shape: Shape(Array(d[..<ax]) + indices.shape.dimensions + Array(d[(ax + 1)...])), dtype: params.dtype)
    let b = params.dtype.byteSize * inner
    let src = params.storage.bytes, dst = out.storage.bytes
    let k = idx.count
    for o in 0..<outer {
      for (j, i) in idx.enumerated() {
        (dst + (o * k + j) * b).copyMemory(from: src + (o * n + i) * b, byteCount: b)
      }
    }
  }

  /// The adjoint of ``gather(_:indices:axis:into:)``: zeros of `shape`, to which each slice of
  /// `updates` is added at its index along `axis` (repeated indices accumulate; TF's
  /// `UnsortedSegmentSum` along an axis).
  /// - Throws: ``ShapeError`` when `updates` does not have the gathered shape or an index is out
  ///   of range.
  public static func scatterAdd(
    _ updates: NDArray, indices: NDArray, axis: Int, shape: Shape, into out: inout NDArray
  ) throws(ShapeError) {
    let ax = try normalizeAxis(axis, rank: shape.rank)
    let idx = try int32Indices(indices)
    let d = shape.dimensions
    let expected = Shape(Array(d[..<ax]) + indices.shape.dimensions + Array(d[(ax + 1)...]))
    guard updates.shape == expected, updates.dtype.isFloatingPoint else {
      throw ShapeError("updates \(updates.dtype) \(updates.shape) do not match \(expected) for indices \(indices.shape) into \(shape)")
    }
    let (outer, n, inner) = split3(shape, axis: ax)
    for i in idx where i < 0 || i >= n {
      throw ShapeError("index \(i) is out of range [0, \(n)) for axis \(ax) of \(shape)")
    }
    try out.prepare(shape: shape, dtype: updates.dtype)
    switch updates.dtype {
    case .float32: scatterAddTyped(Float.self, updates, idx, outer, n, inner, &out)
    default: scatterAddTyped(Double.self, updates, idx, outer, n, inner, &out)
    }
  }

  @inlinable static func scatterAddTyped<T: FloatElement>(
    _: T.Type, _ updates: NDArray, _ idx: [Int], _ outer: Int, _ n: Int, _ inner: Int, _ out: inout NDArray
  ) {
    let src = updates.storage.bytes.assumingMemoryBound(to: T.self)
    let dst = out.storage.bytes.assumingMemoryBound(to: T.self)
    for i in 0..<(outer * n * inner) { dst[i] = 0 }
    let k = idx.count
    for o in 0..<outer {
      for (j, i) in idx.enumerated() {
        let s = src + (o * k + j) * inner, t = dst + (o * n + i) * inner
        for r in 0..<inner { t[r] += s[r] }
      }
    }
  }

  /// One-hot encoding (`tf.one_hot` with `axis = -1`): `out[..., j] = on` where
  /// `indices[...] == j`, `off` elsewhere; indices outside `0..<depth` give a row of `off`.
  /// - Throws: ``ShapeError`` for non-int32 indices, a negative depth, a result too large
  ///   (``Shape/validate(dtype:)``) or a bool dtype.
  public static func oneHot(
    _ indices: NDArray, depth: Int, on: Double = 1, off: Double = 0, dtype: DType, into out: inout NDArray
  ) throws(ShapeError) {
    let idx = try int32Indices(indices)
    guard depth >= 0 else { throw ShapeError("depth \(depth) is negative") }
    // The result's size is checked before it is allocated (a depth near Int.max, or a large
    // batch of indices known only at run time).
    try Shape(indices.shape.dimensions + [depth]).validate(dtype: dtype)
    try out.prepare(shape: Shape(indices.shape.dimensions + [depth]), dtype: dtype)
    switch dtype {
    case .float32: oneHotTyped(Float(on), Float(off), idx, depth, &out)
    case .float64: oneHotTyped(on, off, idx, depth, &out)
    case .int32: oneHotTyped(Int32(fromDouble: on), Int32(fromDouble: off), idx, depth, &out)
    case .bool: throw ShapeError("one-hot values cannot be bool")
    }
  }

  @inlinable static func oneHotTyped<T: Element>(_ on: T, _ off: T, _ idx: [Int], _ depth: Int, _ out: inout NDArray) {
    let dst = out.storage.bytes.assumingMemoryBound(to: T.self)
    for (r, i) in idx.enumerated() {
      let row = dst + r * depth
      for j in 0..<depth { row[j] = off }
      if i >= 0 && i < depth { row[i] = on }
    }
  }

  /// Chooses elementwise with broadcasting: `out[i] = condition[i] ? x[i] : y[i]`
  /// (`tf.where` with three arguments, NumPy `where`).
  ///
  /// A one-element condition (a training flag choosing between two branches, as the
  /// `BatchNorm` layer does) chooses a whole input: the result is that input, sharing its
  /// memory when it already has the result's shape (copy-on-write keeps both values intact),
  /// or that input broadcast otherwise; the other input is not read.
  /// - Throws: ``ShapeError`` when the shapes do not broadcast, the condition is not bool or
  ///   `x` and `y` have different dtypes.
  public static func select(_ condition: NDArray, _ x: NDArray, _ y: NDArray, into out: inout NDArray) throws(ShapeError) {
    guard condition.dtype == .bool else { throw ShapeError("condition must be bool, got \(condition.dtype)") }
    guard x.dtype == y.dtype else { throw ShapeError("x is \(x.dtype) but y is \(y.dtype)") }
    let shape = try broadcastShape(broadcastShape(condition.shape, x.shape), y.shape)
    if condition.elementCount == 1 {
      let chosen = condition.storage.bytes.assumingMemoryBound(to: Bool.self)[0] ? x : y
      if chosen.shape == shape {
        out = chosen
      } else {
        try broadcast(chosen, to: shape, into: &out)
      }
      return
    }
    func expanded(_ a: NDArray) throws(ShapeError) -> NDArray {
      if a.shape == shape { return a }
      var b = NDArray()
      try broadcast(a, to: shape, into: &b)
      return b
    }
    let c = try expanded(condition), a = try expanded(x), b = try expanded(y)
    try out.prepare(shape: shape, dtype: x.dtype)
    let n = shape.elementCount
    let cp = c.storage.bytes.assumingMemoryBound(to: Bool.self)
    switch x.dtype.byteSize {
    case 1: selectTyped(UInt8.self, n, cp, a, b, &out)
    case 2: selectTyped(UInt16.self, n, cp, a, b, &out)
    case 4: selectTyped(UInt32.self, n, cp, a, b, &out)
    case 8: selectTyped(UInt64.self, n, cp, a, b, &out)
    default:
      let size = x.dtype.byteSize
      let pa = a.storage.bytes, pb = b.storage.bytes, dst = out.storage.bytes
      for i in 0..<n {
        (dst + i * size).copyMemory(from: (cp[i] ? pa : pb) + i * size, byteCount: size)
      }
    }
  }

  /// `out[i] = c[i] ? a[i] : b[i]` over `n` elements of `T`'s size (the bits are moved as they
  /// are, whatever the dtype).
  @inline(__always) static func selectTyped<T: FixedWidthInteger>(
    _: T.Type, _ n: Int, _ c: UnsafeMutablePointer<Bool>, _ a: NDArray, _ b: NDArray, _ out: inout NDArray
  ) {
    // Raw loads and stores of the element's bits (trivial types of one size and alignment):
    // the memory stays bound to its dtype's type.
    let pa = UnsafeRawPointer(a.storage.bytes), pb = UnsafeRawPointer(b.storage.bytes), dst = out.storage.bytes
    let size = MemoryLayout<T>.stride
    for i in 0..<n {
      dst.storeBytes(of: (c[i] ? pa : pb).load(fromByteOffset: i * size, as: T.self), toByteOffset: i * size, as: T.self)
    }
  }
}
