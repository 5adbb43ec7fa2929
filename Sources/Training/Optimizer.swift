import ArrayCore
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import GraphCore

/// A gradient paired with the variable it updates (TF1's `(gradient, variable)` tuples).
public struct GradientAndVariable: Sendable {
  /// `∂loss/∂variable`.
  public var gradient: Tensor
  /// The variable.
  public var variable: Tensor
  /// Pairs a gradient with its variable.
  public init(gradient: Tensor, variable: Tensor) {
    self.gradient = gradient
    self.variable = variable
  }
}

/// A graph-building optimizer (TF1's `tf.train.Optimizer`): ``minimize(_:variables:name:file:line:)``
/// adds the gradient operations and the update operations to the graph and returns one training
/// operation to run once per step.
///
/// Conforming types implement ``applyGradients(_:name:location:)``; computing the gradients and
/// minimizing come with the protocol.
public protocol Optimizer {
  /// The optimizer's name (TF1's `name`): the suffix of its slot variables (`A/Adam`) and
  /// the scope of its step counter (`Adam/iterations`).
  var name: String { get }

  /// Adds operations that update each variable from its gradient and returns one operation
  /// that runs them all. The built-in optimizers' operation also runs the graph's
  /// `GraphCore/Graph/updateOperations` registered so far (batch normalization's moving
  /// averages), as ``minimize(_:variables:name:file:line:)`` does, so gradients clipped between
  /// ``computeGradients(_:variables:file:line:)`` and this call train a model as `minimize` would
  /// (TF1's `apply_gradients` needed `tf.control_dependencies(UPDATE_OPS)` for this).
  func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation
}

extension Optimizer {
  /// `∂loss/∂v` for each variable (the graph's trainable variables by default), skipping
  /// variables the loss does not depend on (TF1's `compute_gradients`).
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` when no variable affects the loss.
  public func computeGradients(
    _ loss: Tensor, variables: [Tensor]? = nil, file: StaticString = #fileID, line: UInt = #line
  ) throws -> [GradientAndVariable] {
    let location = SourceLocation(file, line)
    let vars = variables ?? loss.graph.trainableVariables
    for v in vars where !v.isVariable {
      throw GraphError.notAVariable(op: "minimize", tensor: v.name, location: location)
    }
    let grads = try gradients(of: [loss], withRespectTo: vars, file: file, line: line)
    let pairs = zip(grads, vars).compactMap { g, v in g.map { GradientAndVariable(gradient: $0, variable: v) } }
    guard !pairs.isEmpty else {
      throw GraphError.invalidArgument(
        op: "minimize",
        reason: "no gradients: the loss '\(loss.name)' depends on none of the variables \(vars.map(\.name))",
        location: location)
    }
    return pairs
  }

  /// Adds gradient and update operations that decrease `loss`, and returns the training
  /// operation (TF1's `optimizer.minimize(loss, var_list=...)` =
  /// `apply_gradients(compute_gradients(loss))`).
  ///
  /// When the graph has `Graph.updateOperations` (the moving averages of batch
  /// normalization), the returned operation also runs them: it groups the optimizer's update
  /// (named `name`) and those operations as `<name>_with_updates` (TF1's
  /// `with tf.control_dependencies(tf.get_collection(UPDATE_OPS))`).
  /// - Parameter variables: the variables to update; the trainable variables by default.
  public func minimize(
    _ loss: Tensor, variables: [Tensor]? = nil, name: String = "train", file: StaticString = #fileID,
    line: UInt = #line
  ) throws -> Operation {
    let pairs = try computeGradients(loss, variables: variables, file: file, line: line)
    let apply = try applyGradients(pairs, name: name, location: SourceLocation(file, line))
    let updates = loss.graph.updateOperations
    guard !updates.isEmpty else { return apply }
    return try loss.graph.group([apply] + updates, name: "\(name)_with_updates", file: file, line: line)
  }
}

/// Checks a hyper-parameter: finite and within `range` (excluding the lower bound when `open`,
/// the upper bound when `openAbove`).
/// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` naming the optimizer, the
///   parameter and the value: `[Adam] beta1 must be a finite number >= 0.0 and < 1.0, got 1.5`.
public func validateHyperparameter(
  _ value: Double, _ name: String, of optimizer: String, in range: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude,
  open: Bool = false, openAbove: Bool = false, file: StaticString = #fileID, line: UInt = #line
) throws {
  guard value.isFinite, range.contains(value), !(open && value == range.lowerBound),
    !(openAbove && value == range.upperBound)
  else {
    let upper = range.upperBound < .greatestFiniteMagnitude ? " and \(openAbove ? "<" : "<=") \(range.upperBound)" : ""
    throw GraphError.invalidArgument(
      op: optimizer, reason: "\(name) must be a finite number \(open ? ">" : ">=") \(range.lowerBound)\(upper), got \(value)",
      location: SourceLocation(file, line))
  }
}

/// What an optimizer builds while it applies gradients: its slot variables, its step counter and
/// its learning-rate tensors. Exposed so new optimizers can be written outside the module.
///
/// Slot variables follow TF1's naming: the `k`-th slot of variable `A` for an optimizer named
/// `Adam` is `A/Adam` (k = 0), `A/Adam_1`, `A/Adam_2`...; they are non-trainable and start at
/// zero (or a given constant) with the variable's shape and dtype. The step counter is the
/// non-trainable float64 scalar `<name>/iterations`, starting at 0 and incremented once per
/// training step (Keras's `optimizer.iterations`).
///
/// Create slots and the counter **before** entering the update's name scope, and build each
/// update from values read at the start of the step: every read of a variable within one
/// session run sees its value from before the run's assignments (variables are read where they
/// were created, before any update), so compute new values as tensors and assign them.
public final class OptimizerState {
  /// The graph.
  public let graph: Graph
  /// The optimizer's name (the slot suffix).
  public let optimizerName: String
  /// The location recorded for the operations built.
  public let location: SourceLocation
  private var counter: Tensor?
  private var cache: [String: Tensor] = [:]

  /// Creates the state for one `applyGradients` call.
  public init(graph: Graph, optimizerName: String, location: SourceLocation) {
    self.graph = graph
    self.optimizerName = optimizerName
    self.location = location
  }

  /// Slot `index` of `variable` (`<var>/<Optimizer>` or `<var>/<Optimizer>_<index>`), a new
  /// non-trainable variable of the same shape and dtype filled with `initialValue`.
  /// - Throws: ``GraphError/notAVariable(op:tensor:location:)`` when `variable` is not a variable,
  ///   ``GraphError/foreignTensor(op:tensor:location:)`` when it belongs to another graph.
  public func slot(for variable: Tensor, index: Int = 0, initialValue: Double = 0) throws -> Tensor {
    try graph.check(variable, op: optimizerName, location: location)
    guard variable.isVariable, let shape = variable.shape.concrete else {
      throw GraphError.notAVariable(op: optimizerName, tensor: variable.name, location: location)
    }
    let base = "\(variable.operation.name)/\(optimizerName)" + (index == 0 ? "" : "_\(index)")
    return try graph.variable(
      NDArray(repeating: initialValue, shape: shape, dtype: variable.dtype), trainable: false, name: base)
  }

  /// The step counter `<name>/iterations` (float64 scalar, the number of updates already made),
  /// created on first use.
  public func stepCounter() throws -> Tensor {
    if let counter { return counter }
    let c = try graph.variable(
      NDArray(scalar: 0, dtype: .float64), trainable: false, name: "\(optimizerName)/iterations")
    counter = c
    return c
  }

  /// The operation `iterations ← iterations + 1`, or `nil` when no counter was created.
  public func incrementStepCounter() throws -> Operation? {
    guard let counter else { return nil }
    return try assignAdd(counter, graph.constant(1, dtype: .float64, name: "one"), name: "increment_iterations")
  }

  /// A tensor built once per key and reused (e.g. one learning-rate tensor per dtype).
  public func cached(_ key: String, _ build: () throws -> Tensor) rethrows -> Tensor {
    if let t = cache[key] { return t }
    let t = try build()
    cache[key] = t
    return t
  }

  /// The learning rate as a scalar tensor of `dtype`: a constant, or the schedule evaluated at
  /// the step counter (computed in float64, then cast).
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` when a constant rate is 0 or
  ///   not finite in `dtype` (`1e-50` or `1e300` in float32: no step, or infinite steps).
  public func learningRate(_ rate: LearningRate, dtype: DType) throws -> Tensor {
    try cached("learning_rate/\(dtype)") {
      switch rate {
      case let .constant(c):
        try checkLearningRate(rate, in: dtype)
        return graph.constant(c, dtype: dtype, name: "learning_rate")
      case let .schedule(s):
        let lr = try cached("learning_rate/schedule") { try s.learningRate(atStep: stepCounter()) }
        return dtype == .float64 ? lr : try cast(lr, to: dtype, name: "learning_rate/cast")
      }
    }
  }

  /// Refuses a constant learning rate that is 0 or not finite once stored in `dtype` (the
  /// variables' dtype): `1e-50` or `1e300` in float32 would train without a step, or to infinity.
  func checkLearningRate(_ rate: LearningRate, in dtype: DType) throws {
    guard case let .constant(c) = rate else { return }
    try checkPositive(c, "learning rate", in: dtype)
  }

  /// Refuses a hyper-parameter that must be > 0 (a learning rate, an epsilon, an initial
  /// accumulator) but is 0 or not finite once stored in `dtype`: `1e-50` is 0 in float32.
  func checkPositive(_ value: Double, _ parameter: String, in dtype: DType) throws {
    let stored = NDArray(scalar: value, dtype: dtype).doubles[0]
    guard stored.isFinite, stored > 0 else {
      throw GraphError.invalidArgument(
        op: optimizerName,
        reason: "\(parameter) \(value) is \(stored) in \(dtype), the variables' dtype (it must be finite and > 0 there)",
        location: location)
    }
  }

  /// `base^(iterations + 1)` as a float64 scalar (Adam's `β^t`), computed with the C library's
  /// `pow` (as NumPy does).
  public func powerOfNextStep(_ base: Double, name: String) throws -> Tensor {
    try cached("power/\(base)") {
      let t = try stepCounter() + 1.0
      return try graph.apply(StepPower(base: base), t, name: name, location: location)
    }
  }
}

extension Optimizer {
  /// The step counter this optimizer created in `graph` (`<name>/iterations`), if any: it
  /// exists once ``minimize(_:variables:name:file:line:)`` was called with a schedule or an
  /// optimizer that counts steps (Adam, AdamW).
  public func stepCounter(in graph: Graph) -> Tensor? {
    graph.variables.last { $0.operation.name == "\(name)/iterations" }
  }

  /// The shared driver of the built-in optimizers: checks the pairs (each a variable of the
  /// graph, listed once, with a gradient of its float dtype), creates each variable's
  /// slots (outside the update's name scope), then builds each variable's update inside scope
  /// `name`, increments the step counter last, and groups everything, with the
  /// graph's update operations, into one operation.
  func applySlotUpdates(
    _ pairs: [GradientAndVariable], name: String, location: SourceLocation, countsSteps: Bool,
    slots: (OptimizerState, Tensor) throws -> [Tensor],
    update: (OptimizerState, GradientAndVariable, [Tensor]) throws -> [Operation]
  ) throws -> Operation {
    guard let graph = pairs.first?.variable.graph else {
      throw GraphError.invalidArgument(op: self.name, reason: "no variables to update", location: location)
    }
    var seen = Set<Tensor>(minimumCapacity: pairs.count)
    for pair in pairs {
      // A variable listed twice would get two updates per step (a silently doubled step).
      guard seen.insert(pair.variable).inserted else {
        throw GraphError.invalidArgument(
          op: self.name,
          reason: "variable '\(pair.variable.name)' is listed twice; each variable takes one gradient (sum them first)",
          location: location)
      }
      guard pair.variable.isVariable else {
        throw GraphError.notAVariable(op: self.name, tensor: pair.variable.name, location: location)
      }
      try graph.check(pair.variable, op: self.name, location: location)
      try graph.check(pair.gradient, op: self.name, location: location)
      guard pair.variable.dtype.isFloatingPoint, pair.gradient.dtype == pair.variable.dtype else {
        throw GraphError.invalidArgument(
          op: self.name,
          reason: "gradient '\(pair.gradient.name)' (\(pair.gradient.dtype)) does not fit variable '\(pair.variable.name)' (\(pair.variable.dtype)); both must be the same float dtype",
          location: location)
      }
    }
    let state = OptimizerState(graph: graph, optimizerName: self.name, location: location)
    if countsSteps { _ = try state.stepCounter() }
    let allSlots = try pairs.map { try slots(state, $0.variable) }
    var updates: [Operation] = []
    try graph.withNameScope(name) {
      for (pair, s) in zip(pairs, allSlots) {
        try graph.withNameScope("update_\(pair.variable.operation.name)") {
          updates += try update(state, pair, s)
        }
      }
      if let increment = try state.incrementStepCounter() { updates.append(increment) }
    }
    // The graph's update operations (batch normalization's moving averages) run with the step,
    // as `minimize` runs them: gradients applied here after clipping (`computeGradients`,
    // `clipByGlobalNorm`, `applyGradients`) left the averages where they started.
    return try graph.group(updates + graph.updateOperations, name: name)
  }
}

/// Plain gradient descent (TF1's `tf.train.GradientDescentOptimizer`; the same in every
/// framework):
///
/// `v ← v - η · ∂loss/∂v`
///
/// The update is done in place in the session's variable storage. No slot variables; a step
/// counter only with a schedule.
public struct GradientDescentOptimizer: Optimizer {
  /// The learning rate `η`.
  public let learningRate: LearningRate
  /// The name (`GradientDescent`).
  public let name: String

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless `learningRate` is
  ///   finite and positive.
  public init(learningRate: Double, name: String = "GradientDescent", file: StaticString = #fileID, line: UInt = #line) throws {
    try self.init(learningRate: .constant(learningRate), name: name, file: file, line: line)
  }

  /// Creates the optimizer with a constant or scheduled learning rate.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless a constant
  ///   `learningRate` is finite and positive.
  public init(learningRate: LearningRate, name: String = "GradientDescent", file: StaticString = #fileID, line: UInt = #line) throws {
    try learningRate.validate("GradientDescent", file: file, line: line)
    self.learningRate = learningRate
    self.name = name
  }

  /// `v ← v - η g` for each pair (`assignSubtract`, in place), grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    let lr = learningRate
    var countsSteps = false
    if case .schedule = lr { countsSteps = true }
    return try applySlotUpdates(pairs, name: name, location: location, countsSteps: countsSteps, slots: { _, _ in [] }) { state, pair, _ in
      [try gradientDescentUpdate(pair.variable, gradient: pair.gradient, learningRate: state.learningRate(lr, dtype: pair.variable.dtype))]
    }
  }
}
