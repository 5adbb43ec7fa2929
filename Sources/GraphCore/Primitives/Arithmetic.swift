import ArrayCore
import RealModule

// Elementwise functions of two tensors with NumPy broadcasting, each defined once: its scalar
// function and its partial derivatives (for the upstream gradient `g`, inputs `x`, `y`, output
// `z`), then its public builder. Gradients may have the broadcast shape: the autodiff walker
// sums them back to each input's shape. See ``BinaryFunction``.

/// `x + y` (`Add`); `∂L/∂x = g`, `∂L/∂y = g`. Vectorized kernel: ``Kernels/arithmetic(_:_:_:into:)``.
public struct Add: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Add`.
  public var typeName: String { "Add" }
  /// `x + y`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x + y }
  /// `(g, g)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) { (g, g) }
  /// The vectorized `x + y` (the same IEEE additions).
  public func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws {
    try Kernels.arithmetic(.add, x, y, into: &out)
  }
}
/// Elementwise sum with broadcasting, `x + y` (`tf.add`).
public func add(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Binary(Add()), x, y, name: name, location: x.graph.location(file, line))
}

/// `x - y` (`Sub`); `∂L/∂x = g`, `∂L/∂y = -g`.
public struct Subtract: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Sub`.
  public var typeName: String { "Sub" }
  /// `x - y`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x - y }
  /// `(g, -g)` (the definition: ``gradient(_:x:y:z:needed:)``).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    try gradient(g, x: x, y: y, z: z, needed: (true, true))
  }
  /// `(g, -g)`, each only when `needed`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?) {
    try (needed.x ? g : nil, needed.y ? -g : nil)
  }
  /// The vectorized `x - y`.
  public func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws {
    try Kernels.arithmetic(.subtract, x, y, into: &out)
  }
}
/// Elementwise difference with broadcasting, `x - y` (`tf.subtract`).
public func subtract(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Binary(Subtract()), x, y, name: name, location: x.graph.location(file, line))
}

/// `x · y` (`Mul`); `∂L/∂x = g · y`, `∂L/∂y = g · x`.
public struct Multiply: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Mul`.
  public var typeName: String { "Mul" }
  /// `x · y`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x * y }
  /// 1: `x · 1 = x` exactly in IEEE 754 arithmetic (`-0` and the infinities included).
  public var identityElement: Double? { 1 }
  /// `(g · y, g · x)` (the definition: ``gradient(_:x:y:z:needed:)``).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    try gradient(g, x: x, y: y, z: z, needed: (true, true))
  }
  /// `(g · y, g · x)`, each only when `needed`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?) {
    try (needed.x ? g * y : nil, needed.y ? g * x : nil)
  }
  /// The vectorized `x · y`.
  public func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws {
    try Kernels.arithmetic(.multiply, x, y, into: &out)
  }
}
/// Elementwise product with broadcasting, `x · y` (`tf.multiply`).
public func multiply(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Binary(Multiply()), x, y, name: name, location: x.graph.location(file, line))
}

/// `x / y` (`RealDiv`); `∂L/∂x = g / y`, `∂L/∂y = -g · x / y²`.
public struct Divide: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `RealDiv`.
  public var typeName: String { "RealDiv" }
  /// `x / y`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x / y }
  /// `(g / y, -g · x / y²)` (the definition: ``gradient(_:x:y:z:needed:)``).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    try gradient(g, x: x, y: y, z: z, needed: (true, true))
  }
  /// `(g / y, -g · x / y²)`, each only when `needed`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?) {
    try (needed.x ? g / y : nil, needed.y ? -g * x / square(y) : nil)
  }
  /// The vectorized `x / y`.
  public func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws {
    try Kernels.arithmetic(.divide, x, y, into: &out)
  }
}
/// Elementwise quotient with broadcasting, `x / y` (`tf.divide`).
public func divide(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Binary(Divide()), x, y, name: name, location: x.graph.location(file, line))
}

/// `max(x, y)`, NaN propagating (`Maximum`); the gradient goes to `x` where `x ≥ y` (ties
/// included, as TF) and to `y` elsewhere.
public struct Maximum: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Maximum`.
  public var typeName: String { "Maximum" }
  /// `max(x, y)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x > y || x.isNaN ? x : y }
  /// `g` to `x` where `x ≥ y`, else to `y`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    let toX = try greaterEqual(x, y)
    let zero = try zerosLike(g)
    return (try select(toX, g, zero), try select(toX, zero, g))
  }
}
/// Elementwise maximum with broadcasting, `max(x, y)` (`tf.maximum`). The gradient goes to `x`
/// where `x ≥ y` and to `y` elsewhere.
public func maximum(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Maximum(), x, y, name: name, file: file, line: line)
}

/// `min(x, y)`, NaN propagating (`Minimum`); the gradient goes to `x` where `x ≤ y` (ties
/// included, as TF) and to `y` elsewhere.
public struct Minimum: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Minimum`.
  public var typeName: String { "Minimum" }
  /// `min(x, y)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { x < y || x.isNaN ? x : y }
  /// `g` to `x` where `x ≤ y`, else to `y`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    let toX = try lessEqual(x, y)
    let zero = try zerosLike(g)
    return (try select(toX, g, zero), try select(toX, zero, g))
  }
}
/// Elementwise minimum with broadcasting, `min(x, y)` (`tf.minimum`). The gradient goes to `x`
/// where `x ≤ y` and to `y` elsewhere.
public func minimum(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Minimum(), x, y, name: name, file: file, line: line)
}

/// `xʸ` as C's `pow` (`Pow`): `x⁰ = 1`, integral powers of negative numbers defined, NaN for a
/// negative `x` with a non-integral `y`. `∂L/∂x = g · y · xʸ⁻¹`, `∂L/∂y = g · xʸ · ln x` where
/// `x > 0`, else 0 (as TF).
public struct Power: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Pow`.
  public var typeName: String { "Pow" }
  /// `xʸ`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T {
    if y == y.rounded(), Swift.abs(y) < 0x1p52 { return T.pow(x, Int(y)) }
    return T.pow(x, y)
  }
  /// `(g · y · xʸ⁻¹, g · z · ln x)` with `ln x` taken as 0 where `x ≤ 0`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    let positive = try greater(x, x.graph.scalar(0, like: x))
    let safeX = try select(positive, x, onesLike(x))
    let logX = try select(positive, log(safeX), zerosLike(safeX))
    return (try g * y * pow(x, y - 1), try g * z * logX)
  }
}
/// Elementwise power with broadcasting, `xʸ` (`tf.pow`).
/// Gradients: `∂/∂x = y·xʸ⁻¹`, `∂/∂y = xʸ·ln x` (taken as 0 where `x ≤ 0`, as TF).
public func pow(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Power(), x, y, name: name, file: file, line: line)
}
/// `xᶜ` for a constant exponent `c` of `x`'s dtype.
public func pow(_ x: Tensor, _ c: Double, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Power(), x, x.graph.scalar(c, like: x), name: name, file: file, line: line)
}

/// NumPy's `divmod` for floats: `(⌊x / y⌋, x - y·⌊x / y⌋)` computed from `fmod` so that the
/// quotient is exact where `x / y` rounds (`floor_divide(7.0, 0.1)` is 69, not 70), the
/// remainder has `y`'s sign, and `y = 0` gives `x / y` and NaN. The rules follow NumPy's
/// documented `divmod` semantics (numpy.org, `numpy.divmod`, `numpy.remainder`).
@inlinable func floorDivMod<T: FloatElement>(_ x: T, _ y: T) -> (quotient: T, remainder: T) {
  var mod = x.truncatingRemainder(dividingBy: y)
  guard y != 0 else { return (x / y, mod) }
  var div = (x - mod) / y
  if mod != 0 {
    if (y < 0) != (mod < 0) {
      mod += y
      div -= 1
    }
  } else {
    mod = T(signOf: y, magnitudeOf: 0)
  }
  var floorDiv: T
  if div != 0 {
    floorDiv = div.rounded(.down)
    if div - floorDiv > 0.5 { floorDiv += 1 }
  } else {
    floorDiv = T(signOf: x / y, magnitudeOf: 0)
  }
  return (floorDiv, mod)
}

/// `⌊x / y⌋` with NumPy's semantics for negative operands (`FloorDiv`); no gradient (piecewise
/// constant).
public struct FloorDivide: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `FloorDiv`.
  public var typeName: String { "FloorDiv" }
  /// `⌊x / y⌋` (see ``floorDivMod(_:_:)``).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { floorDivMod(x, y).quotient }
  /// None.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) { (nil, nil) }
}
/// Elementwise floor division with broadcasting, `⌊x / y⌋`, rounding toward -∞ for negative
/// operands as NumPy's `floor_divide` and `tf.math.floordiv`. No gradient.
public func floorDiv(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(FloorDivide(), x, y, name: name, file: file, line: line)
}

/// `x - y·⌊x / y⌋`, with the sign of `y` (`FloorMod`, NumPy's `remainder`);
/// `∂L/∂x = g`, `∂L/∂y = -g · ⌊x / y⌋` (as TF).
public struct FloorModulo: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `FloorMod`.
  public var typeName: String { "FloorMod" }
  /// The remainder of ``floorDivMod(_:_:)``.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { floorDivMod(x, y).remainder }
  /// `(g, -(g · ⌊x / y⌋))`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    (g, try -(g * floorDiv(x, y)))
  }
}
/// Elementwise remainder with broadcasting, `x - y·⌊x / y⌋`, which has the sign of `y`
/// (NumPy's `mod`/`remainder`, `tf.math.floormod`).
public func mod(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(FloorModulo(), x, y, name: name, file: file, line: line)
}

/// `atan2(a, b)`: the angle of the point `(b, a)` in `(-π, π]`
/// (`Atan2`, first argument the ordinate as in C and TF); `∂L/∂a = g · b / (a² + b²)`,
/// `∂L/∂b = -g · a / (a² + b²)`.
public struct Atan2: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Atan2`.
  public var typeName: String { "Atan2" }
  /// `atan2(a, b)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ a: T, _ b: T) -> T { T.atan2(y: a, x: b) }
  /// `(g · b / (a² + b²), -g · a / (a² + b²))`.
  public func gradient(_ g: Tensor, x a: Tensor, y b: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    let r2 = try square(a) + square(b)
    return (try g * b / r2, try -g * a / r2)
  }
}
/// The elementwise angle `atan2(y, x)` of the points `(x, y)`, in `(-π, π]`, with broadcasting
/// (`tf.math.atan2`: the ordinate first).
public func atan2(_ y: Tensor, _ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Atan2(), y, x, name: name, file: file, line: line)
}

/// `√(x² + y²)` without undue overflow (`Hypot`); `∂L/∂x = g · x / z`, `∂L/∂y = g · y / z`.
public struct Hypotenuse: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `Hypot`.
  public var typeName: String { "Hypot" }
  /// `√(x² + y²)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T { T.hypot(x, y) }
  /// `(g · x / z, g · y / z)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    (try g * x / z, try g * y / z)
  }
}
/// The elementwise Euclidean norm `√(x² + y²)` with broadcasting, without intermediate
/// overflow (NumPy's `hypot`).
public func hypot(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(Hypotenuse(), x, y, name: name, file: file, line: line)
}
