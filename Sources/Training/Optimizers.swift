import ArrayCore
import GraphCore

// The update rules below are written as graph operations: each new slot value is computed as a
// tensor from the values read at the start of the step, then assigned; the variable is updated
// in place with `assignSubtract`. Symbols: `v` the variable, `g = ∂loss/∂v`, `η` the learning
// rate (constant or scheduled), `t` the step number counted from 1.

/// Gradient descent with momentum (Polyak 1964, "Some methods of speeding up the convergence of
/// iteration methods"; Nesterov variant as in Sutskever et al. 2013, "On the importance of
/// initialization and momentum in deep learning"). Follows TF1's
/// `tf.train.MomentumOptimizer` conventions (the learning rate multiplies the accumulator, not
/// the gradient):
///
/// ```
/// a ← μ · a + g
/// v ← v - η · a                 (plain)
/// v ← v - η · (g + μ · a)       (Nesterov, with the new a)
/// ```
///
/// Slot: the accumulator `a` (`<var>/Momentum`), starting at zero.
public struct MomentumOptimizer: Optimizer {
  /// The learning rate `η`.
  public let learningRate: LearningRate
  /// The momentum `μ`, in `[0, 1)`.
  public let momentum: Double
  /// Whether to use Nesterov momentum.
  public let useNesterov: Bool
  /// The name (`Momentum`).
  public let name: String

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` is finite and > 0 and `momentum` is in `[0, 1)` (at 1 the accumulator
  ///   never forgets and the steps grow without bound).
  public init(
    learningRate: LearningRate, momentum: Double, useNesterov: Bool = false, name: String = "Momentum",
    file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try learningRate.validate("Momentum", file: file, line: line)
    try validateHyperparameter(momentum, "momentum", of: "Momentum", in: 0...1, openAbove: true, file: file, line: line)
    self.learningRate = learningRate
    self.momentum = momentum
    self.useNesterov = useNesterov
    self.name = name
  }

  /// Builds the updates (see the type's formulas), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    try applySlotUpdates(
      pairs, name: name, location: location, countsSteps: learningRate.isScheduled,
      slots: { state, v in [try state.slot(for: v)] }
    ) { state, pair, slots in
      try momentumUpdate(
        pair.variable, accumulator: slots[0], gradient: pair.gradient,
        learningRate: state.learningRate(learningRate, dtype: pair.variable.dtype), momentum: momentum, nesterov: useNesterov)
    }
  }
}

/// Adagrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning and
/// Stochastic Optimization"). Follows TF1's `tf.train.AdagradOptimizer`: the accumulator starts
/// at `initialAccumulatorValue` (0.1) and there is no epsilon:
///
/// ```
/// s ← s + g²
/// v ← v - η · g / √s
/// ```
///
/// Slot: the accumulator `s` (`<var>/Adagrad`).
public struct AdagradOptimizer: Optimizer {
  /// The learning rate `η`.
  public let learningRate: LearningRate
  /// The accumulator's starting value, > 0 (TF1: 0.1).
  public let initialAccumulatorValue: Double
  /// The name (`Adagrad`).
  public let name: String

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` and `initialAccumulatorValue` are finite and > 0.
  public init(
    learningRate: LearningRate, initialAccumulatorValue: Double = 0.1, name: String = "Adagrad",
    file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try learningRate.validate("Adagrad", file: file, line: line)
    try validateHyperparameter(initialAccumulatorValue, "initialAccumulatorValue", of: "Adagrad", open: true, file: file, line: line)
    self.learningRate = learningRate
    self.initialAccumulatorValue = initialAccumulatorValue
    self.name = name
  }

  /// Builds the updates (see the type's formulas), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    try applySlotUpdates(
      pairs, name: name, location: location, countsSteps: learningRate.isScheduled,
      slots: { state, v in [try state.slot(for: v, initialValue: initialAccumulatorValue)] }
    ) { state, pair, slots in
      try state.checkPositive(initialAccumulatorValue, "initialAccumulatorValue", in: pair.variable.dtype)
      return try adagradUpdate(
        pair.variable, accumulator: slots[0], gradient: pair.gradient, learningRate: state.learningRate(learningRate, dtype: pair.variable.dtype))
    }
  }
}

/// RMSProp (Hinton, Srivastava & Swersky 2012, "Neural Networks for Machine Learning", lecture
/// 6e; centered variant from Graves 2013, "Generating Sequences With Recurrent Neural
/// Networks"). Follows TF1's `tf.train.RMSPropOptimizer`: **epsilon inside the square root**,
/// the mean square **starts at 1**, and the learning rate is applied inside the momentum
/// accumulator (Keras and PyTorch differ on all three):
///
/// ```
/// ms  ← ρ · ms + (1 - ρ) · g²
/// mg  ← ρ · mg + (1 - ρ) · g                       (centered only)
/// d   = ms - mg² + ε   (centered)   or   ms + ε    (plain)
/// mom ← μ · mom + η · g / √d
/// v   ← v - mom
/// ```
///
/// Slots, in TF1's order: `ms` (`<var>/RMSProp`, starting at 1), `mg` (centered only, zero),
/// `mom` (zero).
public struct RMSPropOptimizer: Optimizer {
  /// The learning rate `η`.
  public let learningRate: LearningRate
  /// The decay `ρ` of the moving averages, in `[0, 1)` (TF1: 0.9).
  public let decay: Double
  /// The momentum `μ`, in `[0, 1)` (TF1: 0).
  public let momentum: Double
  /// `ε > 0`, added inside the square root (TF1: 1e-10).
  public let epsilon: Double
  /// Whether to normalize by the estimated variance `ms - mg²` instead of `ms`.
  public let centered: Bool
  /// The name (`RMSProp`).
  public let name: String

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` is finite and > 0, `decay` and `momentum` are in `[0, 1)` (as Adam's
  ///   betas: at 1 the moving averages never move) and `epsilon > 0`.
  public init(
    learningRate: LearningRate, decay: Double = 0.9, momentum: Double = 0, epsilon: Double = 1e-10,
    centered: Bool = false, name: String = "RMSProp", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try learningRate.validate("RMSProp", file: file, line: line)
    try validateHyperparameter(decay, "decay", of: "RMSProp", in: 0...1, openAbove: true, file: file, line: line)
    try validateHyperparameter(momentum, "momentum", of: "RMSProp", in: 0...1, openAbove: true, file: file, line: line)
    try validateHyperparameter(epsilon, "epsilon", of: "RMSProp", open: true, file: file, line: line)
    self.learningRate = learningRate
    self.decay = decay
    self.momentum = momentum
    self.epsilon = epsilon
    self.centered = centered
    self.name = name
  }

  /// Builds the updates (see the type's formulas), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    try applySlotUpdates(
      pairs, name: name, location: location, countsSteps: learningRate.isScheduled,
      slots: { state, v in
        centered
          ? [try state.slot(for: v, initialValue: 1), try state.slot(for: v, index: 1), try state.slot(for: v, index: 2)]
          : [try state.slot(for: v, initialValue: 1), try state.slot(for: v, index: 1)]
      }
    ) { state, pair, slots in
      try state.checkPositive(epsilon, "epsilon", in: pair.variable.dtype)
      return try rmsPropUpdate(
        pair.variable, meanSquare: slots[0], meanGradient: centered ? slots[1] : nil, momentumAccumulator: slots[slots.count - 1],
        gradient: pair.gradient, learningRate: state.learningRate(learningRate, dtype: pair.variable.dtype), decay: decay,
        momentum: momentum, epsilon: epsilon)
    }
  }
}

/// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"). Follows TF1's
/// `tf.train.AdamOptimizer` (and Keras 3's `Adam`): the bias corrections are folded into the
/// step size and **ε is "epsilon hat"**, added to `√v` outside the bias correction (the
/// formulation just before section 2.1 of the paper), so the effective epsilon is
/// `ε̂ = ε·√(1-β₂ᵗ)` in the paper's algorithm-1 terms. PyTorch adds ε to `√v̂` instead.
///
/// ```
/// t   ← t + 1
/// η_t = η · √(1 - β₂ᵗ) / (1 - β₁ᵗ)
/// m   ← β₁ · m + (1 - β₁) · g
/// s   ← β₂ · s + (1 - β₂) · g²
/// v   ← v - η_t · m / (√s + ε)
/// ```
///
/// Slots: `m` (`<var>/Adam`) and `s` (`<var>/Adam_1`), starting at zero; the step counter
/// `Adam/iterations` holds `t - 1` before the step (TF1 keeps `β₁ᵗ`, `β₂ᵗ` instead).
public struct AdamOptimizer: Optimizer {
  /// The learning rate `η` (TF1: 0.001).
  public let learningRate: LearningRate
  /// `β₁`, the decay of the first moment, in `[0, 1)` (0.9).
  public let beta1: Double
  /// `β₂`, the decay of the second moment, in `[0, 1)` (0.999).
  public let beta2: Double
  /// `ε > 0`, added to `√s` (1e-8).
  public let epsilon: Double
  /// The name (`Adam`).
  public let name: String

  /// Creates the optimizer with TF1's defaults.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` is finite and > 0, `β₁` and `β₂` are in `[0, 1)` and `ε > 0`.
  public init(
    learningRate: LearningRate = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
    name: String = "Adam", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try validateAdam("Adam", learningRate, beta1, beta2, epsilon, file, line)
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.name = name
  }

  /// Builds the updates (see the type's formulas), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    try applyAdam(self, pairs, name: name, location: location, learningRate, beta1, beta2, epsilon, weightDecay: 0)
  }
}

/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
/// Regularization"). Follows Keras 3's `AdamW` (and PyTorch's `torch.optim.AdamW` for the
/// decay): the decay **is multiplied by the learning rate** `η` (scheduled value included) and
/// applied to the variable's value from before the step, then the Adam step follows, with
/// ``AdamOptimizer``'s TF1/Keras epsilon-hat convention:
///
/// ```
/// v ← v - η · λ · v
/// v ← v - η_t · m / (√s + ε)     (m, s, η_t as in AdamOptimizer)
/// ```
///
/// Every variable passed is decayed, biases included; pass `variables:` to
/// ``minimize(_:variables:name:file:line:)`` to decay fewer. Slots: `<var>/AdamW`,
/// `<var>/AdamW_1`.
public struct AdamWOptimizer: Optimizer {
  /// The learning rate `η` (0.001).
  public let learningRate: LearningRate
  /// The decoupled weight decay `λ ≥ 0` (0.01, PyTorch's default).
  public let weightDecay: Double
  /// `β₁` (0.9).
  public let beta1: Double
  /// `β₂` (0.999).
  public let beta2: Double
  /// `ε` (1e-8).
  public let epsilon: Double
  /// The name (`AdamW`).
  public let name: String

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` is finite and > 0, `weightDecay ≥ 0`, `β₁` and `β₂` are in `[0, 1)` and `ε > 0`.
  public init(
    learningRate: LearningRate = 0.001, weightDecay: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.999,
    epsilon: Double = 1e-8, name: String = "AdamW", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try validateAdam("AdamW", learningRate, beta1, beta2, epsilon, file, line)
    try validateHyperparameter(weightDecay, "weightDecay", of: "AdamW", file: file, line: line)
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.name = name
  }

  /// Builds the updates (see the type's formulas), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    try applyAdam(self, pairs, name: name, location: location, learningRate, beta1, beta2, epsilon, weightDecay: weightDecay)
  }
}

extension LearningRate {
  var isScheduled: Bool {
    if case .schedule = self { return true }
    return false
  }
}

private func validateAdam(
  _ op: String, _ lr: LearningRate, _ beta1: Double, _ beta2: Double, _ epsilon: Double, _ file: StaticString, _ line: UInt
) throws {
  try lr.validate(op, file: file, line: line)
  try validateHyperparameter(beta1, "beta1", of: op, in: 0...1, openAbove: true, file: file, line: line)
  try validateHyperparameter(beta2, "beta2", of: op, in: 0...1, openAbove: true, file: file, line: line)
  try validateHyperparameter(epsilon, "epsilon", of: op, open: true, file: file, line: line)
}

/// Adam's and AdamW's update (see ``AdamOptimizer`` and ``AdamWOptimizer``).
private func applyAdam(
  _ optimizer: some Optimizer, _ pairs: [GradientAndVariable], name: String, location: SourceLocation,
  _ learningRate: LearningRate, _ beta1: Double, _ beta2: Double, _ epsilon: Double, weightDecay: Double
) throws -> Operation {
  try optimizer.applySlotUpdates(
    pairs, name: name, location: location, countsSteps: true,
    slots: { state, v in [try state.slot(for: v), try state.slot(for: v, index: 1)] }
  ) { state, pair, slots in
    let g = pair.gradient, v = pair.variable, m = slots[0], s = slots[1]
    let dtype = v.dtype
    try state.checkLearningRate(learningRate, in: dtype)
    try state.checkPositive(epsilon, "epsilon", in: dtype)
    // η_t = η √(1-β₂ᵗ) / (1-β₁ᵗ), in float64, then cast once per dtype.
    let stepSize = try state.cached("adam_step_size/\(dtype)") {
      try adamStepSize(
        learningRate: state.learningRate(learningRate, dtype: .float64), beta1Power: state.powerOfNextStep(beta1, name: "beta1_power"),
        beta2Power: state.powerOfNextStep(beta2, name: "beta2_power"), dtype: dtype)
    }
    // One fused pass: m ← m·β₁ + g·(1−β₁), s ← s·β₂ + g²·(1−β₂), x ← x − x·λ (AdamW),
    // x ← x − ηₜ·m / (√s + ε), the same operations in the same order as separate ops.
    let decay = weightDecay > 0 ? try state.learningRate(learningRate, dtype: dtype) * weightDecay : nil
    return [
      try applyAdam(
        v, m: m, v: s, gradient: g, stepSize: stepSize, decay: decay, beta1: beta1, beta2: beta2, epsilon: epsilon,
        name: "update")
    ]
  }
}
