import ArrayCore
import GraphCore

/// A learning rate: a constant, or a schedule computed in the graph from the optimizer's step
/// counter. Every optimizer accepts either; a number literal is a constant.
///
/// ```swift
/// let adam = try AdamOptimizer(learningRate: 0.001)
/// let decayed = try AdamOptimizer(
///   learningRate: .schedule(.exponentialDecay(initial: 0.1, decaySteps: 100, decayRate: 0.5)))
/// ```
public enum LearningRate: Sendable, Hashable, ExpressibleByFloatLiteral {
  /// The same rate at every step.
  case constant(Double)
  /// A rate that depends on the step (see ``LearningRateSchedule``).
  case schedule(LearningRateSchedule)

  /// `0.01` is `.constant(0.01)`.
  public init(floatLiteral value: Double) { self = .constant(value) }

  /// The rate at `step` (the number of updates already made: 0 for the first update), computed
  /// in Swift: the same formula as the graph's.
  ///
  /// A step before 0 (training never passes one) is step 0: the rate of the first update, as
  /// PyTorch's schedulers give their initial rate before the first `step()`. The formulas
  /// themselves mean nothing there (an exponential decay grows, a warm-up goes below its
  /// start, even below 0).
  public func value(atStep step: Int) -> Double {
    switch self {
    case let .constant(c): c
    case let .schedule(s): s.value(atStep: Double(step))
    }
  }

  /// Checks a constant rate is finite and positive (schedules are checked when made).
  func validate(_ optimizer: String, file: StaticString, line: UInt) throws {
    if case let .constant(c) = self {
      try validateHyperparameter(c, "learning rate", of: optimizer, open: true, file: file, line: line)
    }
  }
}

/// A learning rate that changes with the step, evaluated in the graph from a step counter
/// (TF1's `tf.train.exponential_decay` and friends, Keras's `LearningRateSchedule`).
///
/// `step` is the number of updates already made when the rate is used (0 for the first
/// update), as TF1's `global_step` and Keras's `optimizer.iterations` before the increment.
/// Make one with ``exponentialDecay(initial:decaySteps:decayRate:staircase:file:line:)``,
/// ``piecewiseConstant(boundaries:values:file:line:)`` or
/// ``cosineDecay(initial:decaySteps:alpha:warmupSteps:warmupStart:file:line:)``.
public struct LearningRateSchedule: Sendable, Hashable, CustomStringConvertible {
  /// The formula (GraphCore's, so that GraphDef export and import can write and restore it).
  let kind: ScheduleFormula

  /// Exponential decay (`tf.train.exponential_decay`, Keras `ExponentialDecay`):
  ///
  /// `lr(step) = initial · decayRate^(step / decaySteps)`, with `⌊step / decaySteps⌋` as the
  /// exponent when `staircase` is set.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless `initial > 0`,
  ///   `decaySteps > 0` and `decayRate > 0`, all finite.
  public static func exponentialDecay(
    initial: Double, decaySteps: Int, decayRate: Double, staircase: Bool = false,
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> LearningRateSchedule {
    let op = "ExponentialDecay"
    try validateHyperparameter(initial, "initial learning rate", of: op, open: true, file: file, line: line)
    try validateHyperparameter(Double(decaySteps), "decaySteps", of: op, in: 1...Double.greatestFiniteMagnitude, file: file, line: line)
    try validateHyperparameter(decayRate, "decayRate", of: op, open: true, file: file, line: line)
    return LearningRateSchedule(kind: .exponential(initial: initial, decaySteps: decaySteps, decayRate: decayRate, staircase: staircase))
  }

  /// Piecewise constant (`tf.train.piecewise_constant`, Keras `PiecewiseConstantDecay`):
  ///
  /// `lr(step) = values[0]` for `step ≤ boundaries[0]`, `values[i]` for
  /// `boundaries[i-1] < step ≤ boundaries[i]`, and `values[n]` for `step > boundaries[n-1]`.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless the boundaries are
  ///   strictly increasing, there is one more value than boundaries, and every value is finite
  ///   and positive.
  public static func piecewiseConstant(
    boundaries: [Int], values: [Double], file: StaticString = #fileID, line: UInt = #line
  ) throws -> LearningRateSchedule {
    let op = "PiecewiseConstant"
    let loc = SourceLocation(file, line)
    guard values.count == boundaries.count + 1 else {
      throw GraphError.invalidArgument(
        op: op, reason: "needs one more value than boundaries, got \(values.count) values for \(boundaries.count) boundaries \(boundaries)",
        location: loc)
    }
    for (a, b) in zip(boundaries, boundaries.dropFirst()) where a >= b {
      throw GraphError.invalidArgument(op: op, reason: "boundaries must be strictly increasing, got \(boundaries)", location: loc)
    }
    for v in values { try validateHyperparameter(v, "learning rate value", of: op, open: true, file: file, line: line) }
    return LearningRateSchedule(kind: .piecewise(boundaries: boundaries, values: values))
  }

  /// Cosine decay with a linear warm-up (Loshchilov & Hutter 2017, "SGDR", without restarts;
  /// Keras 3 `CosineDecay` with `warmup_target = initial`, `initial_learning_rate = warmupStart`):
  ///
  /// - warm-up, `step < warmupSteps`: `lr = warmupStart + (initial - warmupStart) · step / warmupSteps`
  /// - then, with `s = min(step - warmupSteps, decaySteps)`:
  ///   `lr = initial · ((1 - alpha) · ½ (1 + cos(π s / decaySteps)) + alpha)`
  ///
  /// so the rate reaches `initial` at the end of the warm-up and `alpha · initial` after
  /// `decaySteps` more steps, where it stays.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless `initial > 0`,
  ///   `decaySteps > 0`, `0 ≤ alpha ≤ 1`, `warmupSteps ≥ 0`, `warmupStart ≥ 0`, all finite.
  public static func cosineDecay(
    initial: Double, decaySteps: Int, alpha: Double = 0, warmupSteps: Int = 0, warmupStart: Double = 0,
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> LearningRateSchedule {
    let op = "CosineDecay"
    try validateHyperparameter(initial, "initial learning rate", of: op, open: true, file: file, line: line)
    try validateHyperparameter(Double(decaySteps), "decaySteps", of: op, in: 1...Double.greatestFiniteMagnitude, file: file, line: line)
    try validateHyperparameter(alpha, "alpha", of: op, in: 0...1, file: file, line: line)
    try validateHyperparameter(Double(warmupSteps), "warmupSteps", of: op, file: file, line: line)
    try validateHyperparameter(warmupStart, "warmupStart", of: op, file: file, line: line)
    return LearningRateSchedule(
      kind: .cosine(initial: initial, decaySteps: decaySteps, alpha: alpha, warmupSteps: warmupSteps, warmupStart: warmupStart))
  }

  /// The rate at `step`, computed in Swift: the formula the graph's kernel computes from an
  /// optimizer's step counter, which starts at 0.
  ///
  /// A step before 0 (`-1`, `-0.5`, `-∞`) is step 0: the rate of the first update, as
  /// PyTorch's schedulers give their initial rate before the first `step()`. The formulas
  /// themselves mean nothing there (an exponential decay grows, a warm-up goes below its
  /// start, even below 0). A NaN step gives NaN.
  public func value(atStep step: Double) -> Double {
    if step.isNaN { return .nan }
    return kind.value(atStep: Swift.max(step, 0))
  }

  /// The rate as a graph tensor: a ``ScheduledLearningRate`` operation reading `step` (a
  /// float64 scalar, such as an optimizer's step counter); the result is a float64 scalar.
  /// - Throws: ``GraphError`` when `step` is not a float64 scalar.
  public func learningRate(atStep step: Tensor, name: String = "learning_rate", file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
    try step.graph.apply(ScheduledLearningRate(schedule: self), step, name: name, location: SourceLocation(file, line))
  }

  /// `ExponentialDecay(initial: 0.1, decaySteps: 100, decayRate: 0.5, staircase: false)`.
  public var description: String {
    switch kind {
    case let .exponential(i, s, r, st): "ExponentialDecay(initial: \(i), decaySteps: \(s), decayRate: \(r), staircase: \(st))"
    case let .piecewise(b, v): "PiecewiseConstant(boundaries: \(b), values: \(v))"
    case let .cosine(i, s, a, w, ws): "CosineDecay(initial: \(i), decaySteps: \(s), alpha: \(a), warmupSteps: \(w), warmupStart: \(ws))"
    }
  }
}

extension ScheduledLearningRate {
  /// The primitive of `schedule`.
  package init(schedule: LearningRateSchedule) { self.init(formula: schedule.kind) }
}
