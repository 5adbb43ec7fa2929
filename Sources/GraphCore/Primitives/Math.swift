import ArrayCore
import RealModule

// Elementwise functions of one tensor, each defined once: its scalar function and its derivative
// (`∂L/∂x` for the upstream gradient `g`, input `x`, output `y`), then its public builder.
// The array kernel, the scalar fast path and constant folding all come from these definitions
// (see ``UnaryFunction``).

/// `-x` (`Neg`); `∂L/∂x = -g`.
public struct Negate: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Neg`.
  public var typeName: String { "Neg" }
  /// `-x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { -x }
  /// `-g`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try -g }
}
/// Elementwise negation, `-x` (`tf.negative`).
public func negate(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Unary(Negate()), x, name: name, location: x.graph.location(file, line))
}

/// `x²` (`Square`); `∂L/∂x = g · 2x`.
public struct Square: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Square`.
  public var typeName: String { "Square" }
  /// `x · x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x * x }
  /// `t + t` with `t = g · x`: `2gx` rounded once, as `g · (2x)`, without a constant operand
  /// (an eager tape would make one per gradient).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    let t = try g * x
    return try t + t
  }
}
/// Elementwise square, `x²` (`tf.square`).
public func square(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Unary(Square()), x, name: name, location: x.graph.location(file, line))
}

/// `|x|` (`Abs`); `∂L/∂x = g · sign(x)`.
public struct Abs: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Abs`.
  public var typeName: String { "Abs" }
  /// `|x|`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Swift.abs(x) }
  /// `g · sign(x)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * sign(x) }
}
/// Elementwise absolute value, `|x|` (`tf.abs`).
public func abs(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Abs(), x, name: name, file: file, line: line)
}

/// `eˣ` (`Exp`); `∂L/∂x = g · y`.
public struct Exp: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Exp`.
  public var typeName: String { "Exp" }
  /// `eˣ`, the package's own exponential (`Kernels.exp(_:)` (one value): Cody–Waite reduction by
  /// ln 2 and a Taylor polynomial, within 1 ulp in `Float` and `Double`).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Kernels.exp(x) }
  /// `g · y`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * y }
  /// The vectorized kernel (``Kernels/exp(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.exp(x, into: &out) }
}
/// Elementwise exponential, `eˣ` (`tf.exp`).
public func exp(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Exp(), x, name: name, file: file, line: line)
}

/// `ln x` (`Log`); `∂L/∂x = g / x`.
public struct Log: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Log`.
  public var typeName: String { "Log" }
  /// `ln x`, the package's own logarithm (`Kernels.log(_:)` (one value): fdlibm's reduction and
  /// polynomial; `Float` in `Float` arithmetic, `Double` in `Double`, each within 1 ulp).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Kernels.log(x) }
  /// `g / x`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g / x }
  /// The vectorized kernel (``Kernels/log(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.log(x, into: &out) }
}
/// Elementwise natural logarithm, `ln x` (`tf.log`).
public func log(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Log(), x, name: name, file: file, line: line)
}

/// `√x` (`Sqrt`); `∂L/∂x = g / (2y)`.
public struct Sqrt: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Sqrt`.
  public var typeName: String { "Sqrt" }
  /// `√x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x.squareRoot() }
  /// `g / (y + y)` (`y + y` is `2y` exactly, without a constant operand).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g / (y + y) }
  /// The vectorized kernel (``ArrayCore/Kernels/squareRoot(_:into:)``): the bits of
  /// ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.squareRoot(x, into: &out) }
}
/// Elementwise square root, `√x` (`tf.sqrt`).
public func sqrt(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Sqrt(), x, name: name, file: file, line: line)
}

/// Rounds half to even, like `tf.round` and NumPy (`Round`); no gradient (zero almost everywhere).
public struct Round: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Round`.
  public var typeName: String { "Round" }
  /// `x` rounded to the nearest integer, halves to even.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x.rounded(.toNearestOrEven) }
  /// None.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { nil }
}
/// Rounds each element to the nearest integer, halves to even (`tf.round`). No gradient.
public func round(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Round(), x, name: name, file: file, line: line)
}

/// The largest integer not above `x`, `⌊x⌋` (`Floor`); no gradient (zero almost everywhere).
public struct Floor: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Floor`.
  public var typeName: String { "Floor" }
  /// `⌊x⌋` (`±0`, infinities and NaN are themselves).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x.rounded(.down) }
  /// None.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { nil }
}
/// Rounds each element down to an integer, `⌊x⌋` (`tf.floor`). No gradient.
public func floor(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Floor(), x, name: name, file: file, line: line)
}

/// The smallest integer not below `x`, `⌈x⌉` (`Ceil`); no gradient (zero almost everywhere).
public struct Ceil: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Ceil`.
  public var typeName: String { "Ceil" }
  /// `⌈x⌉` (`±0`, infinities and NaN are themselves; `⌈−0.5⌉ = −0`).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x.rounded(.up) }
  /// None.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { nil }
}
/// Rounds each element up to an integer, `⌈x⌉` (`tf.math.ceil`). No gradient.
public func ceil(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Ceil(), x, name: name, file: file, line: line)
}

/// `-1` for negative, `0` for zero, `1` for positive, NaN stays NaN (`Sign`); no gradient.
public struct Sign: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Sign`.
  public var typeName: String { "Sign" }
  /// `sign(x)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : x) }
  /// None.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { nil }
}
/// The sign of each element: -1, 0 or 1 (`tf.sign`). No gradient.
public func sign(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Sign(), x, name: name, file: file, line: line)
}

/// `sin x` (`Sin`); `∂L/∂x = g · cos x`.
public struct Sin: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Sin`.
  public var typeName: String { "Sin" }
  /// `sin x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.sin(x) }
  /// `g · cos x`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * cos(x) }
}
/// Elementwise sine (`tf.sin`).
public func sin(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Sin(), x, name: name, file: file, line: line)
}

/// `cos x` (`Cos`); `∂L/∂x = -g · sin x`.
public struct Cos: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Cos`.
  public var typeName: String { "Cos" }
  /// `cos x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.cos(x) }
  /// `-(g · sin x)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try -(g * sin(x)) }
}
/// Elementwise cosine (`tf.cos`).
public func cos(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Cos(), x, name: name, file: file, line: line)
}

/// `tan x` (`Tan`); `∂L/∂x = g · (1 + y²)` (= `g / cos²x`).
public struct Tan: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Tan`.
  public var typeName: String { "Tan" }
  /// `tan x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.tan(x) }
  /// `g · (1 + y²)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * (1 + square(y)) }
}
/// Elementwise tangent (`tf.tan`).
public func tan(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Tan(), x, name: name, file: file, line: line)
}

/// `atan x` (`Atan`); `∂L/∂x = g / (1 + x²)`.
public struct Atan: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Atan`.
  public var typeName: String { "Atan" }
  /// `atan x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.atan(x) }
  /// `g / (1 + x²)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g / (1 + square(x)) }
}
/// Elementwise arctangent (`tf.atan`).
public func atan(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Atan(), x, name: name, file: file, line: line)
}

/// `eˣ - 1`, accurate near 0 (`Expm1`); `∂L/∂x = g · eˣ`.
public struct ExpMinusOne: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Expm1`.
  public var typeName: String { "Expm1" }
  /// `eˣ - 1`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.expMinusOne(x) }
  /// `g · eˣ`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * exp(x) }
}
/// Elementwise `eˣ - 1`, accurate for small `x` (`tf.math.expm1`).
public func expm1(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(ExpMinusOne(), x, name: name, file: file, line: line)
}

/// `ln(1 + x)`, accurate near 0 (`Log1p`); `∂L/∂x = g / (1 + x)`.
public struct LogOnePlus: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Log1p`.
  public var typeName: String { "Log1p" }
  /// `ln(1 + x)`, the package's own (`Kernels.log1p(_:)` (one value)).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Kernels.log1p(x) }
  /// `g / (1 + x)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g / (1 + x) }
  /// The vectorized kernel (``Kernels/log1p(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.log1p(x, into: &out) }
}
/// Elementwise `ln(1 + x)`, accurate for small `x` (`tf.math.log1p`).
public func log1p(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(LogOnePlus(), x, name: name, file: file, line: line)
}

/// `1 / x` (`Reciprocal`); `∂L/∂x = -g · y²`.
public struct Reciprocal: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Reciprocal`.
  public var typeName: String { "Reciprocal" }
  /// `1 / x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { 1 / x }
  /// `-(g · y²)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try -(g * square(y)) }
}
/// Elementwise reciprocal, `1 / x` (`tf.math.reciprocal`).
public func reciprocal(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Reciprocal(), x, name: name, file: file, line: line)
}

/// `1 / √x` (`Rsqrt`); `∂L/∂x = -½ g · y³`.
public struct ReciprocalSquareRoot: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Rsqrt`.
  public var typeName: String { "Rsqrt" }
  /// `1 / √x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { 1 / x.squareRoot() }
  /// `g · y³ · (-½)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * (y * square(y)) * -0.5 }
  /// The vectorized kernel (``ArrayCore/Kernels/reciprocalSquareRoot(_:into:)``): the bits of
  /// ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.reciprocalSquareRoot(x, into: &out) }
}
/// Elementwise reciprocal square root, `1 / √x` (`tf.math.rsqrt`).
public func rsqrt(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(ReciprocalSquareRoot(), x, name: name, file: file, line: line)
}
