import ArrayCore

// MARK: - Leaves

/// A value fed at run time (`tf.placeholder`). Running it unfed is an error.
package struct PlaceholderPrimitive: Primitive {
  /// `Placeholder`.
  package var typeName: String { "Placeholder" }
  /// Set when the placeholder is created.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
  /// Never reached: the session puts the fed value in place.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    throw SessionError.missingFeeds([context.graph?.nodes[context.currentNode].name ?? "?"])
  }
  /// A leaf: no inputs.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}

/// A constant value (`tf.constant`).
package struct ConstantPrimitive: Primitive {
  /// The value, when it has one element (the scalar fast path).
  package var scalarForm: ScalarForm? { value.elementCount == 1 && value.dtype.isFloatingPoint ? .constant(value.scalarValue) : nil }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The value.
  package let value: NDArray
  /// `Const`.
  package var typeName: String { "Const" }
  /// The value's dtype and shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: value.dtype, shape: PartialShape(value.shape))]
  }
  /// Publishes the value (shared, not copied).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = value
  }
  /// A leaf: no inputs.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}

/// A variable: state that lives in the session and persists across runs (`tf.Variable`).
/// Its output is the variable's current value.
package struct VariablePrimitive: Primitive {
  /// Reads the variable (the scalar fast path).
  package var scalarForm: ScalarForm? { .readVariable }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The dtype.
  package let dtype: DType
  /// The shape.
  package let shape: Shape
  /// Whether optimizers update it by default.
  package let trainable: Bool
  /// `VariableV2`.
  package var typeName: String { "VariableV2" }
  /// The variable's dtype and shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: dtype, shape: PartialShape(shape))]
  }
  /// Reads the current value.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = try context.readVariable()
  }
  /// A leaf: the gradient with respect to a variable is what flows into it.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}

// MARK: - State changes

/// Replaces a variable's value: `v ← value` (`tf.assign`). Its output is the new value.
/// Not differentiable.
package struct Assign: Primitive {
  /// Stores one element (the scalar fast path).
  package var scalarForm: ScalarForm? { .assign(variable: variable) }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The variable's node index.
  let variable: Int
  /// `Assign`.
  package var typeName: String { "Assign" }
  /// The value's type (checked against the variable when built through ``assign(_:_:name:file:line:)``).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [inputs[0]] }
  /// Stores the value.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let value = inputs[0]
    context.writeVariable(node: variable, value)
    outputs[0] = value
  }
  /// Not differentiable.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

/// Changes a variable in place: `v ← v + delta` or `v ← v - delta` (`tf.assign_add`,
/// `tf.assign_sub`); `delta` broadcasts to the variable's shape. The arithmetic is the
/// ``BinaryFunction``'s own (``Add`` or ``Subtract``) applied in place, so the scalar fast path
/// and the kernel agree by construction. No copy is made when the variable's memory is not
/// shared. Not differentiable.
package struct AssignUpdate: Primitive {
  /// Updates one element in place (the scalar fast path).
  package var scalarForm: ScalarForm? { .update(variable: variable, function) }
  let variable: Int
  /// ``Add`` or ``Subtract``.
  let function: any BinaryFunction
  /// `AssignAdd` or `AssignSub`.
  package var typeName: String { function is Subtract ? "AssignSub" : "AssignAdd" }
  /// No outputs: the operation is run as a target.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
  /// Updates the variable: `v[i] ← f(v[i], delta[i])`.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let delta = inputs[0]
    try context.updateVariable(node: variable) { v in try function.update(&v, with: delta) }
  }
  /// Not differentiable.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

func variableNode(_ v: Tensor, _ op: String, _ location: SourceLocation?) throws -> Int {
  guard v.isVariable, v.output == 0 else {
    throw GraphError.notAVariable(op: op, tensor: v.name, location: location)
  }
  return v.node
}

func checkAssignable(_ v: Tensor, _ value: Tensor, _ op: String, _ location: SourceLocation?, exact: Bool) throws {
  let ok: Bool
  if value.dtype != v.dtype {
    ok = false
  } else if exact {
    ok = value.shape.rank == v.shape.rank
      && zip(value.shape.dimensions, v.shape.dimensions).allSatisfy { $0 == nil || $0 == $1 }
  } else {
    ok = (try? broadcastDimensions(v.shape.dimensions, value.shape.dimensions)) == v.shape.dimensions
  }
  guard ok else {
    throw GraphError.invalidOperation(
      op: op, name: v.operation.name, inputs: [v.inputDescription, value.inputDescription],
      reason: "value of \(value.dtype) \(value.shape) does not fit variable of \(v.dtype) \(v.shape)",
      location: location)
  }
}

/// `v ← value` (`tf.assign`): an operation that replaces the variable's value when run.
/// - Throws: ``GraphError`` when `v` is not a variable or the value's dtype or shape differs.
@discardableResult
public func assign(
  _ v: Tensor, _ value: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, "Assign", loc)
  try checkAssignable(v, value, "Assign", loc, exact: true)
  return try v.graph.apply(Assign(variable: node), [value], name: name ?? "Assign", location: loc)
}

/// `v ← v + delta` in place (`tf.assign_add`); `delta` broadcasts to `v`'s shape.
@discardableResult
public func assignAdd(
  _ v: Tensor, _ delta: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Operation {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, "AssignAdd", loc)
  try checkAssignable(v, delta, "AssignAdd", loc, exact: false)
  return try v.graph.addOperation(AssignUpdate(variable: node, function: Add()), inputs: [delta], name: name, location: loc)
}

/// `v ← v - delta` in place (`tf.assign_sub`); `delta` broadcasts to `v`'s shape.
@discardableResult
public func assignSubtract(
  _ v: Tensor, _ delta: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Operation {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, "AssignSub", loc)
  try checkAssignable(v, delta, "AssignSub", loc, exact: false)
  return try v.graph.addOperation(AssignUpdate(variable: node, function: Subtract()), inputs: [delta], name: name, location: loc)
}

/// Does nothing; used to group other operations through control dependencies (`tf.no_op`).
package struct NoOp: Primitive {
  /// Nothing to compute.
  package var scalarForm: ScalarForm? { .noOp }
  /// `NoOp`.
  package var typeName: String { "NoOp" }
  /// No outputs.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
  /// Nothing.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {}
  /// No inputs.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}
