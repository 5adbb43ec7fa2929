import ArrayCore

/// The variables of eager code that creates its parameters where it uses them (a model written
/// as one function, `{ x in try x * graph.variable(initial, name: "A") }`): the first run creates
/// each variable, by name, in the store's graph; later runs inside ``use(_:)`` get the same
/// variable back instead of a new one (TF1's `tf.get_variable` with `reuse=AUTO_REUSE`, Keras's
/// weights built on the first call).
///
/// ```swift
/// let variables = EagerVariables()
/// for (x, y) in samples {
///   let tape = GradientTape()
///   let loss = try tape.record { try variables.use { try square(model(Tensor(x)) - Tensor(y)) } }
///   let grads = try tape.gradient(of: loss, withRespectTo: variables.trainable)
///   try optimizer.update(variables.trainable, along: grads)
/// }
/// ```
public final class EagerVariables: @unchecked Sendable {
  /// The eager graph holding the variables (``Graph/eager()``).
  public let graph = Graph.eager()
  private var byName: [String: Tensor] = [:]

  /// Creates an empty store.
  public init() {}

  /// Runs `body` with this store active: an eager `graph.variable(_:name:)` call returns the
  /// store's variable of that name, creating it (from the given initial value) the first time.
  public func use<R>(_ body: () throws -> R) rethrows -> R {
    try EagerScope.withVariables(self) { try body() }
  }

  /// The trainable variables, in creation order.
  public var trainable: [Tensor] { graph.trainableVariables }

  /// The variable named `name`, creating it from `initialValue` if the store has none.
  func variable(
    named name: String, initialValue: Tensor, trainable: Bool, location: SourceLocation
  ) throws -> Tensor {
    if let existing = byName[name] {
      guard existing.dtype == initialValue.dtype, existing.shape == initialValue.shape else {
        throw GraphError.invalidArgument(
          op: "VariableV2",
          reason: "'\(name)' exists as \(existing.dtype) \(existing.shape); the initial value is \(initialValue.dtype) \(initialValue.shape)",
          location: location)
      }
      return existing
    }
    let v = try graph.eagerVariable(initialValue, trainable: trainable, name: name, location: location)
    byName[name] = v
    return v
  }
}
