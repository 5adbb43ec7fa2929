import ArrayCore

// MARK: - Leaves

/// A value fed at run time (`tf.placeholder`). Running it unfed is an error.
package struct PlaceholderPrimitive: Primitive, Equatable {
  /// The number of inputs: none (a leaf).
  package var arity: Int? { 0 }
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
  /// The number of inputs: none (a leaf).
  package var arity: Int? { 0 }
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
package struct VariablePrimitive: Primitive, Equatable {
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
  /// The number of inputs: none (a leaf).
  package var arity: Int? { 0 }
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
package struct Assign: Primitive, Equatable {
  /// Stores one element (the scalar fast path).
  package var scalarForm: ScalarForm? { .assign(variable: variable) }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The variable's node index.
  let variable: Int
  /// The variable's declared shape, which every assigned value must have (TF1's
  /// `validate_shape=True`); `nil` when built with `validateShape: false`.
  let shape: Shape?
  init(variable: Int, shape: Shape?) {
    self.variable = variable
    self.shape = shape
  }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Assign`.
  package var typeName: String { "Assign" }
  /// The value's type (checked against the variable when built through
  /// ``assign(_:_:validateShape:name:file:line:)``).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [inputs[0]] }
  /// Stores the value, after checking its shape against the variable's declared one.
  /// - Throws: ``ShapeError`` when the value's run-time shape differs (with `validateShape`).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let value = inputs[0]
    if let shape, value.shape != shape {
      throw ShapeError(
        "value of shape \(value.shape) does not fit the variable's shape \(shape) "
          + "(assign keeps a variable's shape; build it with validateShape: false to allow a change)")
    }
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
  package var scalarForm: ScalarForm? { .update(variable: variable, prepareScalar(function)) }
  let variable: Int
  /// ``Add`` or ``Subtract``.
  let function: any BinaryFunction
  /// Prepares ``function`` for the scalar fast path, specialized for its type (as
  /// ``Unary/specialized``).
  let prepareScalar: @Sendable (any BinaryFunction) -> ScalarFunction
  /// Creates the update of the variable of node `variable` with `function`.
  init<F: BinaryFunction>(variable: Int, function: F) {
    self.variable = variable
    self.function = function
    prepareScalar = { ScalarFunction($0 as! F) }  // always `function`, of type F
  }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
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

/// The node of variable `v`, after checking that it belongs to `graph` (every API that takes a
/// variable goes through here).
/// - Throws: ``GraphError/foreignTensor(op:tensor:location:)``, ``GraphError/notAVariable(op:tensor:location:)``.
func variableNode(_ v: Tensor, in graph: Graph, _ op: String, _ location: SourceLocation?) throws -> Int {
  try graph.check(v, op: op, location: location)
  guard v.isVariable, v.output == 0 else {
    throw GraphError.notAVariable(op: op, tensor: v.name, location: location)
  }
  return v.node
}

func checkAssignable(_ v: Tensor, _ value: Tensor, _ op: String, _ location: SourceLocation?, exact: Bool) throws {
  let ok: Bool
  var detail = ""
  if value.dtype != v.dtype {
    ok = false
  } else if exact {
    ok = value.shape.rank == v.shape.rank
      && zip(value.shape.dimensions, v.shape.dimensions).allSatisfy { $0 == nil || $0 == $1 }
  } else {
    do {
      ok = try broadcastDimensions(v.shape.dimensions, value.shape.dimensions) == v.shape.dimensions
    } catch {
      ok = false
      detail = " (\(error.message))"
    }
  }
  guard ok else {
    throw GraphError.invalidOperation(
      op: op, name: v.operation.name, inputs: [v.inputDescription, value.inputDescription],
      reason: "value of \(value.dtype) \(value.shape) does not fit variable of \(v.dtype) \(v.shape)\(detail)",
      location: location)
  }
}

/// `v ← value` (`tf.assign`): an operation that replaces the variable's value when run.
///
/// The variable keeps its declared shape (TF1's `validate_shape=True`): a value whose static
/// shape differs is refused when building, and a value whose unknown sizes turn out different
/// at run time fails that run with ``SessionError/executionFailed(op:name:reason:location:)``,
/// leaving the variable unchanged. With `validateShape: false` (TF1's `validate_shape=False`)
/// only the dtype must match and the variable takes the value's shape; its static shape
/// (what other operations, ``Session/setValue(_:for:)`` and ``Checkpoint/restore(session:from:)``
/// expect) stays the declared one.
/// - Throws: ``GraphError`` when `v` is not a variable of `value`'s graph, or the value's dtype
///   or shape differs.
@discardableResult
public func assign(
  _ v: Tensor, _ value: Tensor, validateShape: Bool = true, name: String? = nil, file: StaticString = #fileID,
  line: UInt = #line
) throws -> Tensor {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, in: v.graph, "Assign", loc)
  try v.graph.check(value, op: "Assign", location: loc)
  if validateShape {
    try checkAssignable(v, value, "Assign", loc, exact: true)
  } else if value.dtype != v.dtype {
    throw GraphError.invalidOperation(
      op: "Assign", name: v.operation.name, inputs: [v.inputDescription, value.inputDescription],
      reason: "value of \(value.dtype) \(value.shape) does not fit variable of \(v.dtype) \(v.shape) "
        + "(validateShape: false still needs the same dtype)", location: loc)
  }
  let declared = validateShape ? (v.graph.nodes[node].primitive as? VariablePrimitive)?.shape : nil
  return try v.graph.apply(Assign(variable: node, shape: declared), value, name: name ?? "Assign", location: loc)
}

/// `v ← v + delta` in place (`tf.assign_add`); `delta` broadcasts to `v`'s shape.
@discardableResult
public func assignAdd(
  _ v: Tensor, _ delta: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Operation {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, in: v.graph, "AssignAdd", loc)
  try v.graph.check(delta, op: "AssignAdd", location: loc)
  try checkAssignable(v, delta, "AssignAdd", loc, exact: false)
  return try v.graph.addOperation(AssignUpdate(variable: node, function: Add()), inputs: [delta], name: name, location: loc)
}

/// `v ← v - delta` in place (`tf.assign_sub`); `delta` broadcasts to `v`'s shape.
@discardableResult
public func assignSubtract(
  _ v: Tensor, _ delta: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Operation {
  let loc = v.graph.location(file, line)
  let node = try variableNode(v, in: v.graph, "AssignSub", loc)
  try v.graph.check(delta, op: "AssignSub", location: loc)
  try checkAssignable(v, delta, "AssignSub", loc, exact: false)
  return try v.graph.addOperation(AssignUpdate(variable: node, function: Subtract()), inputs: [delta], name: name, location: loc)
}

/// Does nothing; used to group other operations through control dependencies (`tf.no_op`).
package struct NoOp: Primitive, Equatable {
  /// Nothing to compute.
  package var scalarForm: ScalarForm? { .noOp }
  /// The number of inputs: none (a leaf).
  package var arity: Int? { 0 }
  /// `NoOp`.
  package var typeName: String { "NoOp" }
  /// No outputs.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
  /// Nothing.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {}
  /// No inputs.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [] }
}
