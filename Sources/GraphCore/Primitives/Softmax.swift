import ArrayCore

/// Softmax and log-softmax along one axis (`tf.nn.softmax`, `tf.nn.log_softmax`), computed
/// stably by subtracting the maximum along the axis first.
///
/// | function | forward | gradient `∂L/∂x` |
/// | --- | --- | --- |
/// | softmax | `y = eˣ / Σ_axis eˣ` | `y · (g - Σ_axis g·y)` |
/// | log-softmax | `y = x - log Σ_axis eˣ` | `g - eʸ · Σ_axis g` |
///
/// The gradients are built from primitives (including this one), so they can be
/// differentiated again.
package struct Softmax: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// Whether this is the log-softmax.
  package let log: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Softmax` or `LogSoftmax`.
  package var typeName: String { log ? "LogSoftmax" : "Softmax" }
  /// The input's type (float).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [inputs[0]]
  }
  /// Computes the (log-)softmax.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.softmax(x, axis: axis, log: log, into: &$0) }
  }
  /// The rules of the table above.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let y = op.output
    if log {
      return [try g - exp(y) * sum(g, axes: [axis], keepDims: true)]
    }
    return [try y * (g - sum(g * y, axes: [axis], keepDims: true))]
  }
}

func softmaxPrimitive(_ x: Tensor, _ axis: Int, log: Bool, _ name: String?, _ file: StaticString, _ line: UInt) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let op = log ? "LogSoftmax" : "Softmax"
  let ax: Int
  do {
    ax = try normalizeAxis(axis, rank: x.shape.rank)
  } catch {
    throw GraphError.invalidOperation(op: op, name: name ?? op, inputs: [x.inputDescription], reason: error.message, location: loc)
  }
  return try x.graph.apply(Softmax(axis: ax, log: log), x, name: name, location: loc)
}

/// The softmax along `axis` (the last by default), `eˣ / Σ_axis eˣ`, shifted by the maximum so
/// it never overflows (`tf.nn.softmax`).
public func softmax(_ x: Tensor, axis: Int = -1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try softmaxPrimitive(x, axis, log: false, name, file, line)
}

/// The log-softmax along `axis` (the last by default), `x - log Σ_axis eˣ`, computed as
/// `x - m - log Σ_axis e^(x - m)` with `m` the maximum, finite for any finite input
/// (`tf.nn.log_softmax`).
public func logSoftmax(_ x: Tensor, axis: Int = -1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try softmaxPrimitive(x, axis, log: true, name, file, line)
}

/// Softmax cross-entropy with integer class labels, fused for stability
/// (`tf.nn.sparse_softmax_cross_entropy_with_logits`): for logits `x[..., C]` and int32 labels
/// `k[...]`,
///
/// `ℓ = -log softmax(x)[k] = log Σ_c e^(x_c) - x_k`,
///
/// computed through the stable log-softmax (finite for any finite logits). A label outside
/// `0..<C` is a run-time error naming it.
/// Gradient: `∂ℓ/∂x = g · (softmax(x) - onehot(k))`; none for the labels.
package struct SparseSoftmaxCrossEntropy: Primitive, Equatable {
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `SparseSoftmaxCrossEntropyWithLogits`.
  package var typeName: String { "SparseSoftmaxCrossEntropyWithLogits" }
  /// Float logits `[..., C]` and int32 labels `[...]`; the labels' shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[0], k = inputs[1]
    try requireFloat(x, "logits")
    guard k.dtype == .int32 else { throw ShapeError("labels must be int32, got \(k.dtype)") }
    guard x.shape.rank >= 1, k.shape.rank == x.shape.rank - 1 else {
      throw ShapeError("labels \(k.shape) must have the shape of logits \(x.shape) without its last axis")
    }
    var dims: [Int?] = []
    for (a, b) in zip(x.shape.dimensions.dropLast(), k.shape.dimensions) {
      if let a, let b, a != b {
        throw ShapeError("labels \(k.shape) must have the shape of logits \(x.shape) without its last axis")
      }
      dims.append(a ?? b)
    }
    return [TensorInfo(dtype: x.dtype, shape: PartialShape(dims))]
  }
  /// `-logSoftmax(x)[k]`, row by row.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], k = inputs[1]
    guard Array(x.shape.dimensions.dropLast()) == k.shape.dimensions else {
      throw ShapeError("labels \(k.shape) must have the shape of logits \(x.shape) without its last axis")
    }
    let c = x.shape[x.rank - 1]
    let labels = k.scalars(as: Int32.self)
    for (row, label) in labels.enumerated() where label < 0 || Int(label) >= c {
      throw ShapeError("label \(label) at position \(row) is out of range [0, \(c))")
    }
    var logProbabilities = NDArray()
    try Kernels.softmax(x, axis: -1, log: true, into: &logProbabilities)
    switch x.dtype {
    case .float32: outputs.update(0) { pick(logProbabilities, labels, c, Float.self, k.shape, &$0) }
    default: outputs.update(0) { pick(logProbabilities, labels, c, Double.self, k.shape, &$0) }
    }
  }

  func pick<T: FloatElement>(_ lp: NDArray, _ labels: [Int32], _ c: Int, _: T.Type, _ shape: Shape, _ out: inout NDArray) {
    out.prepare(fittingAnInput: shape, dtype: T.dtype)
    lp.withUnsafeBufferPointer(as: T.self) { src in
      out.withUnsafeMutableBufferPointer(as: T.self) { dst in
        for (r, l) in labels.enumerated() { dst[r] = -src[r * c + Int(l)] }
      }
    }
  }

  /// `[g · (softmax(x) - onehot(k)), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.input(0), k = op.input(1)
    let probabilities = try softmax(x)
    let target = try x.graph.apply(OneHot(depth: nil, dtype: x.dtype), k, x, location: x.graph.gradientLocation)
    return [try expandDims(g, axis: -1) * (probabilities - target), nil]
  }
}

/// The per-example softmax cross-entropy of `logits[..., C]` against int32 class `labels[...]`,
/// `log Σ_c e^(x_c) - x_label`, stable for any finite logits
/// (`tf.nn.sparse_softmax_cross_entropy_with_logits`). A label outside `0..<C` is a run-time
/// error.
public func sparseSoftmaxCrossEntropyWithLogits(
  logits: Tensor, labels: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try logits.graph.apply(SparseSoftmaxCrossEntropy(), logits, labels, name: name, location: logits.graph.location(file, line))
}
