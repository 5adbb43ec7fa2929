import ArrayCore
import GraphCore

/// How a loss combines its per-element (or per-example) values (`tf.losses.Reduction`).
public enum LossReduction: Sendable, Hashable {
  /// The mean of all values (the default): `(1/n) Σᵢ ℓᵢ`.
  case mean
  /// The sum of all values: `Σᵢ ℓᵢ`.
  case sum
  /// No reduction: the per-element (or per-example) values.
  case none
}

func reduce(_ losses: Tensor, _ reduction: LossReduction, file: StaticString, line: UInt) throws -> Tensor {
  switch reduction {
  case .mean: try mean(losses, file: file, line: line)
  case .sum: try sum(losses, file: file, line: line)
  case .none: losses
  }
}

func checkSameShape(_ op: String, _ a: Tensor, _ b: Tensor, file: StaticString, line: UInt) throws {
  let ok = a.dtype == b.dtype && a.shape.rank == b.shape.rank
    && zip(a.shape.dimensions, b.shape.dimensions).allSatisfy { $0 == nil || $1 == nil || $0 == $1 }
  guard ok else {
    throw GraphError.invalidArgument(
      op: op, reason: "'\(a.name)' \(a.dtype) \(a.shape) and '\(b.name)' \(b.dtype) \(b.shape) must have one dtype and shape",
      location: SourceLocation(file, line))
  }
}

/// `b` (what `bRole` names), which ``checkSameShape(_:_:_:file:line:)`` found compatible with
/// `a`, as a loss may use it: as it is when the static shapes prove the shapes equal (both
/// fully known, or one tensor), else checked at run time to have `a`'s shape (GraphCore's
/// `EnsureShapeLike`: a comparison of two shapes per run, no copy), so that `[?, ?]` fed
/// `[N, N]` against `[?, 1]` fed `[N, 1]` is an error naming `op` and both shapes instead of
/// a loss of `N²` terms.
func sameShapeAtRunTime(
  _ op: String, _ b: Tensor, _ bRole: String, like a: Tensor, _ aRole: String, file: StaticString, line: UInt
) throws -> Tensor {
  if b == a || (a.shape.concrete != nil && b.shape.concrete != nil) { return b }
  return try ensureShapeLike(b, a, operation: op, role: bRole, referenceRole: aRole, file: file, line: line)
}

/// The mean squared error (`tf.losses.mean_squared_error`):
/// `ℓᵢ = (predictedᵢ - expectedᵢ)²`, reduced over every element.
///
/// `expected` must have `predicted`'s shape: the shapes are not broadcast. When their static
/// shapes leave sizes unknown (`[?, 1]`), the run compares them, and a mismatch fails it with
/// ``GraphCore/SessionError/executionFailed(op:name:reason:location:)`` naming the loss and
/// both shapes.
/// - Throws: ``GraphCore/GraphError`` when the dtypes or shapes differ.
public func meanSquaredError(
  predicted: Tensor, expected: Tensor, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try checkSameShape("MeanSquaredError", predicted, expected, file: file, line: line)
  return try predicted.graph.withNameScope("mean_squared_error") {
    let expected = try sameShapeAtRunTime("MeanSquaredError", expected, "expected", like: predicted, "predicted", file: file, line: line)
    return try reduce(square(predicted - expected, file: file, line: line), reduction, file: file, line: line)
  }
}

/// The mean absolute error (`tf.losses.absolute_difference`):
/// `ℓᵢ = |predictedᵢ - expectedᵢ|`, reduced over every element.
///
/// `expected` must have `predicted`'s shape, compared at run time when the static shapes
/// cannot tell (see ``meanSquaredError(predicted:expected:reduction:file:line:)``).
/// - Throws: ``GraphCore/GraphError`` when the dtypes or shapes differ.
public func meanAbsoluteError(
  predicted: Tensor, expected: Tensor, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try checkSameShape("MeanAbsoluteError", predicted, expected, file: file, line: line)
  return try predicted.graph.withNameScope("absolute_difference") {
    let expected = try sameShapeAtRunTime("MeanAbsoluteError", expected, "expected", like: predicted, "predicted", file: file, line: line)
    return try reduce(abs(predicted - expected, file: file, line: line), reduction, file: file, line: line)
  }
}

/// The Huber loss (`tf.losses.huber_loss`): with `r = predicted - expected`,
///
/// `ℓᵢ = ½ rᵢ²` when `|rᵢ| ≤ δ`, and `δ (|rᵢ| - ½ δ)` otherwise,
///
/// computed as `½ q² + δ (|r| - q)` with `q = min(|r|, δ)`; reduced over every element.
/// `expected` must have `predicted`'s shape, compared at run time when the static shapes
/// cannot tell (see ``meanSquaredError(predicted:expected:reduction:file:line:)``).
/// - Throws: ``GraphCore/GraphError`` when `delta` is not positive and finite (also in the
///   tensors' dtype: `1e300` is infinite in float32, and `∞ · 0` NaN), or the dtypes or shapes
///   differ.
public func huber(
  predicted: Tensor, expected: Tensor, delta: Double = 1, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard delta > 0, delta.isFinite else {
    throw GraphError.invalidArgument(op: "HuberLoss", reason: "delta must be positive and finite, got \(delta)", location: SourceLocation(file, line))
  }
  try checkSameShape("HuberLoss", predicted, expected, file: file, line: line)
  try checkParameter(delta, "delta", in: predicted.dtype, positive: true, op: "HuberLoss", location: SourceLocation(file, line))
  return try predicted.graph.withNameScope("huber_loss") {
    let expected = try sameShapeAtRunTime("HuberLoss", expected, "expected", like: predicted, "predicted", file: file, line: line)
    let r = try abs(predicted - expected, file: file, line: line)
    let q = try minimum(r, predicted.graph.constant(delta, dtype: r.dtype), file: file, line: line)
    return try reduce(0.5 * square(q) + delta * (r - q), reduction, file: file, line: line)
  }
}

/// Sigmoid cross-entropy on logits `x` with labels `z` in `[0, 1]`
/// (`tf.losses.sigmoid_cross_entropy`):
///
/// `ℓᵢ = max(xᵢ, 0) - xᵢ zᵢ + log(1 + e^(-|xᵢ|))` (= `-z log σ(x) - (1 - z) log(1 - σ(x))`),
///
/// computed stably by GraphCore's fused primitive, then reduced over every element.
///
/// The labels must have the logits' shape, as in TensorFlow and PyTorch (`BCEWithLogitsLoss`):
/// broadcasting labels `[N]` against logits `[N, 1]` would give `N²` terms, a wrong loss without
/// a word. (GraphCore's `sigmoidCrossEntropyWithLogits` broadcasts, as any elementwise operation.)
/// When the static shapes leave sizes unknown (logits `[?, 1]`, labels `[?, ?]`), the run
/// compares the shapes, and a mismatch fails it with
/// ``GraphCore/SessionError/executionFailed(op:name:reason:location:)`` naming the loss and
/// both shapes.
/// - Throws: ``GraphCore/GraphError`` when the dtypes or shapes differ.
public func sigmoidCrossEntropy(
  logits: Tensor, labels: Tensor, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try checkSameShape("SigmoidCrossEntropy", logits, labels, file: file, line: line)
  return try logits.graph.withNameScope("sigmoid_cross_entropy_loss") {
    let labels = try sameShapeAtRunTime("SigmoidCrossEntropy", labels, "labels", like: logits, "logits", file: file, line: line)
    let perElement = try sigmoidCrossEntropyWithLogits(logits: logits, labels: labels, file: file, line: line)
    return try reduce(perElement, reduction, file: file, line: line)
  }
}

/// Softmax cross-entropy with one-hot (or any probability) labels along the last axis
/// (`tf.losses.softmax_cross_entropy`): for logits `x[..., C]` and labels `z[..., C]`,
///
/// `ℓ = -Σ_c z_c log softmax(x)_c = Σ_c z_c (log Σ_k e^(x_k) - x_c)`,
///
/// one value per example (`.none` gives shape `[...]`), then reduced over the examples. The
/// log-softmax is computed stably (shifted by the maximum), so logits up to ±1e4 and beyond give
/// finite losses and gradients. Gradient: `softmax(x)·Σ_c z_c - z` per example. The labels
/// must have the logits' shape, compared at run time when the static shapes cannot tell (see
/// ``sigmoidCrossEntropy(logits:labels:reduction:file:line:)``).
/// - Throws: ``GraphCore/GraphError`` when the dtypes or shapes differ.
public func softmaxCrossEntropy(
  logits: Tensor, labels: Tensor, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try checkSameShape("SoftmaxCrossEntropy", logits, labels, file: file, line: line)
  return try logits.graph.withNameScope("softmax_cross_entropy_loss") {
    let labels = try sameShapeAtRunTime("SoftmaxCrossEntropy", labels, "labels", like: logits, "logits", file: file, line: line)
    let perExample = try -sum(labels * logSoftmax(logits, file: file, line: line), axes: [-1], file: file, line: line)
    return try reduce(perExample, reduction, file: file, line: line)
  }
}

/// Softmax cross-entropy with int32 class labels (`tf.losses.sparse_softmax_cross_entropy`):
/// for logits `x[..., C]` and labels `k[...]` in `0..<C`,
///
/// `ℓ = -log softmax(x)_k = log Σ_c e^(x_c) - x_k`,
///
/// one value per example, then reduced over the examples. Computed by GraphCore's fused, stable
/// primitive (finite for logits up to ±1e4 and beyond); a label outside `0..<C` is a run-time
/// ``GraphCore/SessionError`` naming it. Gradient: `softmax(x) - onehot(k)` per example.
/// - Throws: ``GraphCore/GraphError`` when the labels are not int32 or their shape is not the
///   logits' shape without the last axis.
public func sparseSoftmaxCrossEntropy(
  logits: Tensor, labels: Tensor, reduction: LossReduction = .mean,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try logits.graph.withNameScope("sparse_softmax_cross_entropy_loss") {
    let perExample = try sparseSoftmaxCrossEntropyWithLogits(logits: logits, labels: labels, file: file, line: line)
    return try reduce(perExample, reduction, file: file, line: line)
  }
}

/// An L2 weight penalty: `scale · Σ_w ½ Σᵢ wᵢ²`, that is `scale` times the sum of
/// `tf.nn.l2_loss(w)` over `weights`.
/// - Throws: ``GraphCore/GraphError`` when `weights` is empty, mixes graphs or dtypes, or
///   `scale` is negative or not finite (also in the weights' dtype).
public func l2Penalty(
  _ weights: [Tensor], scale: Double, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let location = SourceLocation(file, line)
  guard let first = weights.first else {
    throw GraphError.invalidArgument(op: "L2Penalty", reason: "no weights given", location: location)
  }
  guard scale >= 0, scale.isFinite else {
    throw GraphError.invalidArgument(op: "L2Penalty", reason: "scale must be non-negative and finite, got \(scale)", location: location)
  }
  // Eager values meet whatever eager graph holds them (a layer's variables, a tape's values).
  for w in weights where !w.canMeet(first) || w.dtype != first.dtype {
    throw GraphError.invalidArgument(
      op: "L2Penalty", reason: "weights must share one graph and dtype: '\(first.name)' \(first.dtype), '\(w.name)' \(w.dtype)",
      location: location)
  }
  try checkParameter(0.5 * scale, "scale / 2", in: first.dtype, positive: false, op: "L2Penalty", location: location)
  return try first.graph.withNameScope("l2_penalty") {
    var total = try sum(square(first, file: file, line: line), file: file, line: line)
    for w in weights.dropFirst() {
      total = try total + sum(square(w, file: file, line: line), file: file, line: line)
    }
    return try total * (0.5 * scale)
  }
}
