import ArrayCore

// The update rules of TF1's optimizers, written once: Training's optimizers (`minimize`) and the
// GraphDef importer (which rebuilds a TF1 training graph's `ApplyGradientDescent`,
// `ApplyMomentum` and `ApplyAdam` updates) both build them here, so an imported train op and
// Backprop's optimizer of the same kind give the same bits. The hyper-parameters come in as
// tensors or numbers already in the variable's dtype, as each caller prepares them.

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
