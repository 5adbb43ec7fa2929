import ArrayCore

// MARK: - Random values

/// Random values of a fixed shape, drawn from a seeded generator owned by the session: each run
/// gives new values, and the same seed gives the same sequence (TF1 op-level seeds).
package struct RandomPrimitive: Primitive, Equatable {
  /// The distribution.
  package enum Distribution: Sendable, Hashable {
    /// Normal with mean and standard deviation.
    case normal(mean: Double, standardDeviation: Double)
    /// Normal truncated to two standard deviations (resampled outside), as
    /// `tf.random.truncated_normal`.
    case truncatedNormal(mean: Double, standardDeviation: Double)
    /// Uniform on `[low, high)`.
    case uniform(low: Double, high: Double)
  }
  /// The shape of the result.
  package let shape: Shape
  /// The distribution.
  package let distribution: Distribution
  /// The seed.
  package let seed: UInt64
  /// The dtype.
  package let dtype: DType
  /// The number of inputs: none (a leaf).
  package var arity: Int? { 0 }
  /// `RandomStandardNormal`, `TruncatedNormal` or `RandomUniform`.
  package var typeName: String {
    switch distribution {
    case .normal: "RandomStandardNormal"
    case .truncatedNormal: "TruncatedNormal"
    case .uniform: "RandomUniform"
    }
  }
  /// The fixed shape and dtype.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard dtype.isFloatingPoint else { throw ShapeError("random values must be float, got \(dtype)") }
    try shape.validate(dtype: dtype)
    try checkParameters()
    return [TensorInfo(dtype: dtype, shape: PartialShape(shape))]
  }
  /// Refuses parameters that would give values that are not numbers of `dtype`, or not from the
  /// distribution asked for: each parameter (and `high - low`) finite in `dtype`, a standard
  /// deviation ≥ 0, `low ≤ high`.
  private func checkParameters() throws(ShapeError) {
    func finite(_ label: String, _ value: Double) throws(ShapeError) {
      guard NDArray(scalar: value, dtype: dtype).doubles[0].isFinite else {
        throw ShapeError("\(label) \(value) is not a finite \(dtype) number")
      }
    }
    switch distribution {
    case let .normal(mean, sd), let .truncatedNormal(mean, sd):
      try finite("mean", mean)
      try finite("standard deviation", sd)
      guard sd >= 0 else { throw ShapeError("standard deviation \(sd) is negative") }
      try finite("mean + 2 × standard deviation", Swift.abs(mean) + 2 * sd)
    case let .uniform(low, high):
      try finite("low", low)
      try finite("high", high)
      guard low <= high else { throw ShapeError("low \(low) is above high \(high)") }
      try finite("high - low", high - low)
    }
  }

  /// Draws new values.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    // Drawn in element order straight into the result (no array of doubles in between).
    outputs[0] = context.withGenerator(seed: seed) { g in
      NDArray(shape: shape, dtype: dtype) { _ in
        switch distribution {
        case let .normal(mean, sd): return g.normal(mean: mean, standardDeviation: sd)
        case let .truncatedNormal(mean, sd):
          while true {
            let z = g.normal()
            if Swift.abs(z) <= 2 { return mean + sd * z }
          }
        case let .uniform(low, high): return g.uniform(low: low, high: high)
        }
      }
    }
  }
  /// A leaf: no inputs.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}

/// Normal random values (`tf.random_normal`), new ones on every run.
public func randomNormal(
  _ graph: Graph, shape: Shape, mean: Double = 0, standardDeviation: Double = 1, seed: UInt64,
  dtype: DType = .float32, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try graph.apply(
    RandomPrimitive(shape: shape, distribution: .normal(mean: mean, standardDeviation: standardDeviation), seed: seed, dtype: dtype),
    [], name: name, location: graph.location(file, line))
}

/// Uniform random values on `[low, high)` (`tf.random_uniform`), new ones on every run.
public func randomUniform(
  _ graph: Graph, shape: Shape, low: Double = 0, high: Double = 1, seed: UInt64,
  dtype: DType = .float32, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try graph.apply(
    RandomPrimitive(shape: shape, distribution: .uniform(low: low, high: high), seed: seed, dtype: dtype),
    [], name: name, location: graph.location(file, line))
}

/// Normal random values truncated at two standard deviations (`tf.random.truncated_normal`).
public func truncatedNormal(
  _ graph: Graph, shape: Shape, mean: Double = 0, standardDeviation: Double = 1, seed: UInt64,
  dtype: DType = .float32, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try graph.apply(
    RandomPrimitive(shape: shape, distribution: .truncatedNormal(mean: mean, standardDeviation: standardDeviation), seed: seed, dtype: dtype),
    [], name: name, location: graph.location(file, line))
}

extension Graph {
  /// Normal random values in this graph (`tf.random.normal`), new ones on every run; the same
  /// as ``randomNormal(_:shape:mean:standardDeviation:seed:dtype:name:file:line:)``.
  public func randomNormal(
    shape: Shape, mean: Double = 0, standardDeviation: Double = 1, seed: UInt64, dtype: DType = .float32,
    name: String? = nil, file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    try GraphCore.randomNormal(
      self, shape: shape, mean: mean, standardDeviation: standardDeviation, seed: seed, dtype: dtype, name: name,
      file: file, line: line)
  }

  /// Uniform random values on `[low, high)` in this graph (`tf.random.uniform`).
  public func randomUniform(
    shape: Shape, low: Double = 0, high: Double = 1, seed: UInt64, dtype: DType = .float32, name: String? = nil,
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    try GraphCore.randomUniform(self, shape: shape, low: low, high: high, seed: seed, dtype: dtype, name: name, file: file, line: line)
  }

  /// Normal random values truncated at two standard deviations in this graph
  /// (`tf.random.truncated_normal`).
  public func truncatedNormal(
    shape: Shape, mean: Double = 0, standardDeviation: Double = 1, seed: UInt64, dtype: DType = .float32,
    name: String? = nil, file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    try GraphCore.truncatedNormal(
      self, shape: shape, mean: mean, standardDeviation: standardDeviation, seed: seed, dtype: dtype, name: name,
      file: file, line: line)
  }
}
