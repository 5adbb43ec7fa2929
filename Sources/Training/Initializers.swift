import ArrayCore
import GraphCore

/// How to fill a new variable: builds the initial-value tensor for ``GraphCore/Graph/variable(_:trainable:name:file:line:)``.
/// Random initializers draw from a ``ArrayCore/SeededGenerator`` seeded with the given seed, so
/// the same seed gives the same values, bit for bit.
///
/// ```swift
/// let w = try graph.variable(Initializer.glorotUniform, shape: [64, 128], seed: 7, name: "W")
/// ```
///
/// Fans (for the scaled initializers), as Keras computes them: for a shape `[..., in, out]`
/// with receptive field `r` = the product of the leading dimensions, `fanIn = in·r` and
/// `fanOut = out·r`; a vector `[n]` has `fanIn = fanOut = n`; a scalar has 1 and 1.
///
/// The truncated normals are cut at two standard deviations and redrawn outside
/// (`tf.random.truncated_normal`); the constant `0.87962566103423978` is the standard
/// deviation of a standard normal truncated to `[-2, 2]`, by which Keras divides so that the
/// samples' standard deviation is the intended one.
public enum Initializer: Sendable, Hashable {
  /// All zeros.
  case zeros
  /// All ones.
  case ones
  /// Every element `value`.
  case constant(Double)
  /// Normal: `N(mean, standardDeviation²)`.
  case randomNormal(mean: Double = 0, standardDeviation: Double = 0.05)
  /// Normal truncated to `mean ± 2·standardDeviation` (redrawn outside).
  case truncatedNormal(mean: Double = 0, standardDeviation: Double = 0.05)
  /// Uniform on `[low, high)`.
  case randomUniform(low: Double = -0.05, high: Double = 0.05)
  /// Glorot / Xavier uniform (Glorot & Bengio 2010, "Understanding the difficulty of training
  /// deep feedforward neural networks"): uniform on `[-l, l)` with `l = √(6 / (fanIn + fanOut))`.
  case glorotUniform
  /// Glorot / Xavier normal, as Keras: truncated normal with
  /// `σ = √(2 / (fanIn + fanOut)) / 0.87962566103423978`.
  case glorotNormal
  /// He normal (He et al. 2015, "Delving Deep into Rectifiers"), as Keras: truncated normal
  /// with `σ = √(2 / fanIn) / 0.87962566103423978`.
  case heNormal
  /// He uniform, as Keras: uniform on `[-l, l)` with `l = √(6 / fanIn)`.
  case heUniform

  /// The standard deviation of a standard normal truncated to `[-2, 2]`.
  public static let truncatedNormalStandardDeviation = 0.87962566103423978

  /// `(fanIn, fanOut)` of a weight of `shape` (see the type's documentation).
  public static func fans(of shape: Shape) -> (fanIn: Int, fanOut: Int) {
    let d = shape.dimensions
    switch d.count {
    case 0: return (1, 1)
    case 1: return (d[0], d[0])
    default:
      // Saturating products: a size-0 axis makes a shape valid however large the others are.
      func times(_ a: Int, _ b: Int) -> Int {
        let (p, o) = a.multipliedReportingOverflow(by: b)
        return o ? Int.max : p
      }
      let receptive = d.dropLast(2).reduce(1, times)
      return (times(d[d.count - 2], receptive), times(d[d.count - 1], receptive))
    }
  }

  /// A tensor of `shape` and `dtype` holding the initial values (a constant, or a seeded random
  /// operation), to pass to ``GraphCore/Graph/variable(_:trainable:name:file:line:)``.
  /// - Parameter seed: seeds the random initializers (ignored by the constant ones).
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` for a non-float dtype, a
  ///   negative dimension or a shape over the size limit (``ArrayCore/Shape/validate(dtype:)``), a non-finite or negative standard deviation, `low ≥ high`, a
  ///   constant that is not finite in `dtype` (`1e300` in float32), or a zero fan for the scaled initializers.
  public func initialValue(
    _ graph: Graph, shape: Shape, dtype: DType = .float32, seed: UInt64, name: String = "initial_value",
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    let loc = SourceLocation(file, line)
    guard dtype.isFloatingPoint else {
      throw GraphError.invalidArgument(op: "Initializer", reason: "\(self) needs a float dtype, got \(dtype)", location: loc)
    }
    do { try shape.validate(dtype: dtype) } catch {
      throw GraphError.invalidArgument(op: "Initializer", reason: error.message, location: loc)
    }
    let (fanIn, fanOut) = Initializer.fans(of: shape)
    func requireFans(_ n: Int) throws {
      guard n > 0 else {
        throw GraphError.invalidArgument(op: "Initializer", reason: "\(self) needs a positive fan, shape \(shape) gives \(n)", location: loc)
      }
    }
    func check(_ value: Double, _ what: String, open: Bool = false) throws {
      try validateHyperparameter(value, what, of: "Initializer.\(self)", open: open, file: file, line: line)
    }
    let c = Initializer.truncatedNormalStandardDeviation
    switch self {
    case .zeros: return graph.constant(try NDArray(repeating: 0, shape: shape, dtype: dtype), name: name, file: file, line: line)
    case .ones: return graph.constant(try NDArray(repeating: 1, shape: shape, dtype: dtype), name: name, file: file, line: line)
    case let .constant(v):
      guard v.isFinite else {
        throw GraphError.invalidArgument(op: "Initializer", reason: "constant value must be finite, got \(v)", location: loc)
      }
      try checkParameter(v, "constant value", in: dtype, positive: false, op: "Initializer", location: loc)
      return graph.constant(try NDArray(repeating: v, shape: shape, dtype: dtype), name: name, file: file, line: line)
    case let .randomNormal(mean, sd):
      try check(sd, "standardDeviation")
      guard mean.isFinite else { throw GraphError.invalidArgument(op: "Initializer", reason: "mean must be finite, got \(mean)", location: loc) }
      return try GraphCore.randomNormal(graph, shape: shape, mean: mean, standardDeviation: sd, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case let .truncatedNormal(mean, sd):
      try check(sd, "standardDeviation")
      guard mean.isFinite else { throw GraphError.invalidArgument(op: "Initializer", reason: "mean must be finite, got \(mean)", location: loc) }
      return try GraphCore.truncatedNormal(graph, shape: shape, mean: mean, standardDeviation: sd, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case let .randomUniform(low, high):
      guard low.isFinite, high.isFinite, low < high else {
        throw GraphError.invalidArgument(op: "Initializer", reason: "randomUniform needs finite low < high, got [\(low), \(high))", location: loc)
      }
      return try GraphCore.randomUniform(graph, shape: shape, low: low, high: high, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case .glorotUniform:
      try requireFans(fanIn + fanOut)
      let limit = (6 / Double(fanIn + fanOut)).squareRoot()
      return try GraphCore.randomUniform(graph, shape: shape, low: -limit, high: limit, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case .glorotNormal:
      try requireFans(fanIn + fanOut)
      let sd = (2 / Double(fanIn + fanOut)).squareRoot() / c
      return try GraphCore.truncatedNormal(graph, shape: shape, standardDeviation: sd, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case .heNormal:
      try requireFans(fanIn)
      let sd = (2 / Double(fanIn)).squareRoot() / c
      return try GraphCore.truncatedNormal(graph, shape: shape, standardDeviation: sd, seed: seed, dtype: dtype, name: name, file: file, line: line)
    case .heUniform:
      try requireFans(fanIn)
      let limit = (6 / Double(fanIn)).squareRoot()
      return try GraphCore.randomUniform(graph, shape: shape, low: -limit, high: limit, seed: seed, dtype: dtype, name: name, file: file, line: line)
    }
  }
}

extension Graph {
  /// A variable of `shape` initialized by `initializer` (Keras's `add_weight`):
  /// `graph.variable(initializer.initialValue(...), name:)`.
  /// - Throws: see ``Initializer/initialValue(_:shape:dtype:seed:name:file:line:)``.
  public func variable(
    _ initializer: Initializer, shape: Shape, dtype: DType = .float32, seed: UInt64 = 0, trainable: Bool = true,
    name: String = "Variable", file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    let value = try initializer.initialValue(self, shape: shape, dtype: dtype, seed: seed, name: name + "/initial_value", file: file, line: line)
    return try variable(value, trainable: trainable, name: name, file: file, line: line)
  }
}
