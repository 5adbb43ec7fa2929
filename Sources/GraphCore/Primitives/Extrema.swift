import ArrayCore

/// The maximum or minimum over some axes (`tf.reduce_max`, `tf.reduce_min`), removing the axes
/// or keeping them with size 1. NaN propagates; an empty reduction gives `∓∞`.
///
/// Gradient (TF's rule): the upstream gradient flows to the positions that attain the extreme,
/// split equally between ties: `∂L/∂x = g · 1[x = y] / Σ_axes 1[x = y]` (with `g` and `y`
/// broadcast back over the reduced axes).
package struct Extremum: Primitive, Equatable {
  /// The largest or the smallest.
  package enum Kind: String, Sendable { case max, min }
  /// Which extreme.
  package let kind: Kind
  /// The axes, normalized and sorted.
  package let axes: [Int]
  /// Whether reduced axes stay with size 1.
  package let keepDims: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Max` or `Min`.
  package var typeName: String { kind == .max ? "Max" : "Min" }
  /// The reduced shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [reducedType(inputs[0], axes: axes, keepDims: keepDims)]
  }
  /// Reduces.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.extreme(x, axes: axes, keepDims: keepDims, largest: kind == .max, into: &$0) }
  }
  /// `g · 1[x = y] / Σ_axes 1[x = y]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard var g = upstream[0] else { return [nil] }
    let x = op.input(0)
    var y = op.output
    if !keepDims {
      for a in axes {
        g = try expandDims(g, axis: a)
        y = try expandDims(y, axis: a)
      }
    }
    let hits = try cast(equal(x, y), to: x.dtype)
    let count = try sum(hits, axes: axes, keepDims: true)
    return [try g * (hits / count)]
  }
}

/// The largest element of `x` over `axes` (all when `nil`), `max_axes x` (`tf.reduce_max`).
/// The gradient goes to the maximal elements, split equally between ties.
public func max(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let prim = Extremum(kind: .max, axes: try reductionAxes(x, axes, "Max", loc), keepDims: keepDims)
  return try x.graph.apply(prim, x, name: name, location: loc)
}

/// The smallest element of `x` over `axes` (all when `nil`), `min_axes x` (`tf.reduce_min`).
/// The gradient goes to the minimal elements, split equally between ties.
public func min(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let prim = Extremum(kind: .min, axes: try reductionAxes(x, axes, "Min", loc), keepDims: keepDims)
  return try x.graph.apply(prim, x, name: name, location: loc)
}

/// `log Σ_axes eˣ`, computed stably as `m + log Σ_axes e^(x - m)` with `m = max_axes x`
/// (`tf.reduce_logsumexp`). A composite; its gradient is the softmax over the axes (the shift
/// goes through ``stopGradient(_:name:file:line:)``, which is exact since the result does not
/// depend on `m`). Where `m` is infinite (or NaN), the shift is 0, as TensorFlow's: a row of
/// `-∞` (a masked row) gives `-∞` and a row holding `+∞` gives `+∞`, not `∞ - ∞ = NaN`.
public func logSumExp(
  _ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let ax = try reductionAxes(x, axes, "LogSumExp", loc)
  return try x.graph.withNameScope(name ?? "LogSumExp") {
    let largest = try x.graph.apply(Extremum(kind: .max, axes: ax, keepDims: true), x, location: loc)
    let finite = try less(abs(largest), x.graph.scalar(.infinity, like: x))
    let m = try stopGradient(select(finite, largest, zerosLike(largest)))
    let total = try x.graph.apply(Sum(axes: ax, keepDims: true), [exp(x - m)], location: loc)
    let r = try log(total) + m
    return keepDims ? r : try x.graph.apply(Squeeze(axes: ax), r, location: loc)
  }
}

/// The index of the largest or smallest element along one axis, as int32 (`tf.argmax`,
/// `tf.argmin` with `output_type=tf.int32`); the first one on ties. Not differentiable.
package struct ArgExtremum: Primitive, Equatable {
  /// Largest or smallest.
  package let kind: Extremum.Kind
  /// The axis, normalized.
  package let axis: Int
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `ArgMax` or `ArgMin`.
  package var typeName: String { kind == .max ? "ArgMax" : "ArgMin" }
  /// The input's shape without `axis`, as int32.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs[0].dtype != .bool else { throw ShapeError("needs a numeric input, got bool") }
    var dims = inputs[0].shape.dimensions
    if dims[axis] == 0 { throw ShapeError("axis \(axis) is empty") }
    dims.remove(at: axis)
    return [TensorInfo(dtype: .int32, shape: PartialShape(dims))]
  }
  /// Finds the indices.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.argExtreme(x, axis: axis, largest: kind == .max, into: &$0) }
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

func argExtremum(
  _ kind: Extremum.Kind, _ x: Tensor, _ axis: Int, _ name: String?, _ file: StaticString, _ line: UInt
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let op = kind == .max ? "ArgMax" : "ArgMin"
  let ax: Int
  do {
    ax = try normalizeAxis(axis, rank: x.shape.rank)
  } catch {
    throw GraphError.invalidOperation(op: op, name: name ?? op, inputs: [x.inputDescription], reason: error.message, location: loc)
  }
  return try x.graph.apply(ArgExtremum(kind: kind, axis: ax), x, name: name, location: loc)
}

/// The index of the largest element along `axis`, as int32 (`tf.argmax`); the first on ties.
/// No gradient.
public func argMax(_ x: Tensor, axis: Int = -1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try argExtremum(.max, x, axis, name, file, line)
}

/// The index of the smallest element along `axis`, as int32 (`tf.argmin`); the first on ties.
/// No gradient.
public func argMin(_ x: Tensor, axis: Int = -1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try argExtremum(.min, x, axis, name, file, line)
}
