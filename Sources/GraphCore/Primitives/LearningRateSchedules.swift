import ArrayCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The formula of a learning-rate schedule. Training's `LearningRateSchedule` checks the
/// parameters and makes one; it lives here, beside the other training primitives, so that the
/// GraphDef exporter and importer can write and restore ``ScheduledLearningRate``.
package enum ScheduleFormula: Sendable, Hashable {
  /// `initial · decayRate^(step / decaySteps)` (the exponent floored when `staircase`).
  case exponential(initial: Double, decaySteps: Int, decayRate: Double, staircase: Bool)
  /// `values[i]` for `boundaries[i-1] < step ≤ boundaries[i]` (`values[0]` up to the first
  /// boundary, the last value after the last).
  case piecewise(boundaries: [Int], values: [Double])
  /// A linear warm-up from `warmupStart` to `initial` over `warmupSteps`, then
  /// `initial · ((1 - alpha) · ½ (1 + cos(π s / decaySteps)) + alpha)` with
  /// `s = min(step - warmupSteps, decaySteps)`.
  case cosine(initial: Double, decaySteps: Int, alpha: Double, warmupSteps: Int, warmupStart: Double)

  /// The rate at `step` (Swift's arithmetic and the C library's `pow` and `cos`).
  package func value(atStep step: Double) -> Double {
    switch self {
    case let .exponential(initial, decaySteps, decayRate, staircase):
      var p = step / Double(decaySteps)
      if staircase { p = p.rounded(.down) }
      return initial * pow(decayRate, p)
    case let .piecewise(boundaries, values):
      for (i, b) in boundaries.enumerated() where step <= Double(b) { return values[i] }
      return values[values.count - 1]
    case let .cosine(initial, decaySteps, alpha, warmupSteps, warmupStart):
      if step < Double(warmupSteps) {
        return warmupStart + (initial - warmupStart) * (step / Double(warmupSteps))
      }
      let s = Swift.min(step - Double(warmupSteps), Double(decaySteps))
      let cosine = 0.5 * (1 + cos(Double.pi * s / Double(decaySteps)))
      return initial * ((1 - alpha) * cosine + alpha)
    }
  }

  /// `ExponentialDecay`, `PiecewiseConstant` or `CosineDecay`.
  package var typeName: String {
    switch self {
    case .exponential: "ExponentialDecay"
    case .piecewise: "PiecewiseConstant"
    case .cosine: "CosineDecay"
    }
  }

  /// The parameters as numbers, in the order ``init(typeName:parameters:)`` reads them (the
  /// GraphDef exporter's `_backprop_schedule` attribute): `[initial, decaySteps, decayRate,
  /// staircase ? 1 : 0]`, `[boundaries..., values...]`, `[initial, decaySteps, alpha,
  /// warmupSteps, warmupStart]`.
  package var parameters: [Double] {
    switch self {
    case let .exponential(i, s, r, st): [i, Double(s), r, st ? 1 : 0]
    case let .piecewise(b, v): b.map(Double.init) + v
    case let .cosine(i, s, a, w, ws): [i, Double(s), a, Double(w), ws]
    }
  }

  /// The formula a GraphDef recorded, or `nil` when the parameters are not ones the builders
  /// accept (a count that does not fit, a step count that is not a whole number from 1 (0 for
  /// a warm-up) to 2⁵³, a rate that is not finite and positive, boundaries out of order).
  package init?(typeName: String, parameters p: [Double]) {
    func steps(_ x: Double, from low: Double) -> Int? {
      x.isFinite && x.rounded() == x && x >= low && x <= 9_007_199_254_740_992 ? Int(x) : nil
    }
    func rate(_ x: Double) -> Bool { x.isFinite && x > 0 }
    switch typeName {
    case "ExponentialDecay":
      guard p.count == 4, rate(p[0]), let s = steps(p[1], from: 1), rate(p[2]), p[3] == 0 || p[3] == 1 else { return nil }
      self = .exponential(initial: p[0], decaySteps: s, decayRate: p[2], staircase: p[3] == 1)
    case "PiecewiseConstant":
      guard p.count % 2 == 1 else { return nil }
      let n = p.count / 2
      var boundaries: [Int] = []
      for x in p[..<n] {
        guard x.isFinite, x.rounded() == x, Swift.abs(x) <= 9_007_199_254_740_992, boundaries.last.map({ Double($0) < x }) ?? true else {
          return nil
        }
        boundaries.append(Int(x))
      }
      let values = Array(p[n...])
      guard values.allSatisfy(rate) else { return nil }
      self = .piecewise(boundaries: boundaries, values: values)
    case "CosineDecay":
      guard p.count == 5, rate(p[0]), let s = steps(p[1], from: 1), p[2].isFinite, p[2] >= 0, p[2] <= 1,
        let w = steps(p[3], from: 0), p[4].isFinite, p[4] >= 0
      else { return nil }
      self = .cosine(initial: p[0], decaySteps: s, alpha: p[2], warmupSteps: w, warmupStart: p[4])
    default: return nil
    }
  }
}

/// The learning rate of a schedule at the step its input holds (a float64 scalar in, a float64
/// scalar out). Its value does not depend on anything differentiable: no gradient.
package struct ScheduledLearningRate: Primitive, Equatable {
  /// The schedule's formula.
  package let formula: ScheduleFormula
  /// The primitive for `formula`.
  package init(formula: ScheduleFormula) { self.formula = formula }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `ExponentialDecay`, `PiecewiseConstant` or `CosineDecay`.
  package var typeName: String { formula.typeName }
  /// A float64 scalar from a float64 scalar.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs.count == 1, inputs[0].dtype == .float64, inputs[0].shape.rank == 0 else {
      throw ShapeError("the step must be a float64 scalar, got \(inputs.first.map { "\($0.dtype) \($0.shape)" } ?? "nothing")")
    }
    return [TensorInfo(dtype: .float64, shape: [])]
  }
  /// Evaluates the schedule at the step.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = NDArray(scalar: formula.value(atStep: inputs[0].scalarValue))
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}
