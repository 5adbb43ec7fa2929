import ArrayCore

// MARK: - Reshaping

/// Gives `x` a new shape with the same elements (`tf.reshape`); one size may be `-1`, inferred.
/// Gradient: the upstream gradient reshaped back to `x`'s shape.
package struct Reshape: Primitive, Equatable {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The new shape; at most one `-1`.
  package let shape: [Int]
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Reshape`.
  package var typeName: String { "Reshape" }

  func resolve(_ count: Int?) throws -> [Int?] {
    let unknown = shape.filter { $0 == -1 }.count
    guard unknown <= 1, shape.allSatisfy({ $0 >= -1 }) else {
      throw ShapeError("invalid target shape \(shape): sizes must be >= 0 with at most one -1")
    }
    let known: Int
    do { known = try Shape.checkedProduct(shape.filter { $0 != -1 }) } catch {
      throw ShapeError("invalid target shape \(shape): \(error.message)")
    }
    guard unknown == 1 else {
      if let count, count != known {
        throw ShapeError("cannot reshape \(count) elements to \(shape)")
      }
      return shape.map { $0 }
    }
    guard let count else { return shape.map { $0 == -1 ? nil : $0 } }
    guard known > 0, count % known == 0 else { throw ShapeError("cannot reshape \(count) elements to \(shape)") }
    return shape.map { $0 == -1 ? count / known : $0 }
  }

  /// The target shape, with `-1` resolved when the input's size is known.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let count = inputs[0].shape.concrete?.elementCount
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try resolve(count)))]
  }
  /// Shares the input's memory under the new shape.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    outputs[0] = try x.reshaped(to: Shape(try resolve(x.elementCount).map { $0! }))
  }
  /// `reshapeLike(g, x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try reshapeLike(g, op.input(0))]
  }
}

/// `x` with the shape of `reference` at run time (used by gradients of reshaping operations).
/// Gradient: `reshapeLike(g, x)` for `x`, none for `reference`.
package struct ReshapeLike: Primitive, Equatable {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `ReshapeLike`.
  package var typeName: String { "ReshapeLike" }
  /// `x`'s dtype with `reference`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// `x`'s dtype with `reference`'s shape (the rule, without an array).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    if let a = inputs[0].shape.concrete, let b = inputs[1].shape.concrete, a.elementCount != b.elementCount {
      throw ShapeError("cannot reshape \(a) to \(b)")
    }
    return TensorInfo(dtype: inputs[0].dtype, shape: inputs[1].shape)
  }
  /// Shares the input's memory under the reference's shape.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = try inputs[0].reshaped(to: inputs[1].shape)
  }
  /// `reshapeLike(g, x)`; none for the reference.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    return [try reshapeLike(g, op.input(0)), nil]
  }
}

/// Inserts a dimension of size 1 at `axis` (`tf.expand_dims`); negative axes count from the end
/// of the result. Gradient: reshaped back.
package struct ExpandDims: Primitive, Equatable {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// Where the new dimension goes, in `-(rank+1)...rank`.
  package let axis: Int
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `ExpandDims`.
  package var typeName: String { "ExpandDims" }
  /// The input's shape with a 1 inserted.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// The input's shape with a 1 inserted (the rule, without an array).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    let shape = inputs[0].shape
    return TensorInfo(dtype: inputs[0].dtype, shape: shape.inserting(unitAxis: try normalizeAxis(axis, rank: shape.rank + 1)))
  }
  /// Shares the input's memory.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    outputs[0] = try x.reshaped(to: x.shape.inserting(unitAxis: try normalizeAxis(axis, rank: x.rank + 1)))
  }
  /// `reshapeLike(g, x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try reshapeLike(g, op.input(0))]
  }
}

/// Removes dimensions of size 1 (`tf.squeeze`): the given axes, or every size-1 axis when
/// `axes` is `nil`. Gradient: reshaped back.
package struct Squeeze: Primitive, Equatable {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The axes to remove, or `nil` for all of size 1.
  package let axes: [Int]?
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Squeeze`.
  package var typeName: String { "Squeeze" }
  func squeezed(_ dims: [Int?]) throws -> [Int?] {
    if let axes {
      let ax = try normalizeAxes(axes, rank: dims.count)
      for a in ax where dims[a] != 1 && dims[a] != nil {
        throw ShapeError("cannot squeeze axis \(a) of size \(dims[a]!)")
      }
      return dims.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
    }
    if dims.contains(where: { $0 == nil }) {
      throw ShapeError("squeeze with unknown sizes needs explicit axes")
    }
    return dims.filter { $0 != 1 }
  }
  /// The shape without the squeezed axes.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try squeezed(inputs[0].shape.dimensions)))]
  }
  /// Shares the input's memory.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    outputs[0] = try x.reshaped(to: Shape(try squeezed(x.shape.dimensions.map { $0 }).map { $0! }))
  }
  /// `reshapeLike(g, x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try reshapeLike(g, op.input(0))]
  }
}

/// Reshapes `x` (`tf.reshape`); one size may be `-1`.
public func reshape(_ x: Tensor, to shape: [Int], name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Reshape(shape: shape), x, name: name, location: x.graph.location(file, line))
}

/// `x` reshaped to `reference`'s run-time shape.
public func reshapeLike(_ x: Tensor, _ reference: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(ReshapeLike(), x, reference, name: name, location: x.graph.location(file, line))
}

/// Inserts a size-1 dimension at `axis` (`tf.expand_dims`).
public func expandDims(_ x: Tensor, axis: Int, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(ExpandDims(axis: axis), x, name: name, location: x.graph.location(file, line))
}

/// Removes size-1 dimensions (`tf.squeeze`).
public func squeeze(_ x: Tensor, axes: [Int]? = nil, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Squeeze(axes: axes), x, name: name, location: x.graph.location(file, line))
}

// MARK: - Broadcasting and its inverse

/// `x` broadcast to the run-time shape of `reference` (materialized).
/// Gradient: `sumToShapeOf(g, x)` for `x`; none for the reference.
package struct BroadcastLike: Primitive, Equatable {
  /// One element passes through (the scalar fast path).
  package var scalarForm: ScalarForm? { .passThrough }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `BroadcastLike`.
  package var typeName: String { "BroadcastLike" }
  /// `x`'s dtype with the broadcast of both shapes (which must be `reference`'s).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let dims = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(dims))]
  }
  /// Broadcasts.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let target = inputs[1].shape
    if x.shape == target { outputs[0] = x; return }
    try outputs.update(0) { try Kernels.broadcast(x, to: target, into: &$0) }
  }
  /// `sumToShapeOf(g, x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    return [try sumToShapeOf(g, op.input(0)), nil]
  }
}

/// Sums `x` down to the run-time shape of `reference`: the inverse of broadcasting, over the
/// leading axes and the axes where `reference` has size 1. The autodiff walker inserts it
/// wherever a gradient's shape may differ from its input's (the one place un-broadcasting
/// happens). Gradient: `broadcastLike(g, x)`; none for the reference.
package struct SumToShapeOf: Primitive, Equatable {
  /// One element: passed through when the shapes are equal, else summed (`0 + x`), as the
  /// kernel below does.
  package func scalarForm(for inputs: [TensorInfo]) -> ScalarForm? {
    inputs[0].shape == inputs[1].shape ? .passThrough : .reduce(ScalarFunction(Add()), identity: 0)
  }
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `SumToShapeOf`.
  package var typeName: String { "SumToShapeOf" }
  /// `x`'s dtype with `reference`'s shape.
  /// - Throws: for a bool `x` (booleans are not summed: the kernel would trap; cast first).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype != .bool else { throw ShapeError("cannot sum a bool tensor; cast it to a number type first") }
    return [TensorInfo(dtype: inputs[0].dtype, shape: inputs[1].shape)]
  }
  /// Sums.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let target = inputs[1].shape
    if x.shape == target { outputs[0] = x; return }
    try outputs.update(0) { try Kernels.sum(x, to: target, into: &$0) }
  }
  /// `broadcastLike(g, x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    return [try broadcastLike(g, op.input(0)), nil]
  }
}

/// `x` broadcast to `reference`'s run-time shape.
public func broadcastLike(_ x: Tensor, _ reference: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(BroadcastLike(), x, reference, name: name, location: x.graph.location(file, line))
}

/// `x` summed down to `reference`'s run-time shape (un-broadcasting).
public func sumToShapeOf(_ x: Tensor, _ reference: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(SumToShapeOf(), x, reference, name: name, location: x.graph.location(file, line))
}
