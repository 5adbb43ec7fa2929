import ArrayCore

/// An operation you write yourself, with its own gradient (TF's `tf.custom_gradient`, JAX's
/// `custom_vjp`): a forward computation on concrete arrays and a vector-Jacobian product built
/// from graph operations.
///
/// Apply it with ``apply(_:to:name:file:line:)``. The session runs ``forward(_:)`` like a
/// built-in kernel (and checks that what it returns matches ``outputTypes(for:)``), and
/// ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)`` calls
/// ``gradient(inputs:outputs:upstream:)`` like a built-in primitive's, so your gradient can be
/// run, drawn and differentiated again. For an elementwise function, conform to
/// ``UnaryFunction`` or ``BinaryFunction`` instead: it also gets the array kernel and the
/// scalar fast path for free. See "Writing your own operation" in the documentation.
public protocol CustomOperation: Sendable {
  /// The operation type's name, shown in errors and graph pictures.
  var typeName: String { get }
  /// The number of inputs it takes (checked when it is applied, before ``outputTypes(for:)``);
  /// `nil` for any number. The default: 1.
  var arity: Int? { get }
  /// The shape rule: the dtypes and static shapes of the outputs (unknown sizes `nil`) for
  /// inputs of these types. The default: one output of the first input's type.
  /// - Throws: ``ShapeError`` when the inputs are invalid (the graph adds the operation's name,
  ///   its inputs and your source line).
  func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo]
  /// Computes the outputs from the inputs' values.
  /// - Throws: ``ShapeError`` (or any error) for values it cannot handle; the session reports it
  ///   with the operation's name and source line.
  func forward(_ inputs: [NDArray]) throws -> [NDArray]
  /// The vector-Jacobian product: for the gradients flowing into each output (`nil` where none
  /// flows), the gradient of each input, built from graph operations; `nil` for none.
  func gradient(inputs: [Tensor], outputs: [Tensor], upstream: [Tensor?]) throws -> [Tensor?]
}

extension CustomOperation {
  /// One input.
  public var arity: Int? { 1 }
  /// One output of the first input's type.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard let first = inputs.first else { throw ShapeError("\(typeName) needs at least one input") }
    return [first]
  }
}

/// The primitive that runs a ``CustomOperation``.
package struct CustomPrimitive: Primitive {
  /// The user's operation.
  package let operation: any CustomOperation
  /// The operation's type name.
  package var typeName: String { operation.typeName }
  /// The operation's number of inputs.
  package var arity: Int? { operation.arity }
  /// The operation's shape rule.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { try operation.outputTypes(for: inputs) }
  /// Runs ``CustomOperation/forward(_:)`` and checks its results against the declared types.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let values = try operation.forward((0..<inputs.count).map { inputs[$0] })
    guard values.count == outputs.count else {
      throw ShapeError("\(typeName).forward returned \(values.count) values for \(outputs.count) outputs")
    }
    let declared = context.graph?.nodes[context.currentNode].outputs
    for (i, value) in values.enumerated() {
      if let info = declared?[i], value.dtype != info.dtype || !info.shape.accepts(value.shape) {
        throw ShapeError(
          "\(typeName).forward returned \(value.dtype) \(value.shape) for output \(i), declared \(info.dtype) \(info.shape)")
      }
      outputs[i] = value
    }
  }
  /// The operation's gradient.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let grads = try operation.gradient(inputs: op.inputs, outputs: op.outputs, upstream: upstream)
    guard grads.count == op.inputs.count else {
      throw GraphError.invalidArgument(
        op: typeName, reason: "gradient returned \(grads.count) values for \(op.inputs.count) inputs", location: op.location)
    }
    return grads
  }
}

/// Adds your ``CustomOperation`` to the graph of `inputs` and returns its outputs.
/// - Throws: ``GraphError`` naming the operation, its inputs and this call's line when the
///   inputs belong to different graphs or the shape rule rejects them.
@discardableResult
public func apply(
  _ operation: some CustomOperation, to inputs: [Tensor], name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor] {
  guard let graph = inputs.first?.graph else {
    throw GraphError.invalidArgument(op: operation.typeName, reason: "a custom operation needs at least one input", location: SourceLocation(file, line))
  }
  let op = try graph.addOperation(CustomPrimitive(operation: operation), inputs: inputs, name: name, location: graph.location(file, line))
  return op.outputs
}
