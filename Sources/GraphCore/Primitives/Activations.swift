import ArrayCore
import RealModule

// Activation functions, each defined once as a ``UnaryFunction`` (its scalar function and its
// derivative `∂L/∂x` for the upstream gradient `g`, input `x`, output `y`), then its builder;
// composites (GELU, clipping) and dropout follow.

/// `1 / (1 + e⁻ˣ)`, evaluated as `eˣ / (1 + eˣ)` for negative `x` so neither branch overflows.
@inlinable func stableSigmoid<T: FloatElement>(_ x: T) -> T { Kernels.sigmoid(x) }

/// The logistic sigmoid `σ(x) = 1 / (1 + e⁻ˣ)`, without overflow (`Sigmoid`);
/// `∂L/∂x = g · y (1 - y)`.
public struct Sigmoid: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Sigmoid`.
  public var typeName: String { "Sigmoid" }
  /// `σ(x)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { stableSigmoid(x) }
  /// `g · (y · (1 - y))`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * (y * (1 - y)) }
  /// The vectorized kernel (``Kernels/sigmoid(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.sigmoid(x, into: &out) }
}
/// Elementwise logistic sigmoid, `σ(x) = 1 / (1 + e⁻ˣ)` (`tf.sigmoid`).
public func sigmoid(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Sigmoid(), x, name: name, file: file, line: line)
}

/// The hyperbolic tangent (`Tanh`); `∂L/∂x = g · (1 - y²)`.
public struct HyperbolicTangent: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Tanh`.
  public var typeName: String { "Tanh" }
  /// `tanh x`: in `Float` the package's own (`Kernels.tanh(_:)` (one value): an odd polynomial
  /// below 0.3, else `sign(x) · E / (E + 2)` with `E = e^(2|x|) − 1`, in `Float` arithmetic,
  /// within 1 ulp), in `Double` the system's.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Kernels.tanh(x) }
  /// `g · (1 - y²)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * (1 - square(y)) }
  /// The vectorized kernel (``Kernels/tanh(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.tanh(x, into: &out) }
}
/// Elementwise hyperbolic tangent (`tf.tanh`).
public func tanh(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(HyperbolicTangent(), x, name: name, file: file, line: line)
}

/// The rectifier `max(x, 0)`, NaN giving 0 (`Relu`); `∂L/∂x = g · sign(y)`.
/// Vectorized kernel: ``Kernels/relu(_:into:)``.
public struct Relu: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Relu`.
  public var typeName: String { "Relu" }
  /// `x > 0 ? x : 0`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x > 0 ? x : 0 }
  /// `g · sign(y)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * sign(y) }
  /// The vectorized rectifier (the same comparisons).
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.relu(x, into: &out) }
}
/// Rectified linear unit, `max(x, 0)` (`tf.nn.relu`).
public func relu(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Relu(), x, name: name, file: file, line: line)
}

/// `x` for `x > 0`, else `α·x` (`LeakyRelu`); `∂L/∂x = g` for `x > 0`, else `α·g`.
public struct LeakyRelu: UnaryFunction {
  /// The slope for negative inputs.
  public let alpha: Double
  /// Creates the function with slope `alpha`.
  public init(alpha: Double) { self.alpha = alpha }
  /// `LeakyRelu`.
  public var typeName: String { "LeakyRelu" }
  /// `x > 0 ? x : α·x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x > 0 ? x : T(alpha) * x }
  /// `select(x > 0, g, g·α)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    try select(greater(x, x.graph.scalar(0, like: x)), g, g * alpha)
  }
}
/// Leaky ReLU, `x` for `x > 0` and `α·x` otherwise (`tf.nn.leaky_relu`, default `α = 0.2`).
/// - Throws: ``GraphError`` when `alpha` is not finite, also in `x`'s dtype (`1e300` in float32
///   would give `-∞` for negative inputs and `∞ · 0 = NaN` at 0).
public func leakyRelu(
  _ x: Tensor, alpha: Double = 0.2, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard alpha.isFinite else {
    throw GraphError.invalidArgument(op: "LeakyRelu", reason: "alpha must be finite, got \(alpha)", location: SourceLocation(file, line))
  }
  try checkParameter(alpha, "alpha", in: x.dtype, positive: false, op: "LeakyRelu", location: SourceLocation(file, line))
  return try unary(LeakyRelu(alpha: alpha), x, name: name, file: file, line: line)
}

/// The exponential linear unit, `x` for `x > 0`, else `eˣ - 1` (`Elu`, α = 1);
/// `∂L/∂x = g` for `x > 0`, else `g·(y + 1)`.
public struct Elu: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Elu`.
  public var typeName: String { "Elu" }
  /// `x > 0 ? x : eˣ - 1`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { x > 0 ? x : T.expMinusOne(x) }
  /// `select(x > 0, g, g·(y + 1))`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    try select(greater(x, x.graph.scalar(0, like: x)), g, g * (y + 1))
  }
}
/// Exponential linear unit, `x` for `x > 0` and `eˣ - 1` otherwise (`tf.nn.elu`).
public func elu(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Elu(), x, name: name, file: file, line: line)
}

/// The scaled exponential linear unit (`Selu`, Klambauer et al. 2017):
/// `λ·x` for `x > 0`, else `λ·α·(eˣ - 1)`, with `α ≈ 1.6733` and `λ ≈ 1.0507` (TF's constants);
/// `∂L/∂x = λ·g` for `x > 0`, else `g·(y + λ·α)`.
public struct Selu: UnaryFunction {
  /// `α`, TensorFlow's `1.6732632423543772848170429916717`.
  public static let alpha = 1.6732632423543772848170429916717
  /// `λ`, TensorFlow's `1.0507009873554804934193349852946`.
  public static let scale = 1.0507009873554804934193349852946
  /// Creates the function.
  public init() {}
  /// `Selu`.
  public var typeName: String { "Selu" }
  /// `x > 0 ? λ·x : λ·α·(eˣ - 1)`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T {
    x > 0 ? T(Self.scale) * x : T(Self.scale * Self.alpha) * T.expMinusOne(x)
  }
  /// `select(x > 0, λ·g, g·(y + λ·α))`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    try select(greater(x, x.graph.scalar(0, like: x)), g * Self.scale, g * (y + Self.scale * Self.alpha))
  }
}
/// The scaled exponential linear unit (`tf.nn.selu`): `λ·x` for `x > 0`, else `λ·α·(eˣ - 1)`.
public func selu(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Selu(), x, name: name, file: file, line: line)
}

/// `log(1 + eˣ)`, computed as `max(x, 0) + log(1 + e^(-|x|))` so it never overflows
/// (`Softplus`); `∂L/∂x = g · σ(x)`.
public struct Softplus: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Softplus`.
  public var typeName: String { "Softplus" }
  /// `max(x, 0) + log1p(e^(-|x|))`, through the package's own exponential and log1p
  /// (`Kernels.softplus(_:)` (one value)).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { Kernels.softplus(x) }
  /// `g · σ(x)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? { try g * sigmoid(x) }
  /// The vectorized kernel (``Kernels/softplus(_:into:)``): the bits of ``callAsFunction(_:)``.
  public func evaluate(_ x: NDArray, into out: inout NDArray) throws { try Kernels.softplus(x, into: &out) }
}
/// Softplus, `log(1 + eˣ)`, computed as `max(x, 0) + log1p(e^(-|x|))` so it never overflows
/// (`tf.nn.softplus`).
public func softplus(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(Softplus(), x, name: name, file: file, line: line)
}

/// The error function `erf x = (2/√π) ∫₀ˣ e^(-t²) dt` (`Erf`); `∂L/∂x = g · (2/√π) e^(-x²)`.
public struct ErrorFunction: UnaryFunction {
  /// Creates the function.
  public init() {}
  /// `Erf`.
  public var typeName: String { "Erf" }
  /// `erf x`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T) -> T { T.erf(x) }
  /// `g · (2/√π) · e^(-x²)`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor? {
    try g * (2 / Double.pi.squareRoot()) * exp(-square(x))
  }
}
/// The error function, `erf x = (2/√π) ∫₀ˣ e^(-t²) dt` (`tf.math.erf`).
public func erf(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try unary(ErrorFunction(), x, name: name, file: file, line: line)
}

/// The Gaussian error linear unit (`tf.nn.gelu`), a composite:
///
/// - exact (the default, TF's `approximate=False`): `x · Φ(x) = ½ x (1 + erf(x/√2))`;
/// - `approximate: true`: `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`, with `x` clipped to
///   `[-10, 10]` inside the tanh, which is ±1 there exactly in float32 and float64 (the same
///   values; without the clip, `x³` overflowed beyond |x| ≈ 1e13 in float32 and the gradient's
///   `0 · ∞` was NaN, as TensorFlow's).
public func gelu(
  _ x: Tensor, approximate: Bool = false, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.withNameScope(name ?? "Gelu") {
    if approximate {
      let t = try clip(x, min: -10, max: 10)
      let inner = try (t + 0.044715 * t * square(t)) * (2 / Double.pi).squareRoot()
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
package struct DropoutMask: Primitive, Equatable {
  /// The probability of dropping an element, in `[0, 1)`.
  package let rate: Double
  /// The seed.
  package let seed: UInt64
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `DropoutMask`.
  package var typeName: String { "DropoutMask" }
  /// `x`'s type.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    guard inputs[1].dtype == .bool, inputs[1].shape.rank == 0 else {
      throw ShapeError("training must be a bool scalar, got \(inputs[1].dtype) \(inputs[1].shape)")
    }
    return [inputs[0]]
  }
  /// Draws the mask (only when training).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let training = inputs[1].scalars(as: Bool.self)[0]
    let n = x.elementCount
    outputs.update(0) { out in
      out.prepare(fittingAnInput: x.shape, dtype: x.dtype)
      guard training else {
        switch x.dtype {
        case .float32: out.withUnsafeMutableBufferPointer(as: Float.self) { $0.update(repeating: 1) }
        default: out.withUnsafeMutableBufferPointer(as: Double.self) { $0.update(repeating: 1) }
        }
        return
      }
      context.withGenerator(seed: seed) { g in DropoutMask.fill(&out, count: n, rate: rate, generator: &g) }
    }
  }

  /// Draws a dropout mask into `out` (already of the input's shape and float dtype): each of the
  /// `count` elements `0` with probability `rate`, else `1/(1 - rate)`, in order from `g`. The one
  /// definition of the mask, for this kernel and for eager `Dropout` layers.
  package static func fill(_ out: inout NDArray, count n: Int, rate: Double, generator g: inout SeededGenerator) {
    let scale = 1 / (1 - rate)
    if rate >= 0 && rate < 1 {
      // Branch-free, the same values: `u = k · 2⁻⁵³ < rate` (k = next() >> 11, below 2⁵³) holds
      // exactly when k < t (``dropThreshold(_:)``), that is when k &- t wraps (its top bit set);
      // the element is then `scale`'s bits masked to +0. The draws go through a small buffer and
      // become masks eight at a time in SIMD registers: written as one scalar loop, the compiler
      // turns the comparison back into a branch on a coin flip, mispredicted half the time (it
      // was 5.6% of the example CNN's training time; about 1.3% now).
      let t = dropThreshold(rate)
      let chunk = 256
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chunk) { masks in
        var start = 0
        while start < n {
          let count = Swift.min(chunk, n - start)
          var local = g  // in registers for the loop (the inout generator lives in memory)
          for j in 0..<count { masks[j] = local.next() >> 11 }
          g = local
          // Each draw becomes its mask (all ones: kept, 0: dropped), eight at a time.
          let tv = SIMD8<UInt64>(repeating: t)
          var j = 0
          while j + 8 <= count {
            let d = UnsafeRawPointer(masks.baseAddress! + j).loadUnaligned(as: SIMD8<UInt64>.self)
            UnsafeMutableRawPointer(masks.baseAddress! + j).storeBytes(of: ((d &- tv) &>> 63) &- 1, as: SIMD8<UInt64>.self)
            j += 8
          }
          for j in j..<count { masks[j] = (masks[j] &- t) >> 63 &- 1 }
          // Then the values are `scale`'s bits and-ed with the masks: no comparison left to branch on.
          switch out.dtype {
          case .float32:
            let bits = Float(scale).bitPattern
            out.withUnsafeMutableBufferPointer(as: Float.self) { p in
              let q = p.baseAddress! + start
              for j in 0..<count { q[j] = Float(bitPattern: bits & UInt32(truncatingIfNeeded: masks[j])) }
            }
          default:
            let bits = scale.bitPattern
            out.withUnsafeMutableBufferPointer(as: Double.self) { p in
              let q = p.baseAddress! + start
              for j in 0..<count { q[j] = Double(bitPattern: bits & masks[j]) }
            }
          }
          start += count
        }
      }
      return
    }
    switch out.dtype {
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

  /// The least 53-bit draw k that is kept at `rate` (0 ≤ rate < 1): `k · 2⁻⁵³ < rate` exactly
  /// when `k < dropThreshold(rate)`, since `rate · 2⁵³` is exact.
  package static func dropThreshold(_ rate: Double) -> UInt64 { UInt64((rate * 0x1p53).rounded(.up)) }

  /// A mask for an array of `shape` and float `dtype` (see ``fill(_:count:rate:generator:)``).
  package static func draw(shape: Shape, dtype: DType, rate: Double, generator g: inout SeededGenerator) -> NDArray {
    var out = NDArray()
    out.prepare(fittingAnInput: shape, dtype: dtype)
    fill(&out, count: shape.elementCount, rate: rate, generator: &g)
    return out
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil, nil] }
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
    let mask = try x.graph.apply(DropoutMask(rate: rate, seed: seed), x, training, name: "mask", location: loc)
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
