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
