import ArrayCore

// MARK: - Fill, identity, stop-gradient

/// A tensor of `x`'s shape and dtype filled with a constant (`tf.zeros_like`, `tf.ones_like`).
/// Its value does not depend on `x`'s values, so it has no gradient.
package struct FillLike: Primitive {
  /// The fill value (the scalar fast path).
  package var scalarForm: ScalarForm? { .constant(value) }
  /// The fill value.
  package let value: Double
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `ZerosLike`, `OnesLike` or `FillLike`.
  package var typeName: String { value == 0 ? "ZerosLike" : value == 1 ? "OnesLike" : "FillLike" }
  /// `x`'s type.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// `x`'s type (the rule, without an array: every gradient's seed is a `FillLike`).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? { inputs[0] }
  /// Fills.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    outputs.update(0) { out in
      out.prepare(fittingAnInput: x.shape, dtype: x.dtype)
      switch x.dtype {
      case .float32: out.withUnsafeMutableBufferPointer(as: Float.self) { $0.update(repeating: Float(value)) }
      case .float64: out.withUnsafeMutableBufferPointer(as: Double.self) { $0.update(repeating: value) }
      case .int32: out.withUnsafeMutableBufferPointer(as: Int32.self) { $0.update(repeating: Int32(fromDouble: value)) }
      case .bool: out.withUnsafeMutableBufferPointer(as: Bool.self) { $0.update(repeating: value != 0) }
      }
    }
  }
  /// None: the values do not depend on `x`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

/// Zeros of `x`'s shape and dtype (`tf.zeros_like`).
public func zerosLike(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(FillLike(value: 0), [x], name: name, location: x.graph.location(file, line))
}

/// Ones of `x`'s shape and dtype (`tf.ones_like`).
public func onesLike(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(FillLike(value: 1), [x], name: name, location: x.graph.location(file, line))
}

/// Passes its input through unchanged. With `stopsGradient`, no gradient flows back through it
/// (`tf.stop_gradient`); otherwise the gradient passes unchanged (`tf.identity`).
package struct Identity: Primitive {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// Whether gradients are blocked.
  package let stopsGradient: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `StopGradient` or `Identity`.
  package var typeName: String { stopsGradient ? "StopGradient" : "Identity" }
  /// The input's type.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [inputs[0]] }
  /// Publishes the input (shared, not copied).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = inputs[0]
  }
  /// `g`, or none for `StopGradient`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    stopsGradient ? [nil] : [upstream[0]]
  }
}

/// `x`, through which no gradient flows (`tf.stop_gradient`).
public func stopGradient(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Identity(stopsGradient: true), [x], name: name, location: x.graph.location(file, line))
}

/// `x` unchanged (`tf.identity`).
public func identity(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Identity(stopsGradient: false), [x], name: name, location: x.graph.location(file, line))
}
