import CBackpropKernels
import RealModule

/// A floating-point element type that kernels can compute with (`Float` or `Double`).
public protocol FloatElement: Element & Real & BinaryFloatingPoint {}
extension Float: FloatElement {}
extension Double: FloatElement {}

/// CPU kernels over ``NDArray`` values. Each writes its result into an `inout` output array,
/// reusing that array's memory when it is not shared (see ``NDArray/prepare(shape:dtype:)``).
public enum Kernels {}

/// A function of one element, for ``Kernels/concurrentMap(_:into:_:)``: a value whose calls
/// compute each element from that element alone (it runs on several threads at once).
public protocol ElementMap: Sendable {
  /// The element type read.
  associatedtype Input: Element
  /// The element type written.
  associatedtype Output: Element
  /// The function on one element.
  func callAsFunction(_ x: Input) -> Output
}

extension Kernels {
  /// Applies `f` to every element: `out[i] = f(a[i])`.
  /// - Precondition: `a.dtype == T.dtype`.
  @inlinable public static func map<T: Element, U: Element>(
    _ a: NDArray, _: T.Type, _: U.Type, into out: inout NDArray, _ f: (T) -> U
  ) {
    out.prepare(fittingAnInput: a.shape, dtype: U.dtype)
    let n = a.elementCount
    a.withUnsafeBufferPointer(as: T.self) { src in
      let dst = out.storage.bytes.assumingMemoryBound(to: U.self)
      for i in 0..<n { dst[i] = f(src[i]) }
    }
  }

  /// ``map(_:_:_:into:_:)`` with `f` a value of a type (a struct whose calls the compiler inlines
  /// into the loop, so it vectorizes), split over the kernel threads from 65,536 elements (as the
  /// C maps are), in pieces of 4,096: `out[i] = f(a[i])`, the same values whatever the split.
  /// `f` runs on several threads at once, so it must compute each element from that element alone.
  /// - Precondition: `a.dtype == F.Input.dtype`.
  @inlinable public static func concurrentMap<F: ElementMap>(_ a: NDArray, into out: inout NDArray, _ f: F) {
    out.prepare(fittingAnInput: a.shape, dtype: F.Output.dtype)
    let n = a.elementCount
    a.withUnsafeBufferPointer(as: F.Input.self) { src in
      let dst = out.storage.bytes.assumingMemoryBound(to: F.Output.self)
      if n < Int(BP_MAP_THREAD_ELEMENTS) {
        for i in 0..<n { dst[i] = f(src[i]) }
        return
      }
      let src = src.baseAddress.unsafelyUnwrapped
      forEachRange(n) { first, count in
        for i in first..<first + count { dst[i] = f(src[i]) }
      }
    }
  }

  /// Calls `body(first, count)` on the pieces of `0..<n` over the kernel threads
  /// (`bp_split_range`), returning when all are done.
  @usableFromInline static func forEachRange(_ n: Int, _ body: (Int, Int) -> Void) {
    withoutActuallyEscaping(body) { body in
      withUnsafePointer(to: body) { context in
        bp_split_range(n, { context, first, count in
          context.unsafelyUnwrapped.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(first, count)
        }, UnsafeMutableRawPointer(mutating: context))
      }
    }
  }

  /// Combines two arrays element by element with NumPy broadcasting: `out[i] = f(a[i], b[i])`.
  /// - Throws: ``ShapeError`` when the shapes do not broadcast.
  /// - Precondition: both arrays have dtype `T`.
  @inlinable public static func zip<T: Element, U: Element>(
    _ a: NDArray, _ b: NDArray, _: T.Type, _: U.Type, into out: inout NDArray, _ f: (T, T) -> U
  ) throws(ShapeError) {
    let shape = try broadcastShape(a.shape, b.shape)
    try out.prepare(shape: shape, dtype: U.dtype)
    let n = shape.elementCount
    let dst = out.storage.bytes.assumingMemoryBound(to: U.self)
    let pa = a.storage.bytes.assumingMemoryBound(to: T.self)
    let pb = b.storage.bytes.assumingMemoryBound(to: T.self)
    precondition(a.dtype == T.dtype && b.dtype == T.dtype, "Kernels.zip: dtype mismatch")
    if a.shape == b.shape {
      for i in 0..<n { dst[i] = f(pa[i], pb[i]) }
    } else if b.elementCount == 1 {
      let y = pb[0]
      for i in 0..<n { dst[i] = f(pa[i], y) }
    } else if a.elementCount == 1 {
      let x = pa[0]
      for i in 0..<n { dst[i] = f(x, pb[i]) }
    } else {
      broadcastLoop(shape: shape, a.shape, b.shape) { o, ia, ib, count, sa, sb in
        for j in 0..<count { dst[o + j] = f(pa[ia + j &* sa], pb[ib + j &* sb]) }
      }
    }
  }

  /// Walks an output of `shape` row by row (the last dimension), calling `row` with the output
  /// offset, the two input offsets, the row length and the inputs' strides along the row.
  @inlinable static func broadcastLoop(
    shape: Shape, _ sa: Shape, _ sb: Shape,
    _ row: (_ out: Int, _ a: Int, _ b: Int, _ count: Int, _ strideA: Int, _ strideB: Int) -> Void
  ) {
    let rank = shape.rank
    if shape.elementCount == 0 { return }
    let stA = broadcastStrides(sa, to: shape)
    let stB = broadcastStrides(sb, to: shape)
    let inner = rank == 0 ? 1 : shape[rank - 1]
    let ia = rank == 0 ? 0 : stA[rank - 1]
    let ib = rank == 0 ? 0 : stB[rank - 1]
    let rows = inner == 0 ? 0 : shape.elementCount / inner
    var counter = [Int](repeating: 0, count: Swift.max(rank - 1, 0))
    var offA = 0, offB = 0, offOut = 0
    for _ in 0..<rows {
      row(offOut, offA, offB, inner, ia, ib)
      offOut += inner
      advance(&counter, over: rank - 1, of: shape.dimensions, &offA, stA, &offB, stB)
    }
  }

  /// Copies `a` broadcast to `shape` (NumPy `broadcast_to`, materialized).
  /// - Throws: ``ShapeError`` when `a` does not broadcast to `shape`, or `shape` is invalid
  ///   (``Shape/validate(dtype:)``).
  public static func broadcast(_ a: NDArray, to shape: Shape, into out: inout NDArray) throws(ShapeError) {
    try shape.validate(dtype: a.dtype)
    let s = try broadcastShape(a.shape, shape)
    guard s == shape else { throw ShapeError("cannot broadcast \(a.shape) to \(shape)") }
    try out.prepare(shape: shape, dtype: a.dtype)
    switch a.dtype {
    case .float32: copyBroadcast(a, Float.self, &out)
    case .float64: copyBroadcast(a, Double.self, &out)
    case .int32: copyBroadcast(a, Int32.self, &out)
    case .bool: copyBroadcast(a, Bool.self, &out)
    }
  }

  @inlinable static func copyBroadcast<T: Element>(_ a: NDArray, _: T.Type, _ out: inout NDArray) {
    let src = a.storage.bytes.assumingMemoryBound(to: T.self)
    let dst = out.storage.bytes.assumingMemoryBound(to: T.self)
    broadcastLoop(shape: out.shape, a.shape, out.shape) { o, ia, _, count, sa, _ in
      for j in 0..<count { dst[o + j] = src[ia + j &* sa] }
    }
  }

  /// Copies `a` into `out` (same shape and dtype), reusing `out`'s memory when possible.
  public static func copy(_ a: NDArray, into out: inout NDArray) {
    out.prepare(fittingAnInput: a.shape, dtype: a.dtype)
    out.storage.bytes.copyMemory(from: a.storage.bytes, byteCount: a.elementCount * a.dtype.byteSize)
  }
}
