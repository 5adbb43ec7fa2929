/// The concrete shape of an ``NDArray``: one size per dimension, outermost first.
///
/// `[]` is a scalar, `[3]` a vector, `[2, 3]` a matrix with two rows.
public struct Shape: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible,
  RandomAccessCollection
{
  /// The sizes of the dimensions.
  public var dimensions: [Int]

  /// Creates a shape from its dimension sizes.
  @inlinable public init(_ dimensions: [Int]) { self.dimensions = dimensions }
  /// Creates a shape from an array literal: `let s: Shape = [2, 3]`.
  @inlinable public init(arrayLiteral elements: Int...) { self.dimensions = elements }

  /// The number of dimensions.
  @inlinable public var rank: Int { dimensions.count }
  /// The number of elements: the product of the dimensions (1 for a scalar).
  @inlinable public var elementCount: Int {
    var n = 1
    for d in dimensions { n &*= d }
    return n
  }
  /// Row-major (C order) strides, in elements.
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

  /// Whether every dimension is non-negative.
  public var isValid: Bool { dimensions.allSatisfy { $0 >= 0 } }
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
