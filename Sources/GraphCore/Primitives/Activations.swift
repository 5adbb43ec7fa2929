import ArrayCore
import RealModule

// MARK: - UnaryActivation family

/// Elementwise activation functions (and `erf`, which GELU is built on), with their derivatives
/// side by side.
///
/// | function | forward | gradient `∂L/∂x` |
/// | --- | --- | --- |
/// | leakyRelu(α) | `x` if `x > 0`, else `α·x` | `g` if `x > 0`, else `α·g` |
/// | elu | `x` if `x > 0`, else `eˣ - 1` | `g` if `x > 0`, else `g·(y + 1)` |
/// | softplus | `max(x, 0) + log(1 + e^(-|x|))` (= `log(1 + eˣ)`, stable) | `g·σ(x)` |
/// | erf | `(2/√π) ∫₀ˣ e^(-t²) dt` | `g · (2/√π) e^(-x²)` |
public struct UnaryActivation: Primitive {
  /// The function applied to each element.
  public enum Function: Sendable, Hashable {
    /// `max(x, α·x)` for `0 ≤ α ≤ 1`.
    case leakyRelu(alpha: Double)
    /// The exponential linear unit (α = 1).
    case elu
    /// `log(1 + eˣ)`, computed without overflow.
    case softplus
    /// The error function.
    case erf
  }
  /// The function.
  public let function: Function
  /// Creates the primitive for `function`.
  public init(_ function: Function) { self.function = function }

  /// The number of inputs: 1.
  public var arity: Int? { 1 }
  /// `LeakyRelu`, `Elu`, `Softplus`, `Erf`.
  public var typeName: String {
    switch function {
    case .leakyRelu: "LeakyRelu"
    case .elu: "Elu"
    case .softplus: "Softplus"
    case .erf: "Erf"
    }
  }
  /// The input's type (float).
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [inputs[0]]
  }
  /// Applies the function.
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    switch x.dtype {
    case .float32: outputs.update(0) { compute(x, Float.self, &$0) }
    default: outputs.update(0) { compute(x, Double.self, &$0) }
    }
  }

  func compute<T: FloatElement>(_ x: NDArray, _: T.Type, _ out: inout NDArray) {
    switch function {
    case let .leakyRelu(alpha):
      let a = T(alpha)
      Kernels.map(x, T.self, T.self, into: &out) { $0 > 0 ? $0 : a * $0 }
    case .elu: Kernels.map(x, T.self, T.self, into: &out) { $0 > 0 ? $0 : T.expMinusOne($0) }
    case .softplus:
      Kernels.map(x, T.self, T.self, into: &out) { Swift.max($0, 0) + T.log(onePlus: T.exp(-Swift.abs($0))) }
    case .erf: Kernels.map(x, T.self, T.self, into: &out) { T.erf($0) }
    }
  }

  /// The derivative rules of the table above.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let x = op.inputs[0], y = op.output
    switch function {
    case let .leakyRelu(alpha):
      return [try select(greater(x, x.graph.scalar(0, like: x)), g, g * alpha)]
    case .elu:
      return [try select(greater(x, x.graph.scalar(0, like: x)), g, g * (y + 1))]
    case .softplus:
      return [try g * sigmoid(x)]
    case .erf:
      return [try g * (2 / Double.pi.squareRoot()) * exp(-square(x))]
    }
  }
}

func activation(
  _ function: UnaryActivation.Function, _ x: Tensor, _ name: String?, _ file: StaticString, _ line: UInt
) throws -> Tensor {
  try x.graph.apply(UnaryActivation(function), [x], name: name, location: x.graph.location(file, line))
}

/// Leaky ReLU, `x` for `x > 0` and `α·x` otherwise (`tf.nn.leaky_relu`, default `α = 0.2`).
/// - Throws: ``GraphError`` when `alpha` is not finite.
public func leakyRelu(
  _ x: Tensor, alpha: Double = 0.2, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard alpha.isFinite else {
    throw GraphError.invalidArgument(op: "LeakyRelu", reason: "alpha must be finite, got \(alpha)", location: SourceLocation(file, line))
  }
  return try activation(.leakyRelu(alpha: alpha), x, name, file, line)
}

/// Exponential linear unit, `x` for `x > 0` and `eˣ - 1` otherwise (`tf.nn.elu`).
public func elu(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try activation(.elu, x, name, file, line)
}

/// Softplus, `log(1 + eˣ)`, computed as `max(x, 0) + log1p(e^(-|x|))` so it never overflows
/// (`tf.nn.softplus`).
public func softplus(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try activation(.softplus, x, name, file, line)
}

/// The error function, `erf x = (2/√π) ∫₀ˣ e^(-t²) dt` (`tf.math.erf`).
public func erf(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try activation(.erf, x, name, file, line)
}

/// The Gaussian error linear unit (`tf.nn.gelu`), a composite:
///
/// - exact (the default, TF's `approximate=False`): `x · Φ(x) = ½ x (1 + erf(x/√2))`;
/// - `approximate: true`: `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
public func gelu(
  _ x: Tensor, approximate: Bool = false, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.withNameScope(name ?? "Gelu") {
    if approximate {
      let inner = try (x + 0.044715 * x * square(x)) * (2 / Double.pi).squareRoot()
      return try 0.5 * x * (1 + tanh(inner))
    }
    return try 0.5 * x * (1 + erf(x * (1 / 2.0.squareRoot()), file: file, line: line))
  }
}

/// `x` clipped to `[low, high]` (`tf.clip_by_value`), a composite `min(max(x, low), high)`.
/// The gradient passes where `low ≤ x ≤ high` and is 0 outside.
/// - Throws: ``GraphError`` when `low > high` or either is NaN.
public func clip(
  _ x: Tensor, min low: Double, max high: Double, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard low <= high else {
    throw GraphError.invalidArgument(
      op: "ClipByValue", reason: "the bounds [\(low), \(high)] are empty or NaN", location: SourceLocation(file, line))
  }
  return try x.graph.withNameScope(name ?? "ClipByValue") {
    try minimum(maximum(x, x.graph.scalar(low, like: x), file: file, line: line), x.graph.scalar(high, like: x), file: file, line: line)
  }
}

// MARK: - Dropout

/// The random mask of ``dropout(_:rate:seed:training:name:file:line:)``: an array of `x`'s
/// shape and dtype holding `0` with probability `rate` and `1/(1 - rate)` otherwise when the
/// bool scalar `training` is true, and ones when it is false. Seeded: each run draws a new
/// mask from the operation's generator (TF1 op-level seeds). Not differentiable.
public struct DropoutMask: Primitive {
  /// The probability of dropping an element, in `[0, 1)`.
  public let rate: Double
  /// The seed.
  public let seed: UInt64
  /// The number of inputs: 2.
  public var arity: Int? { 2 }
  /// `DropoutMask`.
  public var typeName: String { "DropoutMask" }
  /// `x`'s type.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    guard inputs[1].dtype == .bool, inputs[1].shape.rank == 0 else {
      throw ShapeError("training must be a bool scalar, got \(inputs[1].dtype) \(inputs[1].shape)")
    }
    return [inputs[0]]
  }
  /// Draws the mask (only when training).
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let training = inputs[1].scalars(as: Bool.self)[0]
    let n = x.elementCount
    let scale = 1 / (1 - rate)
    outputs.update(0) { out in
      out.prepare(shape: x.shape, dtype: x.dtype)
      guard training else {
        switch x.dtype {
        case .float32: out.withUnsafeMutableBufferPointer(as: Float.self) { $0.update(repeating: 1) }
        default: out.withUnsafeMutableBufferPointer(as: Double.self) { $0.update(repeating: 1) }
        }
        return
      }
      context.withGenerator(seed: seed) { g in
        switch x.dtype {
        case .float32:
          out.withUnsafeMutableBufferPointer(as: Float.self) { p in
            for i in 0..<n { p[i] = g.nextUniform() < rate ? 0 : Float(scale) }
          }
        default:
          out.withUnsafeMutableBufferPointer(as: Double.self) { p in
            for i in 0..<n { p[i] = g.nextUniform() < rate ? 0 : scale }
          }
        }
      }
    }
  }
  /// None.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil, nil] }
}

/// Inverted dropout (`tf.nn.dropout`): while `training` (a bool scalar tensor, such as a
/// placeholder) is true, each element is zeroed with probability `rate` and the others are
/// scaled by `1/(1 - rate)`, so the expected value is unchanged; otherwise `x` passes unchanged.
/// The result is `x · mask` with the mask a separate operation (``DropoutMask``), so the
/// gradient `g · mask` reuses the same mask.
/// - Throws: ``GraphError`` when `rate` is outside `[0, 1)` or `training` is not a bool scalar.
public func dropout(
  _ x: Tensor, rate: Double, seed: UInt64, training: Tensor, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard rate >= 0, rate < 1 else {
    throw GraphError.invalidArgument(op: "Dropout", reason: "rate must be in [0, 1), got \(rate)", location: SourceLocation(file, line))
  }
  let loc = x.graph.location(file, line)
  return try x.graph.withNameScope(name ?? "dropout") {
    let mask = try x.graph.apply(DropoutMask(rate: rate, seed: seed), [x, training], name: "mask", location: loc)
    return try multiply(x, mask, file: file, line: line)
  }
}

/// Inverted dropout with a fixed training flag: when `training` is false, `x` itself (no
/// operation is added); when true, as ``dropout(_:rate:seed:training:name:file:line:)`` with a
/// constant flag.
public func dropout(
  _ x: Tensor, rate: Double, seed: UInt64, training: Bool, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard rate >= 0, rate < 1 else {
    throw GraphError.invalidArgument(op: "Dropout", reason: "rate must be in [0, 1), got \(rate)", location: SourceLocation(file, line))
  }
  guard training else { return x }
  let flag = x.graph.constant(NDArray(scalar: true), name: "training", file: file, line: line)
  return try dropout(x, rate: rate, seed: seed, training: flag, name: name, file: file, line: line)
}
