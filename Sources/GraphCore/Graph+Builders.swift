import ArrayCore

extension Graph {
  /// The location recorded for an operation built by a builder function: the caller's line, or,
  /// while gradients are being built, the line that asked for the gradients.
  func location(_ file: StaticString, _ line: UInt) -> SourceLocation? {
    gradientDepth > 0 ? gradientLocation : SourceLocation(file, line)
  }

  /// The location recorded for an operator (`+`, `*`...), which cannot know its own line.
  var operatorLocation: SourceLocation? { gradientDepth > 0 ? gradientLocation : nil }

  /// A scalar constant with the dtype of `x` (for operators with number literals).
  func scalar(_ value: Double, like x: Tensor) -> Tensor {
    let dtype = x.dtype.isFloatingPoint ? x.dtype : .float32
    let array = mode == .symbolic ? NDArray(scalar: value, dtype: dtype) : SharedScalars.array(value, dtype: dtype)
    // An eager value's graph does not grow with the constants of operators applied to it.
    if mode == .values { return Graph.leafGraph().constant(array, name: "Const") }
    return constant(array, name: "Const")
  }

  func appendLeaf(_ primitive: some Primitive, output: TensorInfo, name: String, location: SourceLocation?) -> Tensor {
    nodes.append(Node(
      primitive: primitive, inputs: [], outputs: NodeOutputs(output),
      name: primitive is VariablePrimitive ? uniqueName(name) : operationName(name), location: location,
      isGradient: gradientDepth > 0, isVariable: primitive is VariablePrimitive))
    if primitive is VariablePrimitive { registerVariable(nodes.count - 1) }
    if eager != nil {
      evaluateLeaf(constant: (primitive as? ConstantPrimitive)?.value, isVariable: primitive is VariablePrimitive)
    }
    return Tensor(graph: self, node: nodes.count - 1, output: 0)
  }

  /// A placeholder: a tensor whose value is fed to ``Session/run(_:feeding:targets:)-(_,Feeds,_)``
  /// (`tf.placeholder`). Unknown sizes (`nil`) accept any size, such as a batch dimension.
  ///
  /// ```swift
  /// let x = graph.placeholder(.float32, shape: [nil, 3], name: "x")
  /// ```
  ///
  /// A size of `-1` also means unknown (as in TF1). A shape with another negative size, or whose
  /// known sizes need more elements or bytes than an array may have
  /// (``ArrayCore/Shape/validate(partial:dtype:)``), gives a placeholder that every builder and
  /// session refuses with a ``GraphError`` naming it (this function cannot throw).
  public func placeholder(
    _ dtype: DType = .float32, shape: PartialShape, name: String = "Placeholder",
    file: StaticString = #fileID, line: UInt = #line
  ) -> Tensor {
    let shape = PartialShape(shape.dimensions.map { $0 == -1 ? nil : $0 })
    return appendLeaf(
      PlaceholderPrimitive(), output: TensorInfo(dtype: dtype, shape: shape), name: name,
      location: SourceLocation(file, line))
  }

  /// A constant tensor holding `value` (`tf.constant`). In an eager graph, made while
  /// ``withNumericChecks(_:_:)`` is on and holding NaN or infinity, it is named by the first
  /// operation that reads it (``SessionError/nonFinite(op:name:location:)``), as a session with
  /// ``Session/Options/checkNumerics`` names a graph's constant.
  public func constant(
    _ value: NDArray, name: String = "Const", file: StaticString = #fileID, line: UInt = #line
  ) -> Tensor {
    let tensor = appendLeaf(
      ConstantPrimitive(value: value), output: TensorInfo(dtype: value.dtype, shape: PartialShape(value.shape)),
      name: name, location: location(file, line))
    // The flag first: reaching the store only under the checks keeps its reference count still.
    if EagerScope.checksNumerics { eager?.checkConstant(id: tensor.node, value) }
    return tensor
  }

  /// A scalar constant of `dtype` (`tf.constant(3.0)`).
  public func constant(
    _ value: Double, dtype: DType = .float32, name: String = "Const", file: StaticString = #fileID,
    line: UInt = #line
  ) -> Tensor {
    constant(NDArray(scalar: value, dtype: dtype), name: name, file: file, line: line)
  }

  /// A variable whose first value comes from `initialValue` when the variables initializer runs
  /// (`tf.Variable(initial_value)`). The returned tensor reads the variable's current value.
  ///
  /// ```swift
  /// let a = try graph.variable(randomNormal(graph, shape: [1], seed: 1), name: "A")
  /// ```
  /// - Parameter trainable: whether optimizers update it by default.
  /// - Throws: ``GraphError`` when `initialValue`'s shape is not fully known or not valid
  ///   (negative or too large), or it belongs to another graph.
  public func variable(
    _ initialValue: Tensor, trainable: Bool = true, name: String = "Variable",
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    let loc = SourceLocation(file, line)
    if isEager {
      // An eager variable (TF2's `tf.Variable`): its value is set now, from any eager value;
      // inside `EagerVariables.use`, the store's variable of that name.
      if let store = EagerScope.variables {
        return try store.variable(named: name, initialValue: initialValue, trainable: trainable, location: loc)
      }
      return try eagerVariable(initialValue, trainable: trainable, name: name, location: loc)
    }
    try check(initialValue, op: "VariableV2", location: loc)
    guard let shape = initialValue.shape.concrete else {
      throw GraphError.invalidOperation(
        op: "VariableV2", name: name, inputs: [initialValue.inputDescription],
        reason: "a variable's initial value needs a fully known shape", location: loc)
    }
    let v = appendLeaf(
      VariablePrimitive(dtype: initialValue.dtype, shape: shape, trainable: trainable),
      output: TensorInfo(dtype: initialValue.dtype, shape: PartialShape(shape)), name: name, location: loc)
    initialValues.append((v.node, ValueRef(node: initialValue.node, output: initialValue.output)))
    return v
  }

  /// A variable initialized to a constant value.
  public func variable(
    _ value: NDArray, trainable: Bool = true, name: String = "Variable",
    file: StaticString = #fileID, line: UInt = #line
  ) throws -> Tensor {
    try variable(constant(value, name: name + "/initial_value", file: file, line: line),
      trainable: trainable, name: name, file: file, line: line)
  }

  private func registerVariable(_ node: Int) { variableNodesAppend(node) }

  /// An operation that initializes every variable created so far
  /// (`tf.global_variables_initializer()`): it assigns each its initial value.
  public func variablesInitializer(
    name: String = "init", file: StaticString = #fileID, line: UInt = #line
  ) throws -> Operation {
    let loc = SourceLocation(file, line)
    var assigns: [Operation] = []
    for (v, value) in initialValues {
      let t = Tensor(graph: self, node: value.node, output: value.output)
      let shape = (nodes[v].primitive as? VariablePrimitive)?.shape
      assigns.append(try addOperation(Assign(variable: v, shape: shape), inputs: [t], name: "\(nodes[v].name)/Assign", location: loc))
    }
    return try group(assigns, name: name, file: file, line: line)
  }

  /// One operation that runs all of `operations` (`tf.group`).
  public func group(
    _ operations: [Operation], name: String = "group_deps", file: StaticString = #fileID,
    line: UInt = #line
  ) throws -> Operation {
    try addOperation(NoOp(), inputs: [], controlDependencies: operations, name: name, location: location(file, line))
  }
}

/// The scalar arrays of the constants that gradient definitions and operators use most (`x * 2`
/// in `square`'s gradient, `1`, `0.5`...), made once and shared by the eager constants that hold
/// them, so an eager operator on a number allocates no array for it. Sharing is safe: arrays are
/// copy-on-write, and kernels write only into uniquely held outputs, never into an input's or a
/// constant's value. (Compared by bit pattern: `-0.0` is not `0`.)
enum SharedScalars {
  private static let float32: [NDArray] = values.map { NDArray(scalar: $0, dtype: .float32) }
  private static let float64: [NDArray] = values.map { NDArray(scalar: $0, dtype: .float64) }
  private static let values: [Double] = [0, 1, 2, 0.5, -1]

  /// The rank-0 array of `value` and `dtype`: a shared one for the common values, else new.
  static func array(_ value: Double, dtype: DType) -> NDArray {
    if dtype == .float32 || dtype == .float64 {
      for i in values.indices where values[i].bitPattern == value.bitPattern {
        return dtype == .float32 ? float32[i] : float64[i]
      }
    }
    return NDArray(scalar: value, dtype: dtype)
  }
}
