import ArrayCore

/// The sum over some axes (`tf.reduce_sum`): `y = Σ_axes x`, removing the axes or keeping them
/// with size 1. Gradient: `g` with the reduced axes restored, broadcast to `x`'s shape.
package struct Sum: Primitive {
  /// A sum of one element: the reduction's `0 + x` (the scalar fast path).
  package var scalarForm: ScalarForm? { .reduce(ScalarFunction(Add()), identity: 0) }
  /// The axes, normalized and sorted; every axis when built with `nil`.
  package let axes: [Int]
  /// Whether reduced axes stay with size 1.
  package let keepDims: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Sum`.
  package var typeName: String { "Sum" }
  /// The reduced shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [reducedType(inputs[0], axes: axes, keepDims: keepDims)]
  }
  /// Sums.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    outputs.update(0) { Kernels.sum(x, axes: axes, keepDims: keepDims, into: &$0) }
  }
  /// `broadcastLike(expandDims(g, axes), x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard var g = upstream[0] else { return [nil] }
    if !keepDims { for a in axes { g = try expandDims(g, axis: a) } }
    return [try broadcastLike(g, op.input(0))]
  }
}

/// The number of elements along some axes of `x`, as a scalar of `x`'s dtype (the divisor of
/// ``mean(_:axes:keepDims:name:file:line:)``). Its value does not depend on `x`'s values, so it
/// has no gradient.
package struct ElementCount: Primitive {
  /// Every axis of a one-element tensor has size 1 (the scalar fast path).
  package var scalarForm: ScalarForm? { .constant(1) }
  /// The axes counted.
  package let axes: [Int]
  /// Counts the elements along `axes` (normalized).
  package init(axes: [Int]) { self.axes = axes }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Size`.
  package var typeName: String { "Size" }
  /// A scalar.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: [])]
  }
  /// Counts.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let n = axes.reduce(1) { $0 * x.shape[$1] }
    outputs[0] = NDArray(scalar: Double(n), dtype: x.dtype)
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

/// The static type of reducing `input` over `axes` (normalized): the axes removed, or kept with
/// size 1 (the shape rule of every reduction).
func reducedType(_ input: TensorInfo, axes: [Int], keepDims: Bool) -> TensorInfo {
  let dims = input.shape.dimensions
  var out: [Int?] = []
  for i in dims.indices {
    if axes.contains(i) { if keepDims { out.append(1) } } else { out.append(dims[i]) }
  }
  return TensorInfo(dtype: input.dtype, shape: PartialShape(out))
}

func reductionAxes(_ x: Tensor, _ axes: [Int]?, _ op: String, _ location: SourceLocation?) throws -> [Int] {
  do {
    return try normalizeAxes(axes, rank: x.shape.rank)
  } catch {
    throw GraphError.invalidOperation(
      op: op, name: op, inputs: [x.inputDescription], reason: error.message, location: location)
  }
}

/// The sum of `x`'s elements over `axes` (all when `nil`), `Σ_axes x` (`tf.reduce_sum`).
/// - Parameter keepDims: keep reduced axes with size 1.
public func sum(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  return try x.graph.apply(Sum(axes: try reductionAxes(x, axes, "Sum", loc), keepDims: keepDims), [x], name: name, location: loc)
}

/// The mean of `x`'s elements over `axes` (all when `nil`), `Σ_axes x / n` (`tf.reduce_mean`).
/// A composite of ``sum(_:axes:keepDims:name:file:line:)`` and a division.
public func mean(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let ax = try reductionAxes(x, axes, "Mean", loc)
  let total = try x.graph.apply(Sum(axes: ax, keepDims: keepDims), [x], name: name.map { $0 + "/sum" }, location: loc)
  let count = try x.graph.apply(ElementCount(axes: ax), [x], location: loc)
  return try x.graph.apply(Binary(Divide()), [total, count], name: name ?? "Mean", location: loc)
}
