import ArrayCore

// MARK: - Comparisons

/// Elementwise comparisons with broadcasting, giving bool tensors (`tf.equal`, `tf.less`...).
/// Their values are piecewise constant, so they have no gradient.
///
/// | function | result | TF |
/// | --- | --- | --- |
/// | equal | `x == y` | `Equal` |
/// | notEqual | `x != y` | `NotEqual` |
/// | less | `x < y` | `Less` |
/// | lessEqual | `x ≤ y` | `LessEqual` |
/// | greater | `x > y` | `Greater` |
/// | greaterEqual | `x ≥ y` | `GreaterEqual` |
///
/// Both inputs have one dtype: float, int32, or (for `equal` and `notEqual` only) bool.
package struct Compare: Primitive, Equatable {
  /// The comparison.
  package enum Function: String, Sendable, CaseIterable {
    /// `x == y`
    case equal
    /// `x != y`
    case notEqual
    /// `x < y`
    case less
    /// `x ≤ y`
    case lessEqual
    /// `x > y`
    case greater
    /// `x ≥ y`
    case greaterEqual
  }
  /// The comparison.
  package let function: Function
  /// Creates the primitive for `function`.
  package init(_ function: Function) { self.function = function }

  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `Equal`, `NotEqual`, `Less`, `LessEqual`, `Greater`, `GreaterEqual`.
  package var typeName: String {
    switch function {
    case .equal: "Equal"
    case .notEqual: "NotEqual"
    case .less: "Less"
    case .lessEqual: "LessEqual"
    case .greater: "Greater"
    case .greaterEqual: "GreaterEqual"
    }
  }

  /// One dtype for both inputs; bool with their broadcast shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype == inputs[1].dtype else {
      throw ShapeError("dtypes \(inputs[0].dtype) and \(inputs[1].dtype) differ")
    }
    if inputs[0].dtype == .bool && !(function == .equal || function == .notEqual) {
      throw ShapeError("bool tensors cannot be ordered; only equal and notEqual accept them")
    }
    let shape = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return [TensorInfo(dtype: .bool, shape: PartialShape(shape))]
  }

  /// Compares with broadcasting.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let a = inputs[0], b = inputs[1]
    switch a.dtype {
    case .float32: try outputs.update(0) { try compute(a, b, Float.self, &$0) }
    case .float64: try outputs.update(0) { try compute(a, b, Double.self, &$0) }
    case .int32: try outputs.update(0) { try compute(a, b, Int32.self, &$0) }
    case .bool:
      let same = function == .equal
      try outputs.update(0) { try Kernels.zip(a, b, Bool.self, Bool.self, into: &$0) { ($0 == $1) == same } }
    }
  }

  func compute<T: Element & Comparable>(_ a: NDArray, _ b: NDArray, _: T.Type, _ out: inout NDArray) throws {
    switch function {
    case .equal: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 == $1 }
    case .notEqual: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 != $1 }
    case .less: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 < $1 }
    case .lessEqual: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 <= $1 }
    case .greater: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 > $1 }
    case .greaterEqual: try Kernels.zip(a, b, T.self, Bool.self, into: &out) { $0 >= $1 }
    }
  }

  /// None: comparisons are not differentiable.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil, nil] }
}

func compare(
  _ function: Compare.Function, _ x: Tensor, _ y: Tensor, _ name: String?, _ file: StaticString, _ line: UInt
) throws -> Tensor {
  try x.graph.apply(Compare(function), x, y, name: name, location: x.graph.location(file, line))
}

/// `x == y` elementwise with broadcasting, as bool (`tf.equal`). No gradient.
public func equal(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.equal, x, y, name, file, line)
}
/// `x != y` elementwise with broadcasting, as bool (`tf.not_equal`). No gradient.
public func notEqual(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.notEqual, x, y, name, file, line)
}
/// `x < y` elementwise with broadcasting, as bool (`tf.less`). No gradient.
public func less(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.less, x, y, name, file, line)
}
/// `x ≤ y` elementwise with broadcasting, as bool (`tf.less_equal`). No gradient.
public func lessEqual(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.lessEqual, x, y, name, file, line)
}
/// `x > y` elementwise with broadcasting, as bool (`tf.greater`). No gradient.
public func greater(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.greater, x, y, name, file, line)
}
/// `x ≥ y` elementwise with broadcasting, as bool (`tf.greater_equal`). No gradient.
public func greaterEqual(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try compare(.greaterEqual, x, y, name, file, line)
}

// MARK: - Logical operations

/// Elementwise logic on bool tensors (`tf.logical_not`, `tf.logical_and`, `tf.logical_or`),
/// with broadcasting for the binary ones. No gradient.
package struct Logical: Primitive, Equatable {
  /// The function.
  package enum Function: String, Sendable, CaseIterable {
    /// `¬x` (one input)
    case not
    /// `x ∧ y`
    case and
    /// `x ∨ y`
    case or
  }
  /// The function.
  package let function: Function
  /// Creates the primitive for `function`.
  package init(_ function: Function) { self.function = function }
  /// The number of inputs: `function == .not ? 1 : 2`.
  package var arity: Int? { function == .not ? 1 : 2 }
  /// `LogicalNot`, `LogicalAnd`, `LogicalOr`.
  package var typeName: String {
    switch function {
    case .not: "LogicalNot"
    case .and: "LogicalAnd"
    case .or: "LogicalOr"
    }
  }
  /// Bool inputs; the (broadcast) shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    for i in inputs where i.dtype != .bool { throw ShapeError("logical operations need bool inputs, got \(i.dtype)") }
    if inputs.count == 1 { return [inputs[0]] }
    let shape = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return [TensorInfo(dtype: .bool, shape: PartialShape(shape))]
  }
  /// Computes.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let a = inputs[0]
    switch function {
    case .not: outputs.update(0) { Kernels.map(a, Bool.self, Bool.self, into: &$0) { !$0 } }
    case .and: try outputs.update(0) { try Kernels.zip(a, inputs[1], Bool.self, Bool.self, into: &$0) { $0 && $1 } }
    case .or: try outputs.update(0) { try Kernels.zip(a, inputs[1], Bool.self, Bool.self, into: &$0) { $0 || $1 } }
    }
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    [Tensor?](repeating: nil, count: op.inputs.count)
  }
}

/// `¬x` elementwise (`tf.logical_not`).
public func logicalNot(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Logical(.not), x, name: name, location: x.graph.location(file, line))
}
/// `x ∧ y` elementwise with broadcasting (`tf.logical_and`).
public func logicalAnd(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Logical(.and), x, y, name: name, location: x.graph.location(file, line))
}
/// `x ∨ y` elementwise with broadcasting (`tf.logical_or`).
public func logicalOr(_ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Logical(.or), x, y, name: name, location: x.graph.location(file, line))
}

// MARK: - Select

/// Chooses elementwise between two tensors, `condition ? x : y`, with the three shapes
/// broadcast together (`tf.where(condition, x, y)` in TF2, NumPy `where`).
/// Gradients: `∂L/∂x = g` where the condition holds (0 elsewhere), `∂L/∂y = g` elsewhere;
/// none for the condition.
package struct Select: Primitive, Equatable {
  /// The number of inputs: 3.
  package var arity: Int? { 3 }
  /// `SelectV2`.
  package var typeName: String { "SelectV2" }
  /// `true`: with a one-element condition the result is the chosen input's memory
  /// (``ArrayCore/Kernels/select(_:_:_:into:)``), so the plan drops it after its last read.
  package var outputsMayAlias: Bool { true }
  /// A bool condition, `x` and `y` of one dtype; the broadcast shape of all three.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype == .bool else { throw ShapeError("condition must be bool, got \(inputs[0].dtype)") }
    guard inputs[1].dtype == inputs[2].dtype else {
      throw ShapeError("x is \(inputs[1].dtype) but y is \(inputs[2].dtype)")
    }
    let dims = try broadcastDimensions(
      broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions), inputs[2].shape.dimensions)
    return [TensorInfo(dtype: inputs[1].dtype, shape: PartialShape(dims))]
  }
  /// Selects.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let c = inputs[0], x = inputs[1], y = inputs[2]
    try outputs.update(0) { try Kernels.select(c, x, y, into: &$0) }
  }
  /// `[nil, select(c, g, 0), select(c, 0, g)]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0], g.dtype.isFloatingPoint else { return [nil, nil, nil] }
    let c = op.input(0)
    let zero = try zerosLike(g)
    return [nil, try select(c, g, zero), try select(c, zero, g)]
  }
}

/// `condition ? x : y` elementwise, with broadcasting (`tf.where(condition, x, y)`).
public func select(
  _ condition: Tensor, _ x: Tensor, _ y: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try condition.graph.apply(Select(), [condition, x, y], name: name, location: condition.graph.location(file, line))
}
