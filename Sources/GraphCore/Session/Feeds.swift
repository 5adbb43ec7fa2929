import ArrayCore

/// The values fed to one run: tensors (usually placeholders) and their values, written as a
/// dictionary literal (TF1's `feed_dict`).
///
/// ```swift
/// try session.run(train, feeding: [x: NDArray([Float(1.02)]), y: NDArray([Float(10)])])
/// ```
///
/// A literal of this type keeps the array of pairs the compiler builds for it, in the order
/// written, and hashes nothing: the session binds each value by position among the fed tensors
/// of its cached plan, reading the pairs in place. One or two pairs are passed to the run as
/// values, or as their elements when each has one (``lend(_:elements:borrowing:lending:)``), so
/// the caller's compiler drops the literal's array.
/// A tensor written twice, `[x: a, x: b]`, is a thrown
/// ``SessionError/unexpectedFeed(name:reason:)`` naming it when the run binds the feeds (the
/// same literal typed as a `Dictionary` traps: "Dictionary literal contains duplicate keys").
/// Dictionaries built in code are fed as they are: every `feeding:` API also takes a
/// `[Tensor: NDArray]`, and ``init(_:)`` converts any sequence of pairs.
public struct Feeds: ExpressibleByDictionaryLiteral, RandomAccessCollection, Sendable {
  /// A fed tensor and its value.
  public typealias Element = (key: Tensor, value: NDArray)
  /// Positions `0..<count`, in the order the pairs were written.
  public typealias Index = Int

  /// The pairs, in the order written: the literal's own array, kept as it is (no copy of a
  /// pair, so no reference counting beyond the literal's). A run lends its buffer to the plan,
  /// which swaps the values in and out (``Session``'s `run`; a shared buffer is copied first);
  /// nothing else changes it.
  @usableFromInline var pairs: [(Tensor, NDArray)]

  /// Feeds from a dictionary literal, in the order written (duplicates are kept, and refused
  /// when a run binds them).
  @inlinable @inline(__always) public init(dictionaryLiteral elements: (Tensor, NDArray)...) {
    pairs = elements
  }

  /// Feeds from pairs built in code (a `[Tensor: NDArray]` dictionary, an array of pairs), in
  /// their order.
  public init<S: Sequence>(_ pairs: S) where S.Element == (key: Tensor, value: NDArray) {
    self.pairs = pairs.map { ($0.key, $0.value) }
  }

  /// No feeds.
  @inlinable public init() { pairs = [] }

  /// Destroys the pairs, last first, by code specialized for them, rather than by the array
  /// storage's generic deinitializer (the runtime's per-element, per-tuple-member calls).
  @inlinable @inline(__always) mutating func destroyPairs() {
    while pairs.popLast() != nil {}
  }

  /// Lends the pairs of `feeds` to a run. One or two pairs whose values have one element each
  /// (every size 1) go as those elements (`elements(count, t0, e0, t1, e1)`, the second pair
  /// repeating the first when there is one: ``ArrayCore/OneElement``, read here where the
  /// caller holds the arrays, which a recent plan's scalar program takes in its registers);
  /// other values, one or two pairs, go as values read where the caller holds them
  /// (`borrowing(count, t0, v0, t1, v1)`); more pairs go through their buffer (`lending`),
  /// which the run may write and which is then destroyed. Inlined in the caller, the first
  /// forms let its compiler drop a literal's array (nothing is stored in one, and nothing is
  /// destroyed by the array's generic code), and the first one also the copies of the fed
  /// arrays: only their elements are passed on, so a sample taken from an array of arrays is
  /// neither retained nor released. See ``Session``'s `runElements` and `runBorrowing`.
  @inlinable @inline(__always) static func lend<R>(
    _ feeds: consuming Feeds,
    elements: (_ count: Int, Tensor, OneElement, Tensor, OneElement) throws -> R,
    borrowing: (_ count: Int, Tensor, NDArray, Tensor, NDArray) throws -> R,
    lending: (UnsafeMutableBufferPointer<(Tensor, NDArray)>) throws -> R
  ) rethrows -> R {
    let owned = consume feeds
    switch owned.pairs.count {
    case 1:
      // Each pair read from the literal once, so that its array is dropped.
      let (t0, v0) = owned.pairs[0]
      if let e0 = withUnsafePointer(to: v0, { NDArray.oneElement(of: $0) }) {
        // The value's lifetime ends here, before the call (a `let` lives to the end of its
        // scope, past an opaque call, which would keep the caller's copy: a retain and a release).
        _ = consume v0
        return try elements(1, t0, e0, t0, e0)
      }
      return try borrowing(1, t0, v0, t0, v0)
    case 2:
      let (t0, v0) = owned.pairs[0]
      let (t1, v1) = owned.pairs[1]
      if let e0 = withUnsafePointer(to: v0, { NDArray.oneElement(of: $0) }),
        let e1 = withUnsafePointer(to: v1, { NDArray.oneElement(of: $0) })
      {
        _ = consume v0
        _ = consume v1
        return try elements(2, t0, e0, t1, e1)
      }
      return try borrowing(2, t0, v0, t1, v1)
    default:
      var all = owned
      defer { all.destroyPairs() }
      return try all.pairs.withUnsafeMutableBufferPointer { given in try lending(given) }
    }
  }

  /// 0.
  @inlinable public var startIndex: Int { 0 }
  /// The number of pairs.
  @inlinable public var endIndex: Int { pairs.count }

  /// Pair `i`, in the order written.
  /// - Precondition: `0 <= i < count`.
  @inlinable public subscript(i: Int) -> Element {
    let pair = pairs[i]
    return (key: pair.0, value: pair.1)
  }
}

/// The values fed to one run as Swift scalars, written as a dictionary literal: TF1's
/// `feed_dict={x: 1.02, y: 10.0}`, a number per placeholder.
///
/// ```swift
/// let xs: [Float] = ...   // one sample per step
/// try session.run(train, feeding: [x: xs[i], y: 10])
/// ```
///
/// Each placeholder fed a scalar must have a static shape of one element (`[]`, `[1]`,
/// `[1, 1]`...); the value is converted to its dtype as TF1 converts a fed Python number:
/// rounded to `float32` or `float64`, and to `int32` or `bool` only when exact (else a thrown
/// ``SessionError/feedMismatch(name:expected:got:)``). A run binds the pairs by position among
/// its plan's feeds, as ``Feeds`` are bound, and once its plan has run its scalar program the
/// numbers go straight into the program's registers: no array is made or retained per run.
/// Mixing scalars and arrays in one run takes ``Feeds`` (`NDArray(scalar:)` for the numbers).
public struct ScalarFeeds<Scalar: Element>: ExpressibleByDictionaryLiteral, Sendable {
  /// The pairs, in the order written (the literal's own array).
  @usableFromInline var pairs: [(Tensor, Scalar)]

  /// Feeds from a dictionary literal, in the order written (a tensor written twice is refused
  /// when a run binds the feeds).
  @inlinable @inline(__always) public init(dictionaryLiteral elements: (Tensor, Scalar)...) {
    pairs = elements
  }

  /// Feeds from pairs built in code (a `[Tensor: Float]` dictionary, an array of pairs), in
  /// their order.
  public init<S: Sequence>(_ pairs: S) where S.Element == (key: Tensor, value: Scalar) {
    self.pairs = pairs.map { ($0.key, $0.value) }
  }

  /// The number of pairs.
  @inlinable public var count: Int { pairs.count }

  /// Calls `body` with the pairs read in place (``ScalarPairs``).
  @inlinable @inline(__always) func withPairs<R>(_ body: (ScalarPairs) throws -> R) rethrows -> R {
    try pairs.withUnsafeBufferPointer { buffer in
      try body(
        ScalarPairs(
          base: UnsafeRawPointer(buffer.baseAddress), count: buffer.count,
          stride: MemoryLayout<(Tensor, Scalar)>.stride,
          // A tuple is laid out as a struct of its elements in order: the last one ends the size.
          valueOffset: MemoryLayout<(Tensor, Scalar)>.size - MemoryLayout<Scalar>.size, dtype: Scalar.dtype))
    }
  }

  /// Lends the pairs of `feeds` to a run as ``Feeds/lend(_:elements:borrowing:lending:)``
  /// lends arrays: one or two pairs as values, each number as its bytes in a `UInt64`
  /// (`borrowing(count, t0, s0, t1, s1)`); more through ``ScalarPairs`` read in place.
  @inlinable @inline(__always) static func lend<R>(
    _ feeds: consuming ScalarFeeds,
    borrowing: (_ count: Int, Tensor, UInt64, Tensor, UInt64) throws -> R,
    lending: (ScalarPairs) throws -> R
  ) rethrows -> R {
    let owned = consume feeds
    switch MemoryLayout<Scalar>.size <= MemoryLayout<UInt64>.size ? owned.pairs.count : 0 {
    case 1:
      // Each pair read from the literal once (as ``Feeds/lend(_:elements:borrowing:lending:)``).
      let (t0, s0) = owned.pairs[0]
      return try borrowing(1, t0, bits(s0), t0, 0)
    case 2:
      let (t0, s0) = owned.pairs[0]
      let (t1, s1) = owned.pairs[1]
      return try borrowing(2, t0, bits(s0), t1, bits(s1))
    default:
      var all = owned
      defer { all.destroyPairs() }
      return try all.withPairs(lending)
    }
  }

  /// The bytes of `scalar` at the start of a `UInt64` (the rest zero).
  @inlinable @inline(__always) static func bits(_ scalar: Scalar) -> UInt64 {
    var bits: UInt64 = 0
    withUnsafeMutableBytes(of: &bits) { $0.storeBytes(of: scalar, as: Scalar.self) }
    return bits
  }

  /// Destroys the pairs, last first, by code specialized for them (as ``Feeds`` does).
  @inlinable @inline(__always) mutating func destroyPairs() {
    while pairs.popLast() != nil {}
  }
}

/// The pairs of a ``ScalarFeeds`` value, read in place without its scalar type: each pair's
/// tensor, and its scalar as bytes of ``dtype`` (what the session's non-generic run code reads).
@usableFromInline struct ScalarPairs {
  let base: UnsafeRawPointer?
  /// The number of pairs.
  let count: Int
  let stride: Int
  let valueOffset: Int
  /// The scalars' dtype.
  let dtype: DType

  @usableFromInline init(base: UnsafeRawPointer?, count: Int, stride: Int, valueOffset: Int, dtype: DType) {
    self.base = base
    self.count = count
    self.stride = stride
    self.valueOffset = valueOffset
    self.dtype = dtype
  }

  /// Pair `i`'s tensor, in place.
  /// - Precondition: `0 <= i < count`.
  @inline(__always) func tensor(_ i: Int) -> UnsafePointer<Tensor> {
    (base.unsafelyUnwrapped + i &* stride).assumingMemoryBound(to: Tensor.self)
  }

  /// Pair `i`'s scalar, in place.
  /// - Precondition: `0 <= i < count`.
  @inline(__always) func value(_ i: Int) -> UnsafeRawPointer {
    base.unsafelyUnwrapped + (i &* stride &+ valueOffset)
  }
}

/// Where a prepared step's feed takes a Swift scalar or an array of one element
/// (``PreparedStep/setFeed(_:to:)-(_,Scalar)``, ``PreparedStep/setFeed(_:to:)-(_,NDArray)``):
/// its register's offset in bytes (`-1`: the feed does not take one), its dtype, and its
/// placeholder's rank (the arrays it accepts have that rank and every size 1).
@usableFromInline struct ScalarFeedSlot {
  @usableFromInline let offset: Int
  @usableFromInline let dtype: DType
  @usableFromInline let rank: Int
  init(offset: Int, dtype: DType, rank: Int) {
    self.offset = offset
    self.dtype = dtype
    self.rank = rank
  }
}
