import ArrayCore

/// The sum over some axes (`tf.reduce_sum`): `y = Σ_axes x`, removing the axes or keeping them
/// with size 1. Gradient: `g` with the reduced axes restored, broadcast to `x`'s shape.
package struct Sum: Primitive, Equatable {
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

/// The product over some axes (`tf.reduce_prod`): `y = Π_axes x`, removing the axes or keeping
/// them with size 1 (the product of no elements is 1). Gradient (TensorFlow's, correct with
/// zeros): `∂y/∂x_i` is the product of the other elements of `x_i`'s group, built from exclusive
/// running products without dividing by `x_i`, times `g` broadcast back to `x`'s shape (see
/// ``productOfOthers(_:axes:)``).
package struct Product: Primitive, Equatable {
  /// The axes, normalized and sorted; every axis when built with `nil`.
  package let axes: [Int]
  /// Whether reduced axes stay with size 1.
  package let keepDims: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Prod`.
  package var typeName: String { "Prod" }
  /// The reduced shape (float or int32; int32 products wrap around on overflow).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype != .bool else { throw ShapeError("cannot multiply a bool tensor; cast it to a number type first") }
    return [reducedType(inputs[0], axes: axes, keepDims: keepDims)]
  }
  /// Multiplies each group's elements in order, from 1.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    switch x.dtype {
    case .float32: outputs.update(0) { Kernels.reduce(x, Float.self, axes: axes, keepDims: keepDims, initial: 1, into: &$0, *) }
    case .float64: outputs.update(0) { Kernels.reduce(x, Double.self, axes: axes, keepDims: keepDims, initial: 1, into: &$0, *) }
    case .int32: outputs.update(0) { Kernels.reduce(x, Int32.self, axes: axes, keepDims: keepDims, initial: 1, into: &$0, &*) }
    case .bool: throw ShapeError("Prod cannot multiply a bool tensor")
    }
  }
  /// `broadcastLike(expandDims(g, axes), x) · productOfOthers(x, axes)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard var g = upstream[0] else { return [nil] }
    let x = op.input(0)
    if !keepDims { for a in axes { g = try expandDims(g, axis: a) } }
    let spread = try broadcastLike(g, x)
    guard !axes.isEmpty else { return [spread] }
    return [try multiply(spread, productOfOthers(x, axes: axes))]
  }
}

/// For each element of `x`, the product of the other elements of its group over `axes` (not
/// empty): `∂(Π_axes x)/∂x_i`, without division, so exact when elements are 0. Along one axis it
/// is `cumprod(x, exclusive) · cumprod(x, exclusive, reverse)` (the products before and after
/// the element); over axes `[a] + rest` it is that along `a` of `Π_rest x` (kept dims: the
/// other rows of the group, whole) times the product of the others over `rest` in the
/// element's own row: `Π_{j ≠ i} x_j = Π_{rows r ≠ row(i)} Π_r · Π_{j ∈ row(i), j ≠ i} x_j`.
func productOfOthers(_ x: Tensor, axes: [Int]) throws -> Tensor {
  let graph = x.graph
  let axis = axes[0], rest = Array(axes.dropFirst())
  let rows = rest.isEmpty ? x : try graph.apply(Product(axes: rest, keepDims: true), x, location: graph.gradientLocation)
  let front = try graph.apply(CumulativeProduct(axis: axis, exclusive: true, reverse: false), rows, location: graph.gradientLocation)
  let back = try graph.apply(CumulativeProduct(axis: axis, exclusive: true, reverse: true), rows, location: graph.gradientLocation)
  let along = try multiply(front, back)
  guard !rest.isEmpty else { return along }
  return try multiply(along, productOfOthers(x, axes: rest))
}

/// The number of elements along some axes of `x`, as a scalar of `x`'s dtype (the divisor of
/// ``mean(_:axes:keepDims:name:file:line:)``). Its value does not depend on `x`'s values, so it
/// has no gradient.
package struct ElementCount: Primitive, Equatable {
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
  return try x.graph.apply(Sum(axes: try reductionAxes(x, axes, "Sum", loc), keepDims: keepDims), x, name: name, location: loc)
}

/// The product of `x`'s elements over `axes` (all when `nil`), `Π_axes x` (`tf.reduce_prod`);
/// the product of no elements is 1. Its gradient is right when elements are 0: `∂y/∂x_i` is the
/// product of the other elements of `x_i`'s group, computed from exclusive running products
/// (TensorFlow's method), not as `y / x_i`.
/// - Parameter keepDims: keep reduced axes with size 1.
/// - Throws: ``GraphError`` naming the operation, the shape and your source line when an axis
///   is out of range or repeated, or `x` is bool.
public func product(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  return try x.graph.apply(Product(axes: try reductionAxes(x, axes, "Prod", loc), keepDims: keepDims), x, name: name, location: loc)
}

/// The mean of `x`'s elements over `axes` (all when `nil`), `Σ_axes x / n` (`tf.reduce_mean`).
/// A composite of ``sum(_:axes:keepDims:name:file:line:)`` and a division.
public func mean(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let ax = try reductionAxes(x, axes, "Mean", loc)
  let total = try x.graph.apply(Sum(axes: ax, keepDims: keepDims), x, name: name.map { $0 + "/sum" }, location: loc)
  let count = try x.graph.apply(ElementCount(axes: ax), x, location: loc)
  return try x.graph.apply(Binary(Divide()), total, count, name: name ?? "Mean", location: loc)
}
