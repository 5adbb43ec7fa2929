#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The concrete shape of an ``NDArray``: one size per dimension, outermost first.
///
/// `[]` is a scalar, `[3]` a vector, `[2, 3]` a matrix with two rows.
public struct Shape: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible,
  RandomAccessCollection
{
  /// The sizes of the dimensions.
  public var dimensions: [Int]

  /// Creates a shape from its dimension sizes.
  @inlinable public init(_ dimensions: [Int]) { self.dimensions = Shape.shared(dimensions) }
  /// Creates a shape from an array literal: `let s: Shape = [2, 3]`.
  @inlinable public init(arrayLiteral elements: Int...) { self.dimensions = Shape.shared(elements) }

  /// `[1]` and `[1, 1]`, the shapes of scalar steps (the notebook's values, an eager step on
  /// them), as arrays the compiler initializes statically: such arrays are never freed, so
  /// copying them costs no atomic reference counting, where each copy of a shape's own array
  /// (every operation copies its inputs' shapes several times) costs an atomic increment and
  /// decrement. Arrays are copy-on-write, so sharing them is invisible.
  @usableFromInline static let unitVector: [Int] = [1]
  @usableFromInline static let unitMatrix: [Int] = [1, 1]

  /// The shape whose sizes are `dimensions`, when every one is known (`nil` otherwise). Scalars
  /// and the shapes of scalar steps (`[1]`, `[1, 1]`) are made without building an array.
  public init?(known dimensions: [Int?]) {
    if dimensions.count <= 2 && dimensions.allSatisfy({ $0 == 1 }) {
      self.init(dimensions.isEmpty ? [] : dimensions.count == 1 ? Shape.unitVector : Shape.unitMatrix)
      return
    }
    var out: [Int] = []
    out.reserveCapacity(dimensions.count)
    for d in dimensions {
      guard let d else { return nil }
      out.append(d)
    }
    self.init(out)
  }

  /// The shape with a dimension of size 1 inserted at `axis` (in `0...rank`). Inserting into a
  /// scalar or `[1]` gives the shared `[1]` or `[1, 1]` without building an array.
  public func inserting(unitAxis axis: Int) -> Shape {
    if rank <= 1 && dimensions.allSatisfy({ $0 == 1 }) { return Shape(rank == 0 ? Shape.unitVector : Shape.unitMatrix) }
    var d = dimensions
    d.insert(1, at: axis)
    return Shape(d)
  }

  /// `dimensions`, or the shared array with the same sizes.
  @inlinable static func shared(_ dimensions: [Int]) -> [Int] {
    switch dimensions.count {
    case 1 where dimensions[0] == 1: unitVector
    case 2 where dimensions[0] == 1 && dimensions[1] == 1: unitMatrix
    default: dimensions
    }
  }

  /// The number of dimensions.
  @inlinable public var rank: Int { dimensions.count }
  /// The number of elements: the product of the dimensions (1 for a scalar).
  ///
  /// Never wraps around: a product that does not fit in `Int`, or a negative dimension, gives
  /// `Int.max` (every array and graph shape is validated by ``validate(dtype:)`` where it
  /// enters, so such a shape never reaches a kernel; use ``checkedElementCount`` for a thrown
  /// error instead).
  @inlinable public var elementCount: Int {
    // A saturating product without a throwing call (this is on every kernel's path): a
    // negative size or an overflow gives Int.max, as ``checkedProduct(_:)`` would refuse it.
    var n = 1
    var zero = false
    var overflow = false
    for d in dimensions {
      if d < 0 { return Int.max }
      if d == 0 { zero = true }
      let (p, o) = n.multipliedReportingOverflow(by: d)
      if o { overflow = true } else { n = p }
    }
    return zero ? 0 : overflow ? Int.max : n
  }
  /// Row-major (C order) strides, in elements.
  /// (Computed with wrapping arithmetic: meaningful for shapes that ``validate(dtype:)`` accepts.)
  @inlinable public var strides: [Int] {
    var s = [Int](repeating: 1, count: rank)
    var acc = 1
    for i in stride(from: rank - 1, through: 0, by: -1) {
      s[i] = acc
      acc &*= dimensions[i]
    }
    return s
  }
  /// The first dimension index.
  @inlinable public var startIndex: Int { 0 }
  /// One past the last dimension index.
  @inlinable public var endIndex: Int { dimensions.count }
  /// The size of dimension `i`.
  @inlinable public subscript(i: Int) -> Int {
    get { dimensions[i] }
    set { dimensions[i] = newValue }
  }
  /// Prints like NumPy's shape list: `[2, 3]`.
  public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }

  /// Whether every dimension is non-negative and the shape is within the limits of
  /// ``validate(dtype:)`` for its widest element type.
  public var isValid: Bool { (try? validate()) != nil }

  // MARK: Limits

  /// The most bytes one array may need: 2⁴⁷ (128 TiB, the user address space of x86-64 and
  /// arm64 Linux), or this machine's physical memory when it is smaller. An array beyond it
  /// could never be allocated, so shapes that need more are refused with a ``ShapeError``
  /// where they enter (array creation, graph building) instead of failing in the allocator.
  public static let maximumByteCount: Int = {
    let addressSpace = 1 << 47
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return addressSpace }
    let (memory, overflow) = pages.multipliedReportingOverflow(by: pageSize)
    return overflow ? addressSpace : Swift.min(addressSpace, memory)
  }()

  /// The product of `sizes`, checked: every size non-negative and the product within `Int`.
  /// - Throws: ``ShapeError`` for a negative size or a product that overflows `Int`.
  @inlinable public static func checkedProduct(_ sizes: [Int]) throws(ShapeError) -> Int {
    var n = 1
    var zero = false
    var overflow = false
    for d in sizes {
      guard d >= 0 else { throw ShapeError("size \(d) is negative") }
      if d == 0 { zero = true }
      if !overflow {
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { overflow = true } else { n = p }
      }
    }
    if zero { return 0 }
    guard !overflow else { throw ShapeError("the sizes \(sizes) have more elements than Int can count") }
    return n
  }

  /// The sum of `sizes`, checked: every size non-negative and the sum within `Int`.
  /// - Throws: ``ShapeError`` for a negative size or a sum that overflows `Int`.
  public static func checkedSum(_ sizes: [Int]) throws(ShapeError) -> Int {
    var n = 0
    for d in sizes {
      guard d >= 0 else { throw ShapeError("size \(d) is negative") }
      let (s, o) = n.addingReportingOverflow(d)
      guard !o else { throw ShapeError("the sizes \(sizes) add up to more than Int can count") }
      n = s
    }
    return n
  }

  /// The number of elements, checked (see ``validate(dtype:)``).
  /// - Throws: ``ShapeError`` for a negative dimension or a count that overflows `Int`.
  public var checkedElementCount: Int {
    get throws(ShapeError) {
      do { return try Shape.checkedProduct(dimensions) } catch {
        throw ShapeError("shape \(self): \(error.message)")
      }
    }
  }

  /// Checks that an array of this shape can exist: every dimension non-negative, the element
  /// count and the byte count (for `dtype`, or for 8-byte elements when `nil`) within `Int`
  /// and within ``maximumByteCount`` (counted with size-0 axes as 1, so that `[0, Int.max]`
  /// is refused too: a kernel multiplying its other sizes must not overflow). Every shape is
  /// checked once where it enters the library (``NDArray`` creation, graph building), so no
  /// kernel sees an impossible shape.
  /// - Returns: The element count.
  /// - Throws: ``ShapeError`` naming the shape and the limit.
  @discardableResult
  public func validate(dtype: DType? = nil) throws(ShapeError) -> Int {
    if let d = dimensions.first(where: { $0 < 0 }) {
      throw ShapeError("shape \(self) has a negative dimension (\(d))")
    }
    try Shape.checkSpan(dimensions, dtype: dtype, text: description)
    return elementCount
  }

  /// Checks that the product of the non-zero sizes (the element count the shape would have
  /// without its empty axes) fits in `Int` and in ``maximumByteCount``: then every partial
  /// product a kernel computes (outer, inner sizes, strides, sums of a few sizes) fits too, even
  /// when an axis of size 0 makes the array empty.
  static func checkSpan(_ sizes: [Int], dtype: DType?, text: @autoclosure () -> String) throws(ShapeError) {
    var span = 1
    for d in sizes where d > 1 {
      let (p, overflow) = span.multipliedReportingOverflow(by: d)
      guard !overflow else { throw ShapeError("shape \(text()) has more elements than Int can count") }
      span = p
    }
    try checkByteCount(elements: span, elementSize: dtype?.byteSize ?? 8, what: "shape \(text())")
  }

  /// Checks `elements × elementSize` bytes against ``maximumByteCount``.
  static func checkByteCount(elements: Int, elementSize: Int, what: @autoclosure () -> String) throws(ShapeError) {
    let (bytes, overflow) = elements.multipliedReportingOverflow(by: elementSize)
    guard !overflow, bytes <= maximumByteCount else {
      throw ShapeError(
        "\(what()) needs \(elements) elements of \(elementSize) bytes, more than the limit of "
          + "\(maximumByteCount) bytes per array (Shape.maximumByteCount)")
    }
  }

  /// Checks the known sizes of a partially known shape (`nil` = unknown): each non-negative,
  /// and the product of the known ones within the limits of ``validate(dtype:)``.
  /// - Throws: ``ShapeError`` naming the shape.
  public static func validate(partial dimensions: [Int?], dtype: DType? = nil) throws(ShapeError) {
    func text() -> String { "[" + dimensions.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" }
    // The same checks as `checkSpan` on the known sizes, without collecting them (every graph
    // operation validates its outputs: no allocation here).
    var span = 1
    var overflowed = false
    for case let d? in dimensions {
      if d < 0 { throw ShapeError("shape \(text()) has a negative dimension (\(d))") }
      if d > 1 && !overflowed {
        let (p, overflow) = span.multipliedReportingOverflow(by: d)
        if overflow { overflowed = true } else { span = p }
      }
    }
    if overflowed { throw ShapeError("shape \(text()) has more elements than Int can count") }
    try checkByteCount(elements: span, elementSize: dtype?.byteSize ?? 8, what: "shape \(text())")
  }
}

/// An error about shapes or axes, raised by ArrayCore functions.
///
/// The graph layer wraps it with the operation's name, inputs and the user's source line.
public struct ShapeError: Error, Sendable, CustomStringConvertible, Equatable {
  /// What went wrong, e.g. "shapes [4, 3] and [2] cannot be broadcast".
  public var message: String
  /// Creates an error with a message.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

/// Normalizes a possibly negative axis (`-1` is the last) for an array of rank `rank`.
/// - Throws: ``ShapeError`` when the axis is outside `-rank..<rank`.
@inlinable public func normalizeAxis(_ axis: Int, rank: Int) throws(ShapeError) -> Int {
  let a = axis < 0 ? axis + rank : axis
  guard a >= 0 && a < rank else {
    throw ShapeError("axis \(axis) is out of range for rank \(rank)")
  }
  return a
}

/// Normalizes, sorts and de-duplicates reduction axes; `nil` means every axis.
/// - Throws: ``ShapeError`` for an axis out of range or repeated.
public func normalizeAxes(_ axes: [Int]?, rank: Int) throws(ShapeError) -> [Int] {
  guard let axes else { return Array(0..<rank) }
  var out: [Int] = []
  for a in axes {
    let n = try normalizeAxis(a, rank: rank)
    if out.contains(n) { throw ShapeError("axis \(a) is repeated in \(axes)") }
    out.append(n)
  }
  return out.sorted()
}
