import ArrayCore
import RealModule

// MARK: - Unary family

/// Elementwise functions of one tensor, `y = f(x)`, with their derivatives side by side.
///
/// | function | forward | gradient `∂L/∂x` |
/// | --- | --- | --- |
/// | negate | `-x` | `-g` |
/// | square | `x²` | `g · 2x` |
/// | abs | `|x|` | `g · sign(x)` |
/// | exp | `eˣ` | `g · y` |
/// | log | `ln x` | `g / x` |
/// | sqrt | `√x` | `g / (2y)` |
/// | sigmoid | `1 / (1 + e⁻ˣ)` | `g · y (1 - y)` |
/// | tanh | `tanh x` | `g · (1 - y²)` |
/// | relu | `max(x, 0)` | `g · sign(y)` |
/// | round | round half to even | none (zero almost everywhere) |
/// | sign | `-1, 0, 1` | none (zero almost everywhere) |
public struct Unary: Primitive {
  /// The function applied to each element.
  public enum Function: String, Sendable, CaseIterable {
    /// `-x`
    case negate
    /// `x²`
    case square
    /// `|x|`
    case abs
    /// `eˣ`
    case exp
    /// `ln x`
    case log
    /// `√x`
    case sqrt
    /// `1 / (1 + e⁻ˣ)`, computed without overflow for large `|x|`.
    case sigmoid
    /// `tanh x`
    case tanh
    /// `max(x, 0)`
    case relu
    /// Rounds half to even, like `tf.round` and NumPy.
    case round
    /// `-1` for negative, `0` for zero, `1` for positive (NaN stays NaN).
    case sign
  }

  /// The function.
  public let function: Function
  /// Creates the primitive for `function`.
  public init(_ function: Function) { self.function = function }
  /// The function on one scalar (the scalar fast path).
  public var scalarForm: ScalarForm? { .unary(function) }

  /// The number of inputs: 1.
  public var arity: Int? { 1 }
  /// TensorFlow's op name: `Neg`, `Square`, `Abs`, `Exp`, `Log`, `Sqrt`, `Sigmoid`, `Tanh`,
  /// `Relu`, `Round`, `Sign`.
  public var typeName: String {
    switch function {
    case .negate: "Neg"
    case .square: "Square"
    case .abs: "Abs"
    case .exp: "Exp"
    case .log: "Log"
    case .sqrt: "Sqrt"
    case .sigmoid: "Sigmoid"
    case .tanh: "Tanh"
    case .relu: "Relu"
    case .round: "Round"
    case .sign: "Sign"
    }
  }

  /// Same dtype and shape as the input, which must be floating point.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [inputs[0]]
  }

  /// Applies the function elementwise.
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    switch x.dtype {
    case .float32: outputs.update(0) { compute(x, Float.self, &$0) }
    case .float64: outputs.update(0) { compute(x, Double.self, &$0) }
    default: throw ShapeError("\(typeName) needs a float input, got \(x.dtype)")
    }
  }

  @inlinable func compute<T: FloatElement>(_ x: NDArray, _: T.Type, _ out: inout NDArray) {
    switch function {
    case .negate: Kernels.map(x, T.self, T.self, into: &out) { -$0 }
    case .square: Kernels.map(x, T.self, T.self, into: &out) { $0 * $0 }
    case .abs: Kernels.map(x, T.self, T.self, into: &out) { Swift.abs($0) }
    case .exp: Kernels.map(x, T.self, T.self, into: &out) { T.exp($0) }
    case .log: Kernels.map(x, T.self, T.self, into: &out) { T.log($0) }
    case .sqrt: Kernels.map(x, T.self, T.self, into: &out) { $0.squareRoot() }
    case .sigmoid: Kernels.map(x, T.self, T.self, into: &out) { stableSigmoid($0) }
    case .tanh: Kernels.map(x, T.self, T.self, into: &out) { T.tanh($0) }
    case .relu: Kernels.map(x, T.self, T.self, into: &out) { $0 > 0 ? $0 : 0 }
    case .round: Kernels.map(x, T.self, T.self, into: &out) { $0.rounded(.toNearestOrEven) }
    case .sign:
      Kernels.map(x, T.self, T.self, into: &out) { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
    }
  }

  /// The derivative rules of the table above.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let x = op.inputs[0]
    let y = op.output
    switch function {
    case .negate: return [try -g]
    case .square: return [try g * (x * 2)]
    case .abs: return [try g * sign(x)]
    case .exp: return [try g * y]
    case .log: return [try g / x]
    case .sqrt: return [try g / (y * 2)]
    case .sigmoid: return [try g * (y * (1 - y))]
    case .tanh: return [try g * (1 - square(y))]
    case .relu: return [try g * sign(y)]
    case .round, .sign: return [nil]
    }
  }
}

/// `1 / (1 + e⁻ˣ)`, evaluated as `eˣ / (1 + eˣ)` for negative `x` so neither branch overflows.
@inlinable func stableSigmoid<T: FloatElement>(_ x: T) -> T {
  if x >= 0 { return 1 / (1 + T.exp(-x)) }
  let e = T.exp(x)
  return e / (1 + e)
}

func unary(
  _ function: Unary.Function, _ x: Tensor, _ name: String?, _ file: StaticString, _ line: UInt
) throws -> Tensor {
  try x.graph.apply(Unary(function), [x], name: name, location: x.graph.location(file, line))
}

/// Elementwise negation, `-x` (`tf.negative`).
public func negate(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.negate, x, name, file, line)
}
/// Elementwise square, `x²` (`tf.square`).
public func square(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.square, x, name, file, line)
}
/// Elementwise absolute value, `|x|` (`tf.abs`).
public func abs(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.abs, x, name, file, line)
}
/// Elementwise exponential, `eˣ` (`tf.exp`).
public func exp(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.exp, x, name, file, line)
}
/// Elementwise natural logarithm, `ln x` (`tf.log`).
public func log(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.log, x, name, file, line)
}
/// Elementwise square root, `√x` (`tf.sqrt`).
public func sqrt(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.sqrt, x, name, file, line)
}
/// Elementwise logistic sigmoid, `σ(x) = 1 / (1 + e⁻ˣ)` (`tf.sigmoid`).
public func sigmoid(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.sigmoid, x, name, file, line)
}
/// Elementwise hyperbolic tangent (`tf.tanh`).
public func tanh(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.tanh, x, name, file, line)
}
/// Rectified linear unit, `max(x, 0)` (`tf.nn.relu`).
public func relu(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.relu, x, name, file, line)
}
/// Rounds each element to the nearest integer, halves to even (`tf.round`). No gradient.
public func round(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.round, x, name, file, line)
}
/// The sign of each element: -1, 0 or 1 (`tf.sign`). No gradient.
public func sign(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(.sign, x, name, file, line)
}

// MARK: - Binary family

/// Elementwise functions of two tensors with NumPy broadcasting, `z = f(x, y)`, with their
/// derivatives side by side. The gradients below have the broadcast shape; the autodiff walker
/// sums them back to each input's shape (the one place where un-broadcasting happens).
///
/// | function | forward | `∂L/∂x` | `∂L/∂y` |
/// | --- | --- | --- | --- |
/// | add | `x + y` | `g` | `g` |
/// | subtract | `x - y` | `g` | `-g` |
/// | multiply | `x · y` | `g · y` | `g · x` |
/// | divide | `x / y` | `g / y` | `-g · x / y²` |
/// | maximum | `max(x, y)` | `g` where `x ≥ y`, else 0 | `g` where `x < y`, else 0 |
/// | minimum | `min(x, y)` | `g` where `x ≤ y`, else 0 | `g` where `x > y`, else 0 |
/// | pow | `xʸ` | `g · y · xʸ⁻¹` | `g · xʸ · ln x` where `x > 0`, else 0 |
///
/// On ties, `maximum` and `minimum` give the whole gradient to `x` (as TF).
public struct Binary: Primitive {
  /// The function applied to each pair of elements.
  public enum Function: String, Sendable, CaseIterable {
    /// `x + y`
    case add
    /// `x - y`
    case subtract
    /// `x · y`
    case multiply
    /// `x / y`
    case divide
    /// `max(x, y)` (NaN propagates)
    case maximum
    /// `min(x, y)` (NaN propagates)
    case minimum
    /// `xʸ`, with `x⁰ = 1` and integral powers of negative numbers defined (NaN for a negative
    /// `x` with a non-integral `y`), as C's `pow`.
    case pow
  }

  /// The function.
  public let function: Function
  /// Creates the primitive for `function`.
  public init(_ function: Function) { self.function = function }
  /// The function on two scalars (the scalar fast path).
  public var scalarForm: ScalarForm? { .binary(function) }

  /// The number of inputs: 2.
  public var arity: Int? { 2 }
  /// `Add`, `Sub`, `Mul`, `RealDiv`, `Maximum`, `Minimum`, `Pow` (TensorFlow's names).
  public var typeName: String {
    switch function {
    case .add: "Add"
    case .subtract: "Sub"
    case .multiply: "Mul"
    case .divide: "RealDiv"
    case .maximum: "Maximum"
    case .minimum: "Minimum"
    case .pow: "Pow"
    }
  }

  /// Both inputs float and of one dtype; the output has their broadcast shape.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0], "x")
    guard inputs[0].dtype == inputs[1].dtype else {
      throw ShapeError("dtypes \(inputs[0].dtype) and \(inputs[1].dtype) differ")
    }
    let shape = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(shape))]
  }

  /// Applies the function with broadcasting.
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let a = inputs[0]
    let b = inputs[1]
    switch a.dtype {
    case .float32: try outputs.update(0) { try compute(a, b, Float.self, &$0) }
    case .float64: try outputs.update(0) { try compute(a, b, Double.self, &$0) }
    default: throw ShapeError("\(typeName) needs float inputs, got \(a.dtype)")
    }
  }

  @inlinable func compute<T: FloatElement>(_ a: NDArray, _ b: NDArray, _: T.Type, _ out: inout NDArray) throws {
    switch function {
    case .add: try Kernels.arithmetic(.add, a, b, into: &out)
    case .subtract: try Kernels.arithmetic(.subtract, a, b, into: &out)
    case .multiply: try Kernels.arithmetic(.multiply, a, b, into: &out)
    case .divide: try Kernels.arithmetic(.divide, a, b, into: &out)
    case .maximum: try Kernels.zip(a, b, T.self, T.self, into: &out) { $0 > $1 || $0.isNaN ? $0 : $1 }
    case .minimum: try Kernels.zip(a, b, T.self, T.self, into: &out) { $0 < $1 || $0.isNaN ? $0 : $1 }
    case .pow: try Kernels.zip(a, b, T.self, T.self, into: &out) { power($0, $1) }
    }
  }

  /// The derivative rules of the table above.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.inputs[0]
    let y = op.inputs[1]
    switch function {
    case .add: return [g, g]
    case .subtract: return [g, try -g]
    case .multiply: return [try g * y, try g * x]
    case .divide: return [try g / y, try -g * x / square(y)]
    case .maximum, .minimum:
      let toX = try function == .maximum ? greaterEqual(x, y) : lessEqual(x, y)
      let zero = try zerosLike(g)
      return [try select(toX, g, zero), try select(toX, zero, g)]
    case .pow:
      let z = op.output
      let positive = try greater(x, x.graph.scalar(0, like: x))
      let safeX = try select(positive, x, onesLike(x))
      let logX = try select(positive, log(safeX), zerosLike(safeX))
      return [try g * y * pow(x, y - 1), try g * z * logX]
    }
  }
}

/// `xʸ` as C's `pow`: `x⁰ = 1` and integral powers of negative numbers are defined.
@inlinable func power<T: FloatElement>(_ x: T, _ y: T) -> T {
  if y == y.rounded(), Swift.abs(y) < 0x1p52 { return T.pow(x, Int(y)) }
  return T.pow(x, y)
}

func binary(
  _ function: Binary.Function, _ x: Tensor, _ y: Tensor, _ name: String?, _ location: SourceLocation?
) throws -> Tensor {
  try x.graph.apply(Binary(function), [x, y], name: name, location: location)
}

/// Elementwise sum with broadcasting, `x + y` (`tf.add`).
public func add(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.add, x, y, name, x.graph.location(file, line))
}
/// Elementwise difference with broadcasting, `x - y` (`tf.subtract`).
public func subtract(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.subtract, x, y, name, x.graph.location(file, line))
}
/// Elementwise product with broadcasting, `x · y` (`tf.multiply`).
public func multiply(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.multiply, x, y, name, x.graph.location(file, line))
}
/// Elementwise quotient with broadcasting, `x / y` (`tf.divide`).
public func divide(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.divide, x, y, name, x.graph.location(file, line))
}

/// Elementwise maximum with broadcasting, `max(x, y)` (`tf.maximum`). The gradient goes to `x`
/// where `x ≥ y` and to `y` elsewhere.
public func maximum(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.maximum, x, y, name, x.graph.location(file, line))
}
/// Elementwise minimum with broadcasting, `min(x, y)` (`tf.minimum`). The gradient goes to `x`
/// where `x ≤ y` and to `y` elsewhere.
public func minimum(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.minimum, x, y, name, x.graph.location(file, line))
}
/// Elementwise power with broadcasting, `xʸ` (`tf.pow`).
/// Gradients: `∂/∂x = y·xʸ⁻¹`, `∂/∂y = xʸ·ln x` (taken as 0 where `x ≤ 0`, as TF).
public func pow(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.pow, x, y, name, x.graph.location(file, line))
}
/// `xᶜ` for a constant exponent `c` of `x`'s dtype.
public func pow(_ x: Tensor, _ c: Double, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try binary(.pow, x, x.graph.scalar(c, like: x), name, x.graph.location(file, line))
}

// MARK: - Operators

extension Tensor {
  /// `x + y` with broadcasting. Errors name the operation and both inputs with the place each
  /// was built (operators cannot know their own source line).
  public static func + (x: Tensor, y: Tensor) throws -> Tensor { try binary(.add, x, y, nil, x.graph.operatorLocation) }
  /// `x - y` with broadcasting.
  public static func - (x: Tensor, y: Tensor) throws -> Tensor { try binary(.subtract, x, y, nil, x.graph.operatorLocation) }
  /// `x * y` (elementwise) with broadcasting.
  public static func * (x: Tensor, y: Tensor) throws -> Tensor { try binary(.multiply, x, y, nil, x.graph.operatorLocation) }
  /// `x / y` (elementwise) with broadcasting.
  public static func / (x: Tensor, y: Tensor) throws -> Tensor { try binary(.divide, x, y, nil, x.graph.operatorLocation) }
  /// `-x`.
  public static prefix func - (x: Tensor) throws -> Tensor {
    try x.graph.apply(Unary(.negate), [x], location: x.graph.operatorLocation)
  }

  /// `x + c`, with `c` a constant of `x`'s dtype.
  public static func + (x: Tensor, c: Double) throws -> Tensor { try x + x.graph.scalar(c, like: x) }
  /// `c + x`.
  public static func + (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) + x }
  /// `x - c`.
  public static func - (x: Tensor, c: Double) throws -> Tensor { try x - x.graph.scalar(c, like: x) }
  /// `c - x`.
  public static func - (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) - x }
  /// `x * c`.
  public static func * (x: Tensor, c: Double) throws -> Tensor { try x * x.graph.scalar(c, like: x) }
  /// `c * x`.
  public static func * (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) * x }
  /// `x / c`.
  public static func / (x: Tensor, c: Double) throws -> Tensor { try x / x.graph.scalar(c, like: x) }
  /// `c / x`.
  public static func / (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) / x }
}

// MARK: - Cast

/// Converts each element to another dtype (`tf.cast`); booleans become 0 and 1.
/// Gradient: the upstream gradient cast back, when both dtypes are floating point.
public struct Cast: Primitive {
  /// Outputs share memory with inputs or session state.
  public var outputsMayAlias: Bool { true }

  /// The target dtype.
  public let dtype: DType
  /// Creates a cast to `dtype`.
  public init(to dtype: DType) { self.dtype = dtype }
  /// The number of inputs: 1.
  public var arity: Int? { 1 }
  /// `Cast`.
  public var typeName: String { "Cast" }
  /// The input's shape with the new dtype.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: dtype, shape: inputs[0].shape)]
  }
  /// Converts the values.
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    if x.dtype == dtype { outputs[0] = x; return }
    switch (x.dtype, dtype) {
    case (.float32, .float64): outputs.update(0) { Kernels.map(x, Float.self, Double.self, into: &$0) { Double($0) } }
    case (.float64, .float32): outputs.update(0) { Kernels.map(x, Double.self, Float.self, into: &$0) { Float($0) } }
    case (.bool, .float32): outputs.update(0) { Kernels.map(x, Bool.self, Float.self, into: &$0) { $0 ? 1 : 0 } }
    case (.bool, .float64): outputs.update(0) { Kernels.map(x, Bool.self, Double.self, into: &$0) { $0 ? 1 : 0 } }
    default: outputs[0] = x.converted(to: dtype)
    }
  }
  /// `cast(g, to: x.dtype)` between float types; none otherwise.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let x = op.inputs[0]
    guard let g = upstream[0], x.dtype.isFloatingPoint, dtype.isFloatingPoint else { return [nil] }
    return [try cast(g, to: x.dtype)]
  }
}

/// Converts `x` to `dtype` (`tf.cast`).
public func cast(_ x: Tensor, to dtype: DType, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Cast(to: dtype), [x], name: name, location: x.graph.location(file, line))
}

extension Unary.Function {
  /// The function on one scalar: the same IEEE operations as the kernel in
  /// ``Unary/evaluate(_:_:_:)``.
  @inlinable public func apply<T: FloatElement>(_ x: T) -> T {
    switch self {
    case .negate: -x
    case .square: x * x
    case .abs: Swift.abs(x)
    case .exp: T.exp(x)
    case .log: T.log(x)
    case .sqrt: x.squareRoot()
    case .sigmoid: stableSigmoid(x)
    case .tanh: T.tanh(x)
    case .relu: x > 0 ? x : 0
    case .round: x.rounded(.toNearestOrEven)
    case .sign: x > 0 ? 1 : (x < 0 ? -1 : x)
    }
  }
}

extension Binary.Function {
  /// The function on two scalars: the same IEEE operations as the kernel in
  /// ``Binary/evaluate(_:_:_:)``.
  @inlinable public func apply<T: FloatElement>(_ x: T, _ y: T) -> T {
    switch self {
    case .add: x + y
    case .subtract: x - y
    case .multiply: x * y
    case .divide: x / y
    case .maximum: x > y || x.isNaN ? x : y
    case .minimum: x < y || x.isNaN ? x : y
    case .pow: power(x, y)
    }
  }
}
