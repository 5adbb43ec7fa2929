import ArrayCore

// MARK: - Gather and its adjoint

/// Slices of `params` picked by int32 `indices` along `axis` (`tf.gather`):
/// `y[o, i..., r] = params[o, indices[i...], r]`, of shape
/// `params.shape[..<axis] + indices.shape + params.shape[(axis+1)...]`.
/// An index outside the axis is a run-time error naming it.
/// Gradient: `∂L/∂params = scatterAdd(g)`, the upstream slices added into zeros at their
/// indices (repeated indices accumulate); none for the indices.
package struct Gather: Primitive, Equatable {
  /// The axis of `params`, normalized.
  package let axis: Int
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `GatherV2`.
  package var typeName: String { "GatherV2" }
  /// The gathered shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let p = inputs[0], i = inputs[1]
    guard i.dtype == .int32 else { throw ShapeError("indices must be int32, got \(i.dtype)") }
    let d = p.shape.dimensions
    return [TensorInfo(dtype: p.dtype, shape: PartialShape(Array(d[..<axis]) + i.shape.dimensions + Array(d[(axis + 1)...])))]
  }
  /// Gathers.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let p = inputs[0], i = inputs[1]
    try outputs.update(0) { try Kernels.gather(p, indices: i, axis: axis, into: &$0) }
  }
  /// `[scatterAdd(g, indices, like: params), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let p = op.input(0), i = op.input(1)
    return [try p.graph.apply(ScatterAdd(axis: axis), [g, i, p], location: p.graph.gradientLocation), nil]
  }
}

/// Zeros of `reference`'s shape into which the slices of `updates` are added at `indices` along
/// `axis`: the adjoint of ``Gather`` (TF's `UnsortedSegmentSum` along an axis).
/// Gradient: `gather(g, indices)` for the updates; none for the indices and the reference.
package struct ScatterAdd: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// The number of inputs: 3.
  package var arity: Int? { 3 }
  /// `ScatterAdd`.
  package var typeName: String { "ScatterAdd" }
  /// `updates`' dtype with `reference`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0], "updates")
    guard inputs[1].dtype == .int32 else { throw ShapeError("indices must be int32, got \(inputs[1].dtype)") }
    return [TensorInfo(dtype: inputs[0].dtype, shape: inputs[2].shape)]
  }
  /// Adds.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let u = inputs[0], i = inputs[1], shape = inputs[2].shape
    try outputs.update(0) { try Kernels.scatterAdd(u, indices: i, axis: axis, shape: shape, into: &$0) }
  }
  /// `[gather(g, indices), nil, nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil, nil] }
    return [try g.graph.apply(Gather(axis: axis), [g, op.input(1)], location: g.graph.gradientLocation), nil, nil]
  }
}

/// Gathers slices of `params` along `axis` at the int32 `indices` (`tf.gather`).
/// - Throws: ``GraphError`` for non-int32 indices or an axis out of range; at run time an index
///   out of range is a ``SessionError`` naming it.
public func gather(
  _ params: Tensor, indices: Tensor, axis: Int = 0, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = params.graph.location(file, line)
  let ax = try normalized(axis, rank: params.shape.rank, "GatherV2", name, [params, indices], loc)
  return try params.graph.apply(Gather(axis: ax), params, indices, name: name, location: loc)
}

/// Normalizes an axis, throwing a ``GraphError`` that names the operation and its inputs.
func normalized(
  _ axis: Int, rank: Int, _ op: String, _ name: String?, _ inputs: [Tensor], _ location: SourceLocation?
) throws -> Int {
  do {
    return try normalizeAxis(axis, rank: rank)
  } catch {
    throw GraphError.invalidOperation(
      op: op, name: name ?? op, inputs: inputs.map(\.inputDescription), reason: error.message, location: location)
  }
}

// MARK: - One-hot

/// One-hot encoding of int32 indices along a new last axis (`tf.one_hot`):
/// `y[..., j] = on` where `indices[...] == j`, `off` elsewhere; an index outside `0..<depth`
/// gives a row of `off` (as TF). With a second input, the depth is that input's last size
/// (known at run time). Not differentiable.
package struct OneHot: Primitive, Equatable {
  /// The number of classes, or `nil` to take it from the second input's last axis.
  package let depth: Int?
  /// The dtype of the result.
  package let dtype: DType
  /// The value at the index.
  package var on: Double = 1
  /// The value elsewhere.
  package var off: Double = 0
  /// The number of inputs: `depth == nil ? 2 : 1`.
  package var arity: Int? { depth == nil ? 2 : 1 }
  /// `OneHot`.
  package var typeName: String { "OneHot" }
  /// `indices.shape + [depth]`.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype == .int32 else { throw ShapeError("indices must be int32, got \(inputs[0].dtype)") }
    guard dtype != .bool else { throw ShapeError("one-hot values cannot be bool") }
    let d: Int?
    if let depth {
      guard depth >= 0 else { throw ShapeError("depth \(depth) is negative") }
      d = depth
    } else {
      guard inputs.count == 2, inputs[1].shape.rank >= 1 else { throw ShapeError("a depth or a reference tensor is needed") }
      d = inputs[1].shape.dimensions.last!
    }
    return [TensorInfo(dtype: dtype, shape: PartialShape(inputs[0].shape.dimensions + [d]))]
  }
  /// Encodes.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let i = inputs[0]
    let d = depth ?? inputs[1].shape.dimensions.last ?? 0
    try outputs.update(0) { try Kernels.oneHot(i, depth: d, on: on, off: off, dtype: dtype, into: &$0) }
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    [Tensor?](repeating: nil, count: op.inputs.count)
  }
}

/// One-hot encoding of int32 `indices` (`tf.one_hot`): a new last axis of size `depth` holding
/// `on` at each index and `off` elsewhere (a row of `off` for an index outside `0..<depth`).
public func oneHot(
  _ indices: Tensor, depth: Int, on: Double = 1, off: Double = 0, dtype: DType = .float32,
  name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try indices.graph.apply(
    OneHot(depth: depth, dtype: dtype, on: on, off: off), [indices], name: name,
    location: indices.graph.location(file, line))
}
