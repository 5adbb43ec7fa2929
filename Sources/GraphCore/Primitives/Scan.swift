import ArrayCore

/// The running sum along one axis (`tf.math.cumsum`): `y[..., i, ...] = Σ_{j ≤ i} x[..., j, ...]`,
/// or `Σ_{j < i}` when `exclusive`, summing from the end when `reverse`.
/// Gradient: the running sum of `g` the other way, `cumsum(g, axis, exclusive, reverse: !reverse)`.
package struct CumulativeSum: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// Whether each element is left out of its own sum.
  package let exclusive: Bool
  /// Whether the sum runs from the last element to the first.
  package let reverse: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Cumsum`.
  package var typeName: String { "Cumsum" }
  /// One element: the element itself (the first sum is a copy, as the kernel's), or 0 when exclusive.
  package var scalarForm: ScalarForm? { exclusive ? .constant(0) : .passThrough }
  /// The input's type (float).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [inputs[0]]
  }
  /// Sums along the axis: the first element of each line is copied (or 0 when exclusive), each
  /// next one adds to the previous sum.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    switch x.dtype {
    case .float32: outputs.update(0) { scan(x, Float.self, &$0) }
    case .float64: outputs.update(0) { scan(x, Double.self, &$0) }
    default: throw ShapeError("Cumsum needs a float input, got \(x.dtype)")
    }
  }

  func scan<T: FloatElement>(_ x: NDArray, _: T.Type, _ out: inout NDArray) {
    runningScan(x, axis: axis, exclusive: exclusive, reverse: reverse, identity: T(0), into: &out, +)
  }
  /// `cumsum(g, axis, exclusive, reverse: !reverse)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try g.graph.apply(CumulativeSum(axis: axis, exclusive: exclusive, reverse: !reverse), g)]
  }
}

/// The running sum of `x` along `axis` (`tf.math.cumsum`, NumPy's `cumsum`): with `exclusive`
/// each element is left out of its own sum (the first result is 0); with `reverse` the sums run
/// from the end.
/// - Throws: ``GraphError`` when `axis` is out of range or `x` is not floating point.
public func cumsum(
  _ x: Tensor, axis: Int = 0, exclusive: Bool = false, reverse: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let ax = try normalized(axis, rank: x.shape.rank, "Cumsum", name, [x], loc)
  return try x.graph.apply(CumulativeSum(axis: ax, exclusive: exclusive, reverse: reverse), x, name: name, location: loc)
}

/// The running product along one axis (`tf.math.cumprod`): `y[..., i, ...] = Π_{j ≤ i} x[..., j, ...]`,
/// or `Π_{j < i}` when `exclusive` (the first is 1), multiplying from the end when `reverse`.
/// Gradient (TensorFlow's): `cumsum(g · y, axis, exclusive, reverse: !reverse) / x`, which
/// divides by `x` (like TensorFlow's, not defined where an element is 0; ``Product``'s gradient
/// uses this operation's values only, so it is exact there).
package struct CumulativeProduct: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// Whether each element is left out of its own product.
  package let exclusive: Bool
  /// Whether the product runs from the last element to the first.
  package let reverse: Bool
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Cumprod`.
  package var typeName: String { "Cumprod" }
  /// The input's type (float).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    guard axis >= 0, axis < inputs[0].shape.rank else {
      throw ShapeError("axis \(axis) is out of range for rank \(inputs[0].shape.rank)")
    }
    return [inputs[0]]
  }
  /// Multiplies along the axis: the first element of each line is copied (or 1 when
  /// exclusive), each next one multiplies the previous product.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    switch x.dtype {
    case .float32: outputs.update(0) { scan(x, Float.self, &$0) }
    case .float64: outputs.update(0) { scan(x, Double.self, &$0) }
    default: throw ShapeError("Cumprod needs a float input, got \(x.dtype)")
    }
  }

  func scan<T: FloatElement>(_ x: NDArray, _: T.Type, _ out: inout NDArray) {
    runningScan(x, axis: axis, exclusive: exclusive, reverse: reverse, identity: T(1), into: &out, *)
  }
  /// `cumsum(g · y, exclusive, reverse: !reverse) / x`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let graph = g.graph
    let weighted = try multiply(g, op.output)
    let sums = try graph.apply(CumulativeSum(axis: axis, exclusive: exclusive, reverse: !reverse), weighted, location: graph.gradientLocation)
    return [try divide(sums, op.input(0))]
  }
}

/// The running product of `x` along `axis` (`tf.math.cumprod`): `y_i = Π_{j ≤ i} x_j`; with
/// `exclusive` each element is left out of its own product (`Π_{j < i} x_j`, the first is 1);
/// with `reverse` the products run from the end. Its gradient divides by `x` (as TensorFlow's),
/// so it is not defined where an element is 0.
/// - Throws: ``GraphError`` when `axis` is out of range or `x` is not floating point.
public func cumprod(
  _ x: Tensor, axis: Int = 0, exclusive: Bool = false, reverse: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = x.graph.location(file, line)
  let ax = try normalized(axis, rank: x.shape.rank, "Cumprod", name, [x], loc)
  return try x.graph.apply(CumulativeProduct(axis: ax, exclusive: exclusive, reverse: reverse), x, name: name, location: loc)
}

/// The running `combine` of `x` along `axis` into `out` (the kernel of ``CumulativeSum`` and
/// ``CumulativeProduct``): each line's first element is copied and each next one combined with
/// the running value before it, from the end when `reverse`; when `exclusive`, each position
/// gets the running value before its own element (`identity` at the first).
func runningScan<T: FloatElement>(
  _ x: NDArray, axis: Int, exclusive: Bool, reverse: Bool, identity: T, into out: inout NDArray, _ combine: (T, T) -> T
) {
  out.prepare(fittingAnInput: x.shape, dtype: x.dtype)
  let dims = x.shape.dimensions
  let length = dims[axis]
  let inner = dims[(axis + 1)...].reduce(1, *)
  let outer = dims[..<axis].reduce(1, *)
  guard length > 0, inner > 0, outer > 0 else { return }
  x.withUnsafeBufferPointer(as: T.self) { src in
    out.withUnsafeMutableBufferPointer(as: T.self) { dst in
      for o in 0..<outer {
        for k in 0..<inner {
          let base = o * length * inner + k
          var running = identity
          for step in 0..<length {
            let i = base + (reverse ? length - 1 - step : step) * inner
            if exclusive { dst[i] = running }
            running = step == 0 ? src[i] : combine(running, src[i])
            if !exclusive { dst[i] = running }
          }
        }
      }
    }
  }
}
