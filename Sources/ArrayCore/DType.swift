/// The element type of an ``NDArray`` or a graph tensor, chosen at run time (as `tf.float32`).
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// 32-bit IEEE 754 floating point (`Float`).
  case float32
  /// 64-bit IEEE 754 floating point (`Double`).
  case float64
  /// 32-bit signed integer (`Int32`), used for indices and labels.
  case int32
  /// Boolean (`Bool`), the result of comparisons.
  case bool

  /// The number of bytes one element occupies.
  public var byteSize: Int {
    switch self {
    case .float32, .int32: 4
    case .float64: 8
    case .bool: 1
    }
  }

  /// Whether two dtypes are the same: their cases compared as one byte each. (The comparison
  /// Swift derives for an enum with raw values goes through memory, which also kept the ARC
  /// optimizer from dropping the retain and release of an array read from a collection around
  /// an inlined feed, ``PreparedStep/setFeed(_:to:)``.)
  @inlinable public static func == (a: DType, b: DType) -> Bool { a.ordinal == b.ordinal }

  /// The case's position in the declaration.
  @inlinable var ordinal: UInt8 {
    switch self {
    case .float32: 0
    case .float64: 1
    case .int32: 2
    case .bool: 3
    }
  }

  /// Whether the type is a floating-point type (and so can carry gradients).
  public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

  /// The name, as TensorFlow and NumPy spell it (`float32`).
  public var description: String { rawValue }
}

/// A Swift scalar type that an ``NDArray`` can store.
public protocol Element: Sendable, Equatable {
  /// The runtime dtype of this scalar type.
  static var dtype: DType { get }
  /// Converts the element to `Double` (exact for every supported type).
  var doubleValue: Double { get }
  /// Converts a `Double` to the element type (rounding to nearest; `!= 0` for `Bool`).
  init(fromDouble value: Double)
}

extension Float: Element {
  /// `.float32`.
  public static var dtype: DType { .float32 }
  /// The value as a `Double`.
  @inlinable public var doubleValue: Double { Double(self) }
  /// Rounds a `Double` to the nearest `Float`.
  @inlinable public init(fromDouble value: Double) { self = Float(value) }
}

extension Double: Element {
  /// `.float64`.
  public static var dtype: DType { .float64 }
  /// The value itself.
  @inlinable public var doubleValue: Double { self }
  /// The value itself.
  @inlinable public init(fromDouble value: Double) { self = value }
}

extension Int32: Element {
  /// `.int32`.
  public static var dtype: DType { .int32 }
  /// The value as a `Double`.
  @inlinable public var doubleValue: Double { Double(self) }
  /// Truncates toward zero and clamps to the `Int32` range (NaN becomes 0).
  @inlinable public init(fromDouble value: Double) {
    if value.isNaN { self = 0 } else { self = Int32(Swift.max(-2_147_483_648, Swift.min(2_147_483_647, value.rounded(.towardZero)))) }
  }
}

extension Bool: Element {
  /// `.bool`.
  public static var dtype: DType { .bool }
  /// 1 for `true`, 0 for `false`.
  @inlinable public var doubleValue: Double { self ? 1 : 0 }
  /// `value != 0`.
  @inlinable public init(fromDouble value: Double) { self = value != 0 }
}

extension DType {
  /// Converts the one scalar of dtype `source` at `value` to this dtype and stores it at
  /// `destination`, as a fed Swift scalar is converted to its placeholder's dtype (TF1 converts
  /// a fed Python number the same way): to `float32` or `float64` rounded to nearest (a
  /// `Bool` as 0 or 1); to `int32` or `bool` only when the conversion is exact (a whole number
  /// in `Int32`'s range; 0 or 1). Returns `false`, writing nothing, for an inexact one.
  /// - Precondition: `value` holds one element of `source`; `destination` has room for one of
  ///   this dtype.
  @inlinable @inline(__always) package func store(
    scalar value: UnsafeRawPointer, of source: DType, to destination: UnsafeMutableRawPointer
  ) -> Bool {
    guard source == self else { return store(converting: value, of: source, to: destination) }
    switch self {
    case .float32, .int32: destination.storeBytes(of: value.load(as: UInt32.self), as: UInt32.self)
    case .float64: destination.storeBytes(of: value.load(as: UInt64.self), as: UInt64.self)
    case .bool: destination.storeBytes(of: value.load(as: UInt8.self), as: UInt8.self)
    }
    return true
  }

  /// ``store(scalar:of:to:)`` for a `source` other than this dtype.
  @usableFromInline package func store(
    converting value: UnsafeRawPointer, of source: DType, to destination: UnsafeMutableRawPointer
  ) -> Bool {
    let x: Double
    switch source {
    case .float32: x = Double(value.load(as: Float.self))
    case .float64: x = value.load(as: Double.self)
    case .int32: x = Double(value.load(as: Int32.self))
    case .bool: x = value.load(as: Bool.self) ? 1 : 0
    }
    switch self {
    case .float32: destination.storeBytes(of: Float(x), as: Float.self)
    case .float64: destination.storeBytes(of: x, as: Double.self)
    case .int32:
      guard x.rounded(.towardZero) == x, x >= -2_147_483_648, x <= 2_147_483_647 else { return false }
      destination.storeBytes(of: Int32(x), as: Int32.self)
    case .bool:
      guard x == 0 || x == 1 else { return false }
      destination.storeBytes(of: x == 1, as: Bool.self)
    }
    return true
  }
}
