import ArrayCore
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
  /// Adds operations that update each variable from its gradient and returns one operation
  /// that runs them all.
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
  /// - Parameter variables: the variables to update; the trainable variables by default.
  public func minimize(
    _ loss: Tensor, variables: [Tensor]? = nil, name: String = "train", file: StaticString = #fileID,
    line: UInt = #line
  ) throws -> Operation {
    let pairs = try computeGradients(loss, variables: variables, file: file, line: line)
    return try applyGradients(pairs, name: name, location: SourceLocation(file, line))
  }
}

/// Checks a hyper-parameter: finite and within `range`.
/// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` naming the optimizer and value.
public func validateHyperparameter(
  _ value: Double, _ name: String, of optimizer: String, in range: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude,
  open: Bool = false, file: StaticString = #fileID, line: UInt = #line
) throws {
  guard value.isFinite, range.contains(value), !(open && value == range.lowerBound) else {
    throw GraphError.invalidArgument(
      op: optimizer, reason: "\(name) must be a finite number \(open ? ">" : ">=") \(range.lowerBound)\(range.upperBound < .greatestFiniteMagnitude ? " and <= \(range.upperBound)" : ""), got \(value)",
      location: SourceLocation(file, line))
  }
}

/// Plain gradient descent (TF1's `tf.train.GradientDescentOptimizer`):
///
/// `v ← v - η · ∂loss/∂v`
///
/// The update is done in place in the session's variable storage.
public struct GradientDescentOptimizer: Optimizer {
  /// The learning rate `η`.
  public let learningRate: Double

  /// Creates the optimizer.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` unless `learningRate` is
  ///   finite and positive.
  public init(learningRate: Double, file: StaticString = #fileID, line: UInt = #line) throws {
    try validateHyperparameter(learningRate, "learning rate", of: "GradientDescent", open: true, file: file, line: line)
    self.learningRate = learningRate
  }

  /// `v ← v - η g` for each pair, grouped into one operation.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    guard let graph = pairs.first?.variable.graph else {
      throw GraphError.invalidArgument(op: "GradientDescent", reason: "no variables to update", location: location)
    }
    var updates: [Operation] = []
    try graph.withNameScope(name) {
      for pair in pairs {
        let step = try pair.gradient * learningRate
        updates.append(try assignSubtract(pair.variable, step, name: "update_\(pair.variable.operation.name)"))
      }
    }
    return try graph.group(updates, name: name)
  }
}
