import CBackpropKernels

/// The raw, untyped memory behind one or more ``NDArray`` values (shared until written:
/// copy-on-write).
@usableFromInline final class ArrayStorage: @unchecked Sendable {
  @usableFromInline let bytes: UnsafeMutableRawPointer
  @usableFromInline let capacity: Int  // in bytes

  @usableFromInline init(byteCount: Int) {
    capacity = Swift.max(byteCount, 16)
    // 64-byte (cache-line) alignment for arrays that fill one or more lines; a smaller array
    // (a scalar, a few elements: most of eager code's values) takes malloc's own 16-byte
    // alignment, which skips the much slower aligned allocation path. Kernels use unaligned
    // loads on array storage (the GEMM's aligned loads read its own packed scratch buffers).
    bytes = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: capacity < 64 ? 16 : 64)
    // Arrays of 4 MiB or more on huge pages where the system offers them, as NumPy's are: fewer
    // TLB misses for the kernels that stride through them (runtime.c, "Huge pages for large
    // arrays"; the size is checked here too, so a small array makes no call).
    if capacity >= BP_HUGE_PAGE_MIN_BYTES { _ = bp_advise_huge_pages(bytes, capacity) }
  }

  deinit { bytes.deallocate() }
}

/// The value of every empty placeholder array (never written: its storage is always shared).
@usableFromInline let emptyArray = NDArray.sharedEmpty

/// An n-dimensional array of numbers with a runtime ``DType``: the concrete values that feeds,
/// fetches and variables hold.
///
/// `NDArray` is a value type with copy-on-write storage: copies share memory until one of them
/// is written. Elements are stored contiguously in row-major (C) order.
///
/// ```swift
/// let a = NDArray([1, 2, 3, 4] as [Float], shape: [2, 2])
/// print(a)   // [[1. 2.]
///            //  [3. 4.]]
/// ```
public struct NDArray: @unchecked Sendable {
  /// The shape.
  public private(set) var shape: Shape
  /// The element type.
  public private(set) var dtype: DType
  @usableFromInline var storage: ArrayStorage

  /// The number of elements.
  @inlinable public var elementCount: Int { shape.elementCount }
  /// The number of dimensions.
  @inlinable public var rank: Int { shape.rank }

  /// Creates an uninitialized-content array; the caller must write every element.
  @usableFromInline init(uninitializedShape shape: Shape, dtype: DType) {
    self.shape = shape
    self.dtype = dtype
    self.storage = ArrayStorage(byteCount: shape.elementCount * dtype.byteSize)
  }

  /// An empty float32 array of shape `[0]`, used as a placeholder value (allocates nothing).
  public init() { self = emptyArray }

  private init(emptyWith storage: ArrayStorage) {
    shape = [0]
    dtype = .float32
    self.storage = storage
  }

  static let sharedEmpty = NDArray(emptyWith: ArrayStorage(byteCount: 0))

  /// Whether this is the shared empty placeholder value (``init()``), not a real array.
  public var isEmptyPlaceholder: Bool { storage === emptyArray.storage }

  /// An empty float32 array of shape `[0]` (shared; creating it allocates nothing).
  public static var empty: NDArray { NDArray() }

  /// Creates an array holding `scalars` (row-major) with the given shape; the dtype follows `T`.
  /// - Precondition: `scalars.count == shape.elementCount` and `shape` is valid
  ///   (``Shape/validate(dtype:)``); use ``init(validating:shape:)`` to get a thrown error
  ///   instead.
  public init<T: Element>(_ scalars: [T], shape: Shape) {
    precondition((try? shape.validate(dtype: T.dtype)) != nil && scalars.count == shape.elementCount,
      "NDArray: \(scalars.count) scalars do not fill shape \(shape)")
    self.init(uninitializedShape: shape, dtype: T.dtype)
    let p = storage.bytes.bindMemory(to: T.self, capacity: scalars.count)
    scalars.withUnsafeBufferPointer { src in
      if let base = src.baseAddress { p.update(from: base, count: scalars.count) }
    }
  }

  /// Creates a rank-1 array holding `scalars`.
  public init<T: Element>(_ scalars: [T]) { self.init(scalars, shape: [scalars.count]) }

  /// Creates a rank-0 (scalar) array.
  public init<T: Element>(scalar: T) { self.init([scalar], shape: []) }

  /// Creates an array holding `scalars` with `shape`, throwing when the counts differ.
  /// - Throws: ``ShapeError`` naming the count and the shape.
  public init<T: Element>(validating scalars: [T], shape: Shape) throws(ShapeError) {
    try shape.validate(dtype: T.dtype)
    guard scalars.count == shape.elementCount else {
      throw ShapeError("\(scalars.count) scalars do not fill shape \(shape) (\(shape.elementCount) elements)")
    }
    self.init(scalars, shape: shape)
  }

  /// Creates an array of `dtype` from `Double` values, converting each (rounding for float32).
  /// - Precondition: `scalars.count == shape.elementCount` and `shape` is valid.
  public init(converting scalars: [Double], shape: Shape, dtype: DType) {
    precondition((try? shape.validate(dtype: dtype)) != nil && scalars.count == shape.elementCount, "NDArray: \(scalars.count) scalars do not fill shape \(shape)")
    self.init(shape: shape, dtype: dtype) { scalars[$0] }
  }

  /// An array of `shape` and `dtype` whose element `i` (in row-major order, each asked for once
  /// and in turn) is `scalar(i)` converted as ``init(converting:shape:dtype:)`` converts: the
  /// values are written straight into the array, with no array of doubles in between (a
  /// random initializer's draws; such a temporary was twice the size of a float32 result).
  /// - Precondition: the shape is valid for `dtype` (``Shape/validate(dtype:)``).
  package init(shape: Shape, dtype: DType, convertingEach scalar: (Int) -> Double) {
    self.init(uninitializedShape: shape, dtype: dtype)
    switch dtype {
    case .float32: fill(Float.self) { let v = scalar($0); return v.isNaN ? .nan : Float(v) }
    case .float64: fill(Double.self) { scalar($0) }
    case .int32: fill(Int32.self) { Int32(fromDouble: scalar($0)) }
    case .bool: fill(Bool.self) { scalar($0) != 0 }
    }
  }

  /// An array of `shape` with every element equal to `value`.
  /// - Throws: ``ShapeError`` when the shape is invalid (a negative dimension, or more elements
  ///   or bytes than ``Shape/validate(dtype:)`` allows).
  public init(repeating value: Double, shape: Shape, dtype: DType = .float32) throws(ShapeError) {
    try shape.validate(dtype: dtype)
    self.init(uninitializedShape: shape, dtype: dtype)
    switch dtype {
    case .float32: fill(Float.self) { _ in Float(value) }
    case .float64: fill(Double.self) { _ in value }
    case .int32: fill(Int32.self) { _ in Int32(fromDouble: value) }
    case .bool: fill(Bool.self) { _ in value != 0 }
    }
  }

  /// A rank-0 array of `dtype` holding `value` (converted as ``init(converting:shape:dtype:)``).
  public init(scalar value: Double, dtype: DType) {
    // As `init(converting: [value], shape: [], dtype:)`, without the temporary array.
    self.init(uninitializedShape: [], dtype: dtype)
    switch dtype {
    case .float32: fill(Float.self) { _ in value.isNaN ? .nan : Float(value) }
    case .float64: fill(Double.self) { _ in value }
    case .int32: fill(Int32.self) { _ in Int32(fromDouble: value) }
    case .bool: fill(Bool.self) { _ in value != 0 }
    }
  }

  /// An array of zeros.
  /// - Throws: ``ShapeError`` when the shape is invalid (see ``init(repeating:shape:dtype:)``).
  public static func zeros(_ shape: Shape, dtype: DType = .float32) throws(ShapeError) -> NDArray {
    try NDArray(repeating: 0, shape: shape, dtype: dtype)
  }
  /// An array of ones.
  /// - Throws: ``ShapeError`` when the shape is invalid (see ``init(repeating:shape:dtype:)``).
  public static func ones(_ shape: Shape, dtype: DType = .float32) throws(ShapeError) -> NDArray {
    try NDArray(repeating: 1, shape: shape, dtype: dtype)
  }

  private mutating func fill<T>(_: T.Type, _ value: (Int) -> T) {
    let n = elementCount
    let p = storage.bytes.bindMemory(to: T.self, capacity: n)
    for i in 0..<n { (p + i).initialize(to: value(i)) }
  }

  // MARK: Access

  /// Calls `body` with the elements as a typed buffer.
  /// - Precondition: `T.dtype == dtype`.
  @inlinable public func withUnsafeBufferPointer<T: Element, R>(
    as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
  ) rethrows -> R {
    precondition(T.dtype == dtype, "NDArray: reading \(dtype) as \(T.dtype)")
    let p = storage.bytes.assumingMemoryBound(to: T.self)
    return try body(UnsafeBufferPointer(start: p, count: elementCount))
  }

  /// Calls `body` with the elements as a mutable typed buffer, copying the storage first if it
  /// is shared.
  /// - Precondition: `T.dtype == dtype`.
  @inlinable public mutating func withUnsafeMutableBufferPointer<T: Element, R>(
    as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
  ) rethrows -> R {
    precondition(T.dtype == dtype, "NDArray: writing \(dtype) as \(T.dtype)")
    makeUnique()
    let p = storage.bytes.assumingMemoryBound(to: T.self)
    return try body(UnsafeMutableBufferPointer(start: p, count: elementCount))
  }

  /// The address of the only element of the array stored at `array`, read in place (no copy of
  /// the array value, so no reference counting): for loops that run millions of tiny steps.
  /// The address stays valid while that array is neither changed nor destroyed.
  /// - Returns: `nil` unless the array has dtype `T` and exactly one element.
  @inlinable public static func scalarAddress<T: Element>(
    of array: UnsafePointer<NDArray>, as type: T.Type
  ) -> UnsafeMutablePointer<T>? {
    // Every size 1 is one element (cheaper than the saturating product of `elementCount`).
    guard array.pointee.dtype == T.dtype, array.pointee.shape.dimensions.allSatisfy({ $0 == 1 }) else { return nil }
    return array.pointee.storage.bytes.assumingMemoryBound(to: T.self)
  }

  /// Like ``scalarAddress(of:as:)``, for writing: copies the storage first if another array
  /// shares it.
  /// - Returns: `nil` unless the array has dtype `T` and exactly one element.
  @inlinable public static func uniqueScalarAddress<T: Element>(
    of array: UnsafeMutablePointer<NDArray>, as type: T.Type
  ) -> UnsafeMutablePointer<T>? {
    guard array.pointee.dtype == T.dtype, array.pointee.shape.dimensions.allSatisfy({ $0 == 1 }) else { return nil }
    array.pointee.makeUnique()
    return array.pointee.storage.bytes.assumingMemoryBound(to: T.self)
  }

  /// Untyped read-only access to the bytes (little-endian on every supported platform).
  public func withUnsafeRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(start: storage.bytes, count: elementCount * dtype.byteSize))
  }

  /// Untyped mutable access to the bytes (copied first if another array shares them).
  public mutating func withUnsafeMutableRawBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    makeUnique()
    return try body(UnsafeMutableRawBufferPointer(start: storage.bytes, count: elementCount * dtype.byteSize))
  }

  /// Copies the storage if another array shares it.
  @inlinable public mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) {
      let n = elementCount * dtype.byteSize
      let s = ArrayStorage(byteCount: n)
      s.bytes.copyMemory(from: storage.bytes, byteCount: n)
      storage = s
    }
  }

  /// Sets this array to `source`'s value, copying the bytes into this array's own memory when
  /// that is cheaper than sharing `source`'s: `source` has at most `byteLimit` bytes, and this
  /// array, the same dtype and shape, holds its memory alone. Otherwise this array becomes a
  /// private copy of `source` (one allocation), so the next call with a value of that dtype
  /// and shape copies in place. A session's prepared step sets small feeds this way: copying a
  /// few bytes costs less than the reference counting of sharing a caller's array (the
  /// storage's and the shape's, each retained and released), and the caller's array is never
  /// kept alive. Larger values are shared, as by assignment.
  @inlinable package mutating func assignCopyingSmall(_ source: NDArray, byteLimit: Int) {
    withUnsafePointer(to: source) { source in
      withUnsafeMutablePointer(to: &self) { Self.assignCopyingSmall(from: source, to: $0, byteLimit: byteLimit) }
    }
  }

  /// ``assignCopyingSmall(_:byteLimit:)`` on arrays read in place (an element of a buffer is
  /// then not copied out, which would retain and release it).
  @inlinable package static func assignCopyingSmall(
    from source: UnsafePointer<NDArray>, to destination: UnsafeMutablePointer<NDArray>, byteLimit: Int
  ) {
    assignCopyingSmall(
      from: source, to: destination, byteCount: source.pointee.shape.elementCount &* source.pointee.dtype.byteSize,
      byteLimit: byteLimit)
  }

  /// ``assignCopyingSmall(from:to:byteLimit:)`` for a caller that knows the source's byte
  /// count `n` (`elementCount * dtype.byteSize`; a fed value checked against a static shape).
  @inlinable package static func assignCopyingSmall(
    from source: UnsafePointer<NDArray>, to destination: UnsafeMutablePointer<NDArray>, byteCount n: Int, byteLimit: Int
  ) {
    if n <= byteLimit, destination.pointee.dtype == source.pointee.dtype,
      sameDimensions(destination.pointee.shape, source.pointee.shape),
      isKnownUniquelyReferenced(&destination.pointee.storage)
    {
      copyBytes(of: source, to: destination.pointee.storage.bytes, byteCount: n)
    } else {
      destination.pointee.assignCopyingSmallSlowly(source.pointee, byteCount: n, byteLimit: byteLimit)
    }
  }

  /// The one element of the array at `array`, when every size is 1 (a scalar, `[1]`,
  /// `[1, 1]`...): its bits, dtype and rank (``OneElement``); `nil` for any other shape. Read in
  /// place and inlined, and only read (the caller stores the bits after): a caller that reads
  /// its value from a collection of arrays then copies and destroys nothing (no reference
  /// counting), where a store through a raw pointer while the value is alive would keep its
  /// retain and release (the store might overwrite the collection's reference).
  @inlinable @inline(__always) package static func oneElement(of array: UnsafePointer<NDArray>) -> OneElement? {
    // Indexed, not through `withUnsafeBufferPointer`, whose `fix_lifetime` of the sizes would
    // keep the caller's copy of the value (a retain and a release).
    let rank = array.pointee.shape.dimensions.count
    for j in 0..<rank where array.pointee.shape.dimensions[j] != 1 { return nil }
    let dtype = array.pointee.dtype
    let from = UnsafeRawPointer(array.pointee.storage.bytes)
    let bits: UInt64 =
      switch dtype.byteSize {
      case 8: from.load(as: UInt64.self)
      case 4: UInt64(from.load(as: UInt32.self))
      default: UInt64(from.load(as: UInt8.self))
      }
    return OneElement(bits: bits, dtype: dtype, rank: rank)
  }

  /// The array of `element`'s dtype and rank, every size 1, holding its element.
  package init(_ element: OneElement) {
    self.init(uninitializedShape: Shape(Array(repeating: 1, count: element.rank)), dtype: element.dtype)
    NDArray.storeElementBits(element.bits, byteCount: element.dtype.byteSize, to: storage.bytes)
  }

  /// Stores the low `byteCount` bytes (8, 4 or 1) of `bits` at `destination`: an element read
  /// by ``oneElement(of:)``.
  @inlinable @inline(__always) package static func storeElementBits(
    _ bits: UInt64, byteCount: Int, to destination: UnsafeMutableRawPointer
  ) {
    switch byteCount {
    case 8: destination.storeBytes(of: bits, as: UInt64.self)
    case 4: destination.storeBytes(of: UInt32(truncatingIfNeeded: bits), as: UInt32.self)
    default: destination.storeBytes(of: UInt8(truncatingIfNeeded: bits), as: UInt8.self)
    }
  }

  /// Copies the first `n` bytes of `source`'s elements to `destination`: one element (a
  /// scalar feed, a parameter) without a call to memcpy.
  /// - Precondition: `source` holds at least `n` bytes.
  @inlinable @inline(__always) package static func copyBytes(
    of source: UnsafePointer<NDArray>, to destination: UnsafeMutableRawPointer, byteCount n: Int
  ) {
    let from = UnsafeRawPointer(source.pointee.storage.bytes)
    switch n {
    case 4: destination.storeBytes(of: from.load(as: UInt32.self), as: UInt32.self)
    case 8: destination.storeBytes(of: from.load(as: UInt64.self), as: UInt64.self)
    default: destination.copyMemory(from: from, byteCount: n)
    }
  }

  /// The cases of ``assignCopyingSmall(_:byteLimit:)`` that do not copy in place.
  @usableFromInline mutating func assignCopyingSmallSlowly(_ source: NDArray, byteCount n: Int, byteLimit: Int) {
    if n > byteLimit {
      self = source
    } else {
      let own = NDArray(uninitializedShape: source.shape, dtype: source.dtype)
      own.storage.bytes.copyMemory(from: source.storage.bytes, byteCount: n)
      self = own
    }
  }

  /// Whether two shapes are equal, read in place (no reference counting, unlike `==`).
  @inlinable static func sameDimensions(_ a: Shape, _ b: Shape) -> Bool {
    a.dimensions.withUnsafeBufferPointer { a in
      b.dimensions.withUnsafeBufferPointer { b in
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
      }
    }
  }

  /// Makes this array an array of `shape` and `dtype` whose contents the caller will overwrite,
  /// reusing the existing memory when it is not shared and large enough (kernels write their
  /// results through this, so a plan's buffers are reused from step to step).
  /// - Throws: ``ShapeError`` when new memory is needed and the shape needs more than
  ///   ``Shape/maximumByteCount`` bytes (checked before allocating: a result that no machine
  ///   could hold, such as a fed shape that makes a product of 4 TB, is an error, not a crash).
  public mutating func prepare(shape newShape: Shape, dtype newType: DType) throws(ShapeError) {
    let (need, overflow) = newShape.elementCount.multipliedReportingOverflow(by: newType.byteSize)
    if overflow || need > storage.capacity || !isKnownUniquelyReferenced(&storage) {
      try Shape.checkByteCount(elements: newShape.elementCount, elementSize: newType.byteSize, what: "a result of shape \(newShape)")
      storage = ArrayStorage(byteCount: need)
    }
    if shape != newShape { shape = newShape }
    dtype = newType
  }

  /// Whether this value alone holds its memory and the memory has at most `byteCount` bytes: an
  /// eager graph keeps such values of a dead graph as the previous values of new results, which
  /// ``prepare(shape:dtype:)`` then reuses instead of allocating.
  package mutating func isReusable(upTo byteCount: Int) -> Bool {
    storage.capacity <= byteCount && isKnownUniquelyReferenced(&storage)
  }

  /// An array of `shape` (of one element) and `dtype` holding the scalar of dtype `source` at
  /// `value`, converted as ``DType/store(scalar:of:to:)`` converts it (a fed Swift scalar);
  /// `nil` when the conversion is not exact.
  /// - Precondition: `shape.elementCount == 1`.
  package init?(scalar value: UnsafeRawPointer, of source: DType, shape: Shape, dtype: DType) {
    self.init(uninitializedShape: shape, dtype: dtype)
    guard dtype.store(scalar: value, of: source, to: storage.bytes) else { return nil }
  }

  /// Writes the scalar of dtype `source` at `value` into the one element of the array at
  /// `destination`, in its own memory, converted to its dtype as ``DType/store(scalar:of:to:)``
  /// converts it: `nil`, writing nothing, when something else also holds that memory; else
  /// whether the conversion was exact (`false`: nothing written).
  /// - Precondition: the array at `destination` has one element.
  package static func storeInPlace(
    scalar value: UnsafeRawPointer, of source: DType, into destination: UnsafeMutablePointer<NDArray>
  ) -> Bool? {
    guard isKnownUniquelyReferenced(&destination.pointee.storage) else { return nil }
    return destination.pointee.dtype.store(scalar: value, of: source, to: destination.pointee.storage.bytes)
  }

  /// Whether the array at `p`, read in place (nothing retained), holds at most `byteCount`
  /// bytes of memory that something else also holds, and is not the empty placeholder: a small
  /// result a caller still holds, which a kernel cannot write into.
  @inlinable package static func isSharedAndSmall(at p: UnsafeMutablePointer<NDArray>, upTo byteCount: Int) -> Bool {
    p.pointee.storage.capacity <= byteCount && p.pointee.storage !== emptyArray.storage
      && !isKnownUniquelyReferenced(&p.pointee.storage)
  }

  /// ``prepare(shape:dtype:)`` for a result no larger than an input that exists (an elementwise
  /// map, a copy, a reduction): such a result always fits the limit, so nothing is checked or
  /// thrown.
  @usableFromInline package mutating func prepare(fittingAnInput newShape: Shape, dtype newType: DType) {
    let need = newShape.elementCount &* newType.byteSize
    if need > storage.capacity || !isKnownUniquelyReferenced(&storage) {
      storage = ArrayStorage(byteCount: need)
    }
    if shape != newShape { shape = newShape }
    dtype = newType
  }

  /// The elements converted to `Double`, in row-major order.
  public var doubles: [Double] {
    switch dtype {
    case .float32: withUnsafeBufferPointer(as: Float.self) { $0.map(Double.init) }
    case .float64: withUnsafeBufferPointer(as: Double.self) { Array($0) }
    case .int32: withUnsafeBufferPointer(as: Int32.self) { $0.map(Double.init) }
    case .bool: withUnsafeBufferPointer(as: Bool.self) { $0.map { $0 ? 1 : 0 } }
    }
  }

  /// The elements as an array of `T`.
  /// - Precondition: `T.dtype == dtype`.
  public func scalars<T: Element>(as type: T.Type) -> [T] {
    withUnsafeBufferPointer(as: T.self) { Array($0) }
  }

  /// The single element of a one-element array, as a `Double`.
  /// - Precondition: `elementCount == 1`.
  public var scalarValue: Double {
    precondition(elementCount == 1, "NDArray.scalarValue: array of shape \(shape) has \(elementCount) elements")
    // Read in place (no array of all elements is made).
    switch dtype {
    case .float32: return Double(withUnsafeBufferPointer(as: Float.self) { $0[0] })
    case .float64: return withUnsafeBufferPointer(as: Double.self) { $0[0] }
    case .int32: return Double(withUnsafeBufferPointer(as: Int32.self) { $0[0] })
    case .bool: return doubles[0]
    }
  }

  /// The element at a multi-dimensional index, as a `Double`.
  public subscript(index: Int...) -> Double {
    precondition(index.count == rank, "NDArray: index \(index) for rank \(rank)")
    var offset = 0
    let strides = shape.strides
    for (i, v) in index.enumerated() {
      precondition(v >= 0 && v < shape[i], "NDArray: index \(index) out of range for \(shape)")
      offset += v * strides[i]
    }
    switch dtype {
    case .float32: return withUnsafeBufferPointer(as: Float.self) { Double($0[offset]) }
    case .float64: return withUnsafeBufferPointer(as: Double.self) { $0[offset] }
    case .int32: return withUnsafeBufferPointer(as: Int32.self) { Double($0[offset]) }
    case .bool: return withUnsafeBufferPointer(as: Bool.self) { $0[offset] ? 1 : 0 }
    }
  }

  /// The same elements with another shape of equal element count.
  /// - Throws: ``ShapeError`` when the counts differ.
  public func reshaped(to newShape: Shape) throws(ShapeError) -> NDArray {
    try newShape.validate(dtype: dtype)
    guard newShape.elementCount == elementCount else {
      throw ShapeError("cannot reshape \(shape) (\(elementCount) elements) to \(newShape)")
    }
    var r = self
    r.shape = newShape
    return r
  }

  /// The elements converted to another dtype.
  public func converted(to newType: DType) -> NDArray {
    if newType == dtype { return self }
    return NDArray(converting: doubles, shape: shape, dtype: newType)
  }

  /// Whether the two arrays have equal dtypes, shapes and bit-identical elements.
  public func isBitIdentical(to other: NDArray) -> Bool {
    guard dtype == other.dtype, shape == other.shape else { return false }
    return withUnsafeRawBytes { a in other.withUnsafeRawBytes { b in a.elementsEqual(b) } }
  }
}

extension NDArray: Equatable {
  /// Equal dtype, shape and elements (NaN is unequal to itself, as in IEEE 754).
  public static func == (lhs: NDArray, rhs: NDArray) -> Bool {
    lhs.dtype == rhs.dtype && lhs.shape == rhs.shape && lhs.doubles == rhs.doubles
  }
}

extension NDArray: ExpressibleByArrayLiteral, ExpressibleByFloatLiteral {
  /// A one-dimensional float32 array from a literal (float32 as TensorFlow's default for
  /// Python floats), so a feed reads `[x: [0.5], y: [10]]`. For another dtype, convert:
  /// `NDArray([0.5] as [Double])`.
  public init(arrayLiteral elements: Float...) { self.init(elements) }
  /// A float32 scalar (shape `[]`) from a literal: `let rate: NDArray = 0.02`.
  public init(floatLiteral value: Float) { self.init(scalar: value) }
}

/// The one element of an array whose every size is 1 (``NDArray/oneElement(of:)``): its bits
/// (in the low bytes, as many as its dtype's size), its dtype and its rank; what a feed of a
/// one-element static shape needs of a value to check it and copy it.
@usableFromInline package struct OneElement {
  /// The element's bytes, in the low bytes.
  @usableFromInline package let bits: UInt64
  /// The array's dtype.
  @usableFromInline package let dtype: DType
  /// The array's rank (every size is 1).
  @usableFromInline package let rank: Int

  /// The element `bits` of an array of `dtype` and `rank`.
  @inlinable package init(bits: UInt64, dtype: DType, rank: Int) {
    self.bits = bits
    self.dtype = dtype
    self.rank = rank
  }
}
