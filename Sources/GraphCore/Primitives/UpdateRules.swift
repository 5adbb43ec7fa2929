import ArrayCore

// The update rules of TF1's optimizers, written once: Training's optimizers (`minimize`) and the
// GraphDef importer (which rebuilds a TF1 training graph's `ApplyGradientDescent`,
// `ApplyMomentum`, `ApplyAdam`, `ApplyAdagrad` and `Apply[Centered]RMSProp` updates) both build
// them here, so an imported train op and Backprop's optimizer of the same kind give the same
// bits. The hyper-parameters come in as tensors or numbers already in the variable's dtype, as
// each caller prepares them.

/// Gradient descent's update, `v ← v − g·η` (in place).
package func gradientDescentUpdate(_ variable: Tensor, gradient: Tensor, learningRate: Tensor) throws -> Operation {
  try assignSubtract(variable, gradient * learningRate, name: "update")
}

/// Momentum's updates (TF1's `MomentumOptimizer`):
///
/// ```
/// a ← μ·a + g
/// v ← v − η·a                    (or, with Nesterov, v ← v − η·(g + μ·a))
/// ```
package func momentumUpdate(
  _ variable: Tensor, accumulator: Tensor, gradient: Tensor, learningRate: Tensor, momentum: Double, nesterov: Bool
) throws -> [Operation] {
  let newAccumulator = try accumulator * momentum + gradient
  let assigned = try assign(accumulator, newAccumulator, name: "accumulator")
  let step = nesterov ? try learningRate * (gradient + newAccumulator * momentum) : try newAccumulator * learningRate
  return [assigned.operation, try assignSubtract(variable, step, name: "update")]
}

/// Adam's step size `η_t = η·√(1 − β₂ᵗ) / (1 − β₁ᵗ)`, from a float64 learning rate and the
/// float64 powers `β₁ᵗ`, `β₂ᵗ` of the step being taken, computed in float64 and cast once to
/// `dtype` (TF1's `AdamOptimizer`).
package func adamStepSize(learningRate: Tensor, beta1Power: Tensor, beta2Power: Tensor, dtype: DType) throws -> Tensor {
  let size = try learningRate * sqrt(1.0 - beta2Power) / (1.0 - beta1Power)
  return dtype == .float64 ? size : try cast(size, to: dtype)
}

/// Adagrad's updates (TF1's `AdagradOptimizer`, no epsilon):
///
/// ```
/// s ← s + g²
/// v ← v − η·g / √s
/// ```
package func adagradUpdate(_ variable: Tensor, accumulator: Tensor, gradient: Tensor, learningRate: Tensor) throws -> [Operation] {
  let newAccumulator = try accumulator + square(gradient)
  let assigned = try assign(accumulator, newAccumulator, name: "accumulator")
  let step = try (learningRate * gradient) / sqrt(newAccumulator)
  return [assigned.operation, try assignSubtract(variable, step, name: "update")]
}

/// RMSProp's updates (TF1's `RMSPropOptimizer`: ε inside the square root, the learning rate
/// inside the momentum accumulator), `meanGradient` for the centered form:
///
/// ```
/// ms  ← ρ·ms + (1 − ρ)·g²
/// mg  ← ρ·mg + (1 − ρ)·g                       (centered only)
/// d   = ms − mg² + ε   (centered)   or   ms + ε    (plain)
/// mom ← μ·mom + η·g / √d
/// v   ← v − mom
/// ```
package func rmsPropUpdate(
  _ variable: Tensor, meanSquare: Tensor, meanGradient: Tensor?, momentumAccumulator: Tensor, gradient: Tensor,
  learningRate: Tensor, decay: Double, momentum: Double, epsilon: Double
) throws -> [Operation] {
  var ops: [Operation] = []
  let newMeanSquare = try meanSquare * decay + square(gradient) * (1 - decay)
  ops.append(try assign(meanSquare, newMeanSquare, name: "mean_square").operation)
  let denominator: Tensor
  if let meanGradient {
    let newMeanGradient = try meanGradient * decay + gradient * (1 - decay)
    ops.append(try assign(meanGradient, newMeanGradient, name: "mean_gradient").operation)
    denominator = try newMeanSquare - square(newMeanGradient) + epsilon
  } else {
    denominator = try newMeanSquare + epsilon
  }
  let newMomentum = try momentumAccumulator * momentum + (learningRate * gradient) / sqrt(denominator)
  ops.append(try assign(momentumAccumulator, newMomentum, name: "momentum").operation)
  ops.append(try assignSubtract(variable, newMomentum, name: "update"))
  return ops
}
