import ArrayCore

// MARK: - Fill, identity, stop-gradient

/// A tensor of `x`'s shape and dtype filled with a constant (`tf.zeros_like`, `tf.ones_like`).
/// Its value does not depend on `x`'s values, so it has no gradient.
package struct FillLike: Primitive, Equatable {
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
  try x.graph.apply(FillLike(value: 0), x, name: name, location: x.graph.location(file, line))
}

/// Ones of `x`'s shape and dtype (`tf.ones_like`).
public func onesLike(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(FillLike(value: 1), x, name: name, location: x.graph.location(file, line))
}

/// Passes its input through unchanged. With `stopsGradient`, no gradient flows back through it
/// (`tf.stop_gradient`); otherwise the gradient passes unchanged (`tf.identity`).
package struct Identity: Primitive, Equatable {
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

/// `x` unchanged, once its run-time shape is checked to be `reference`'s: no broadcasting
/// (TensorFlow's `tf.ensure_shape`, against another tensor's shape). The losses whose two
/// inputs must have one shape (the mean squared error, the cross-entropies...) add it when the
/// static shapes cannot prove it (logits `[?, 1]`, labels `[?, ?]` or `[?, 1]`), so that
/// labels fed `[N, N]` or `[1, 1]` are refused instead of broadcast into a wrong loss. A run
/// compares two shapes and shares `x`'s memory: no copy. Gradient: the upstream gradient for
/// `x`, none for the reference (only its shape is read).
package struct EnsureShapeLike: Primitive, Equatable {
  /// One element passes through (the scalar fast path): the shape rule requires one rank, and
  /// two shapes of one rank that hold one element each are equal.
  package var scalarForm: ScalarForm? { .passThrough }
  /// The output is `x`'s memory.
  package var outputsMayAlias: Bool { true }

  /// The operation that needs the shapes equal, named in the error (`SigmoidCrossEntropy`).
  package let operation: String
  /// What `x` is to that operation (`labels`).
  package let role: String
  /// What the reference is to that operation (`logits`).
  package let referenceRole: String
  /// A check for `operation`, whose input `role` must have the shape of its input
  /// `referenceRole`.
  package init(operation: String, role: String, referenceRole: String) {
    self.operation = operation
    self.role = role
    self.referenceRole = referenceRole
  }
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `EnsureShapeLike`.
  package var typeName: String { "EnsureShapeLike" }
  /// `x`'s type.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// `x`'s dtype, with every size either input knows (the check makes them equal).
  /// - Throws: when the ranks differ or known sizes differ (a mismatch the static shapes show).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    let x = inputs[0].shape, r = inputs[1].shape
    guard x.rank == r.rank, zip(x.dimensions, r.dimensions).allSatisfy({ $0 == nil || $1 == nil || $0 == $1 }) else {
      throw ShapeError(mismatch("\(x)", "\(r)"))
    }
    return TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(zip(x.dimensions, r.dimensions).map { $0 ?? $1 }))
  }
  /// Publishes `x` (shared, not copied) when its shape is the reference's.
  /// - Throws: naming the operation, both roles and both shapes otherwise.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    guard inputs[0].shape == inputs[1].shape else { throw ShapeError(mismatch("\(inputs[0].shape)", "\(inputs[1].shape)")) }
    outputs[0] = inputs[0]
  }
  /// `g` for `x`; none for the reference.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [upstream[0], nil] }

  /// `SigmoidCrossEntropy: labels [3, 3] and logits [3, 1] must have one shape (...)`.
  func mismatch(_ shape: String, _ referenceShape: String) -> String {
    "\(operation): \(role) \(shape) and \(referenceRole) \(referenceShape) must have one shape (\(operation) does not broadcast them)"
  }
}

/// `x`, checked at run time to have `reference`'s shape (``EnsureShapeLike``); an error names
/// `operation`, `role` (what `x` is to it) and `referenceRole`.
package func ensureShapeLike(
  _ x: Tensor, _ reference: Tensor, operation: String, role: String, referenceRole: String, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let check = EnsureShapeLike(operation: operation, role: role, referenceRole: referenceRole)
  return try x.graph.apply(check, x, reference, name: name, location: x.graph.location(file, line))
}

/// An int32 divisor `y` unchanged, once every element is checked to be non-zero: TensorFlow's
/// integer division kernels (`FloorDiv`, `FloorMod`, `TruncateDiv`) raise "Integer division by
/// zero" when they run, and Backprop computes those divisions through float64 (the GraphDef
/// importer's int32 arithmetic), where a zero divisor gives a value instead. The importer puts
/// one before each such division, so a zero divisor fails the run naming the imported node. A
/// run reads the divisor once and shares its memory: no copy. No gradient (int32 values).
package struct CheckNonZeroDivisor: Primitive, Equatable {
  /// The output is the divisor's memory.
  package var outputsMayAlias: Bool { true }

  /// The division's node name, named in the error (`floordiv`).
  package let operation: String
  /// The division's operation type, named in the error (`FloorDiv`).
  package let operationType: String
  /// A check of the divisor of node `operation`, of type `operationType`.
  package init(operation: String, operationType: String) {
    self.operation = operation
    self.operationType = operationType
  }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `CheckNonZeroDivisor`.
  package var typeName: String { "CheckNonZeroDivisor" }
  /// `y`'s type.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// `y`'s type.
  /// - Throws: when `y` is not int32.
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    guard inputs[0].dtype == .int32 else {
      throw ShapeError("node '\(operation)' (\(operationType)): the divisor must be int32, got \(inputs[0].dtype)")
    }
    return inputs[0]
  }
  /// Publishes `y` (shared, not copied) when no element is 0.
  /// - Throws: naming the division's node and type, and the first zero's position, otherwise.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let y = inputs[0]
    let zero = y.withUnsafeBufferPointer(as: Int32.self) { $0.firstIndex(of: 0) }
    if let zero {
      throw ShapeError(
        "node '\(operation)' (\(operationType)): integer division by zero (the divisor \(y.shape) holds 0 at element \(zero))")
    }
    outputs[0] = y
  }
  /// None: the values are integers.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

/// `x`, through which no gradient flows (`tf.stop_gradient`).
public func stopGradient(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Identity(stopsGradient: true), x, name: name, location: x.graph.location(file, line))
}

/// `x` unchanged (`tf.identity`).
public func identity(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Identity(stopsGradient: false), x, name: name, location: x.graph.location(file, line))
}
