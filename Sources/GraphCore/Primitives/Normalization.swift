import ArrayCore

// MARK: - Normalize: the shared core of batch and layer normalization

/// Standardizes `x` over a contiguous run of axes `A` (TF's `tf.nn.moments` followed by the
/// normalization, fused): with `n` the number of elements along `A`,
///
/// `μ = Σ_A x / n`, `σ² = Σ_A (x - μ)² / n` (biased, as `tf.nn.moments` and Keras),
/// `x̂ = (x - μ) / √(σ² + ε)`.
///
/// Three outputs: `x̂` (`x`'s shape), `μ` and `σ²` (`x`'s shape with the axes of `A` kept at
/// size 1). Batch normalization over channels-last images normalizes over `A = [0, 1, 2]`
/// (or `[0]` for `[N, C]`); layer normalization over the trailing axes.
///
/// Gradient, with `s = √(σ² + ε)`, `mean_A` the mean over `A` (kept) and `g`, `g_μ`, `g_σ²` the
/// upstream gradients of the three outputs:
///
/// `∂L/∂x = (g - mean_A g - x̂ · mean_A(g · x̂)) / s + (2 g_σ² / n) · (x - μ) + g_μ / n`,
///
/// built from primitives (including this one, through `x̂` and `σ²`), so it can be
/// differentiated again.
package struct Normalize: Primitive, Equatable {
  /// The normalized axes: a contiguous, increasing run.
  package let axes: [Int]
  /// `ε`, added to the variance (positive).
  package let epsilon: Double
  /// `Normalize`.
  package var typeName: String { "Normalize" }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }

  /// `[x̂, μ, σ²]` types.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[0]
    try requireFloat(x)
    guard let first = axes.first, let last = axes.last, last < x.shape.rank, first >= 0,
      axes == Array(first...last)
    else {
      throw ShapeError("axes \(axes) must be a contiguous increasing run of axes of a rank-\(x.shape.rank) input")
    }
    guard epsilon.isFinite, epsilon > 0 else { throw ShapeError("epsilon must be a finite number > 0, got \(epsilon)") }
    let stats = reducedType(x, axes: axes, keepDims: true)
    return [x, stats, stats]
  }

  /// One pass for the means, one for the variances, one for `x̂` (float64 sums; see
  /// ``ArrayCore/Kernels/normalize(_:outer:count:inner:epsilon:normalized:mean:variance:)``).
  /// When the plan reads only the statistics (`x̂` neither fetched nor an input: batch
  /// normalization's evaluation and inference runs), the third pass is skipped and `x̂` left
  /// empty: the same `μ` and `σ²`, bit for bit.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    var statsShape = x.shape.dimensions
    for a in axes { statsShape[a] = 1 }
    var outer = 1, n = 1, inner = 1
    for i in 0..<x.rank {
      if i < axes[0] { outer *= x.shape[i] } else if i > axes.last! { inner *= x.shape[i] } else { n *= x.shape[i] }
    }
    var m = NDArray(), v = NDArray()
    outputs.update(1) { swap(&m, &$0) }
    outputs.update(2) { swap(&v, &$0) }
    m.prepare(fittingAnInput: Shape(statsShape), dtype: x.dtype)
    v.prepare(fittingAnInput: Shape(statsShape), dtype: x.dtype)
    if outputs.isRead(0) {
      var y = NDArray()
      outputs.update(0) { swap(&y, &$0) }
      y.prepare(fittingAnInput: x.shape, dtype: x.dtype)
      try Kernels.normalize(x, outer: outer, count: n, inner: inner, epsilon: epsilon, normalized: &y, mean: &m, variance: &v)
      outputs[0] = y
    } else {
      try Kernels.moments(x, outer: outer, count: n, inner: inner, mean: &m, variance: &v)
    }
    outputs[1] = m
    outputs[2] = v
  }

  /// The rule in the type's description.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let x = op.input(0), xhat = op.outputs[0], variance = op.outputs[2]
    let graph = x.graph
    var terms: [Tensor] = []
    if let g = upstream[0] {
      let s = try sqrt(variance + graph.scalar(epsilon, like: x))
      terms.append(try (g - mean(g, axes: axes, keepDims: true) - xhat * mean(g * xhat, axes: axes, keepDims: true)) / s)
    }
    if upstream[1] != nil || upstream[2] != nil {
      // The factors are of the statistics' size (one per normalized group), so the terms cost
      // one full-size pass, `(x − μ) · k + c`, which a plan runs as one kernel (the
      // batch-normalization layer's training step takes its gradient through μ and σ² alone).
      // `(2 g_σ² s / n) · x̂ = (2 g_σ² / n) · (x − μ)`: written with `x`, not `x̂`, so that a
      // step that reads only the statistics does not compute `x̂` at all (``evaluate``).
      let n = try graph.apply(ElementCount(axes: axes), x, location: graph.gradientLocation)
      var term: Tensor?
      if let gv = upstream[2] { term = try (x - op.outputs[1]) * (graph.scalar(2, like: x) * gv / n) }
      if let gm = upstream[1] {
        let shift = try gm / n
        term = try term.map { try $0 + shift } ?? broadcastLike(shift, x)
      }
      terms.append(term!)
    }
    guard var total = terms.first else { return [nil] }
    for t in terms.dropFirst() { total = try total + t }
    return [total]
  }
}

/// The axes of `x` normalized and checked for `Normalize`: each in range, distinct, sorted, and
/// together a contiguous run.
func normalizationAxes(_ x: Tensor, _ axes: [Int], _ op: String, _ name: String?, _ location: SourceLocation?) throws -> [Int] {
  let ax: [Int]
  do {
    ax = try normalizeAxes(axes, rank: x.shape.rank).sorted()
  } catch {
    throw GraphError.invalidOperation(op: op, name: name ?? op, inputs: [x.inputDescription], reason: error.message, location: location)
  }
  guard let first = ax.first, ax == Array(first...(ax.last!)) else {
    throw GraphError.invalidOperation(
      op: op, name: name ?? op, inputs: [x.inputDescription],
      reason: "the normalized axes \(axes) must be a non-empty contiguous run of axes", location: location)
  }
  return ax
}

/// Checks `epsilon`: finite and > 0, also once stored in `x`'s dtype (the gradients and the
/// batch normalization add it in that dtype: `1e-50` is 0 in float32, and `√0` a divisor).
func checkEpsilon(_ epsilon: Double, of x: Tensor, _ op: String, _ location: SourceLocation?) throws {
  guard epsilon.isFinite, epsilon > 0 else {
    throw GraphError.invalidArgument(op: op, reason: "epsilon must be a finite number > 0, got \(epsilon)", location: location)
  }
  try checkParameter(epsilon, "epsilon", in: x.dtype, positive: true, op: op, location: location)
}

/// `x` standardized over `axes` (a contiguous run): `(x̂, μ, σ²)` with
/// `x̂ = (x - μ) / √(σ² + ε)` and the biased mean and variance over `axes` kept with size 1
/// (`Normalize`; `tf.nn.moments` followed by the normalization).
/// - Throws: `GraphError` naming `Normalize` for a non-float input, axes out of range or not
///   contiguous, or an `epsilon` that is not a positive finite number.
public func normalize(
  _ x: Tensor, axes: [Int], epsilon: Double = 1e-3, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> (normalized: Tensor, mean: Tensor, variance: Tensor) {
  let loc = x.graph.location(file, line)
  try checkEpsilon(epsilon, of: x, "Normalize", loc)
  let ax = try normalizationAxes(x, axes, "Normalize", name, loc)
  let op = try x.graph.addOperation(Normalize(axes: ax, epsilon: epsilon), inputs: [x], name: name, location: loc)
  return (op.outputs[0], op.outputs[1], op.outputs[2])
}

/// Layer normalization (Ba, Kiros & Hinton 2016; Keras's `LayerNormalization`,
/// `tf.contrib.layers.layer_norm`): each sample standardized over `axes` (the last by
/// default; a contiguous run), then scaled and shifted:
///
/// `y = γ · (x - μ) / √(σ² + ε) + β`, with `μ`, `σ²` the mean and biased variance over `axes`.
///
/// `gamma` and `beta` (either may be `nil`) broadcast against `x` (usually of shape
/// `x.shape[axes]`, e.g. `[features]`).
/// - Throws: `GraphError` naming `LayerNormalization`: non-float input, bad axes, bad
///   epsilon, or `gamma`/`beta` that do not broadcast.
public func layerNormalization(
  _ x: Tensor, gamma: Tensor? = nil, beta: Tensor? = nil, axes: [Int] = [-1], epsilon: Double = 1e-3,
  name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  try checkEpsilon(epsilon, of: x, "LayerNormalization", loc)
  let ax = try normalizationAxes(x, axes, "LayerNormalization", name, loc)
  return try x.graph.withNameScope(name ?? "layer_normalization") {
    var y = try x.graph.addOperation(Normalize(axes: ax, epsilon: epsilon), inputs: [x], location: loc).outputs[0]
    if let gamma { y = try multiply(y, gamma, name: "scale", file: file, line: line) }
    if let beta { y = try add(y, beta, name: "offset", file: file, line: line) }
    return y
  }
}

/// Batch normalization with given statistics (`tf.nn.batch_normalization`; the inference form
/// of Ioffe & Szegedy 2015):
///
/// `y = γ · (x - mean) / √(variance + ε) + β`,
///
/// every argument broadcast against `x` (for channels-last images, vectors of the channel count).
/// Training-mode batch normalization computes the statistics of the batch with
/// `normalize(_:axes:epsilon:name:file:line:)`; the `BatchNorm` layer of Training does both
/// and keeps the moving averages.
/// - Throws: `GraphError` naming `BatchNormalization` for a bad epsilon or shapes that do not
///   broadcast.
public func batchNormalization(
  _ x: Tensor, mean: Tensor, variance: Tensor, offset beta: Tensor? = nil, scale gamma: Tensor? = nil,
  epsilon: Double = 1e-3, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  try checkEpsilon(epsilon, of: x, "BatchNormalization", loc)
  return try x.graph.withNameScope(name ?? "batch_normalization") {
    // y = x · k + (β - mean · k), k = γ / √(variance + ε): two full-size passes.
    var k = try rsqrt(add(variance, x.graph.scalar(epsilon, like: x), file: file, line: line), name: "rsqrt", file: file, line: line)
    if let gamma { k = try multiply(k, gamma, name: "scale", file: file, line: line) }
    var shift = try negate(multiply(mean, k, file: file, line: line), file: file, line: line)
    if let beta { shift = try add(shift, beta, name: "offset", file: file, line: line) }
    return try add(multiply(x, k, file: file, line: line), shift, name: "y", file: file, line: line)
  }
}
