import ArrayCore

// MARK: - Transpose

/// Permutes the axes (`tf.transpose`): `y.shape[k] = x.shape[permutation[k]]`.
/// Gradient: `g` transposed by the inverse permutation.
package struct Transpose: Primitive, Equatable {
  /// The permutation of `0..<rank`.
  package let permutation: [Int]
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Transpose`.
  package var typeName: String { "Transpose" }
  /// The permuted shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let d = inputs[0].shape.dimensions
    guard permutation.sorted() == Array(0..<d.count) else {
      throw ShapeError("\(permutation) is not a permutation of the \(d.count) axes of \(inputs[0].shape)")
    }
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(permutation.map { d[$0] }))]
  }
  /// Copies in the new order.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.transpose(x, permutation: permutation, into: &$0) }
  }
  /// `transpose(g, inverse)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    var inverse = permutation
    for (k, p) in permutation.enumerated() { inverse[p] = k }
    return [try g.graph.apply(Transpose(permutation: inverse), g, location: g.graph.gradientLocation)]
  }
}

/// Permutes the axes of `x` (`tf.transpose`): axis `k` of the result is axis `permutation[k]`
/// of `x`. By default the axes are reversed (a matrix transpose for rank 2).
public func transpose(
  _ x: Tensor, permutation: [Int]? = nil, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let perm = permutation ?? Array((0..<x.shape.rank).reversed())
  return try x.graph.apply(Transpose(permutation: perm), x, name: name, location: x.graph.location(file, line))
}

// MARK: - BroadcastTo

/// `x` broadcast to a fixed shape (`tf.broadcast_to`, materialized).
/// Gradient: `g`, which the autodiff walker sums back to `x`'s shape.
package struct BroadcastTo: Primitive, Equatable {
  /// The target shape.
  package let shape: [Int]
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `BroadcastTo`.
  package var typeName: String { "BroadcastTo" }
  /// The target shape, which `x` must broadcast to.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let target = shape.map { Optional($0) }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ShapeError("cannot broadcast \(inputs[0].shape) to \(shape): a negative size") }
    let d: [Int?]
    do {
      d = try broadcastDimensions(inputs[0].shape.dimensions, target)
    } catch {
      throw ShapeError("cannot broadcast \(inputs[0].shape) to \(shape): \(error.message)")
    }
    guard zip(d, target).allSatisfy({ $0 == nil || $0 == $1 }), d.count == target.count
    else { throw ShapeError("cannot broadcast \(inputs[0].shape) to \(shape)") }
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(target))]
  }
  /// Broadcasts.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    if x.shape.dimensions == shape { outputs[0] = x; return }
    try outputs.update(0) { try Kernels.broadcast(x, to: Shape(shape), into: &$0) }
  }
  /// `g` (un-broadcast by the walker).
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [upstream[0]] }
}

/// `x` broadcast to `shape` (`tf.broadcast_to`).
public func broadcast(
  _ x: Tensor, to shape: [Int], name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(BroadcastTo(shape: shape), x, name: name, location: x.graph.location(file, line))
}

// MARK: - Concatenate and split

/// Joins tensors along an axis (`tf.concat`); the other sizes and the dtypes must agree.
/// Gradient: `g` split back into pieces of each input's size.
package struct Concat: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// The number of inputs: variable (the shape rule checks it).
  package var arity: Int? { nil }
  /// `ConcatV2`.
  package var typeName: String { "ConcatV2" }
  /// The joined shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard let first = inputs.first else { throw ShapeError("concat needs at least one input") }
    var dims = first.shape.dimensions
    var total: Int? = 0
    for info in inputs {
      guard info.dtype == first.dtype else { throw ShapeError("dtypes \(first.dtype) and \(info.dtype) differ") }
      guard info.shape.rank == first.shape.rank else {
        throw ShapeError("ranks differ: \(first.shape) and \(info.shape)")
      }
      for (i, d) in info.shape.dimensions.enumerated() where i != axis {
        if let d, let e = dims[i], d != e {
          throw ShapeError("sizes differ outside axis \(axis): \(first.shape) and \(info.shape)")
        }
        dims[i] = dims[i] ?? d
      }
      total = total.flatMap { t in info.shape.dimensions[axis].map { t + $0 } }
    }
    dims[axis] = total
    return [TensorInfo(dtype: first.dtype, shape: PartialShape(dims))]
  }
  /// Copies the parts side by side.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let parts = (0..<inputs.count).map { inputs[$0] }
    try outputs.update(0) { try Kernels.concatenate(parts, axis: axis, into: &$0) }
  }
  /// The pieces of `g`, sized like the inputs at run time.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [Tensor?](repeating: nil, count: op.inputs.count) }
    let split = try g.graph.addOperation(SplitLike(axis: axis), inputs: [g] + op.inputs, location: g.graph.gradientLocation)
    return split.outputs
  }
}

/// Joins `tensors` along `axis` (`tf.concat`).
/// - Throws: ``GraphError`` naming the shapes when they do not fit together.
public func concat(
  _ tensors: [Tensor], axis: Int, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard let first = tensors.first else {
    throw GraphError.invalidArgument(op: "ConcatV2", reason: "nothing to concatenate", location: SourceLocation(file, line))
  }
  let loc = first.graph.location(file, line)
  let ax = try normalized(axis, rank: first.shape.rank, "ConcatV2", name, tensors, loc)
  return try first.graph.apply(Concat(axis: ax), tensors, name: name, location: loc)
}

/// Stacks tensors of one shape along a new axis (`tf.stack`): a composite of
/// ``expandDims(_:axis:name:file:line:)`` and ``concat(_:axis:name:file:line:)``.
public func stack(
  _ tensors: [Tensor], axis: Int = 0, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  guard let first = tensors.first else {
    throw GraphError.invalidArgument(op: "Pack", reason: "nothing to stack", location: SourceLocation(file, line))
  }
  let loc = first.graph.location(file, line)
  let ax = try normalized(axis, rank: first.shape.rank + 1, "Pack", name, tensors, loc)
  for t in tensors where t.shape != first.shape || t.dtype != first.dtype {
    throw GraphError.invalidOperation(
      op: "Pack", name: name ?? "Pack", inputs: tensors.map(\.inputDescription),
      reason: "stacked tensors need one shape and dtype, got \(first.dtype) \(first.shape) and \(t.dtype) \(t.shape)",
      location: loc)
  }
  return try first.graph.withNameScope(name ?? "Pack") {
    try concat(tensors.map { try first.graph.apply(ExpandDims(axis: ax), [$0], location: loc) }, axis: ax, file: file, line: line)
  }
}

/// Splits `x` along `axis` into consecutive parts (`tf.split`), one output per part: one size
/// may be `-1` (the rest). Gradient: the upstream parts concatenated (zeros for parts that
/// receive none).
package struct Split: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// The sizes of the parts; at most one `-1`.
  package let sizes: [Int]
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `SplitV`.
  package var typeName: String { "SplitV" }

  func resolve(_ n: Int?) throws -> [Int?] {
    let unknown = sizes.filter { $0 == -1 }.count
    guard unknown <= 1, sizes.allSatisfy({ $0 >= -1 }) else {
      throw ShapeError("invalid sizes \(sizes): sizes must be >= 0 with at most one -1")
    }
    let known: Int
    do { known = try Shape.checkedSum(sizes.filter { $0 != -1 }) } catch {
      throw ShapeError("invalid sizes \(sizes): \(error.message)")
    }
    guard let n else { return sizes.map { $0 == -1 ? nil : $0 } }
    if unknown == 0 ? known != n : known > n {
      throw ShapeError("sizes \(sizes) do not add up to \(n), the size of axis \(axis)")
    }
    return sizes.map { $0 == -1 ? n - known : $0 }
  }
  /// One output per size.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[0]
    return try resolve(x.shape.dimensions[axis]).map { s in
      var d = x.shape.dimensions
      d[axis] = s
      return TensorInfo(dtype: x.dtype, shape: PartialShape(d))
    }
  }
  /// Copies each part.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let parts = try resolve(x.shape[axis]).map { $0! }
    try copyParts(x, axis: axis, sizes: parts, outputs)
  }
  /// `concat(g₀, g₁, …)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    [try concatUpstream(upstream, op, axis: axis)]
  }
}

/// `x` split along `axis` into parts sized like the reference inputs at run time: the gradient
/// of ``Concat``. Gradient: the upstream parts concatenated; none for the references.
package struct SplitLike: Primitive, Equatable {
  /// The axis, normalized.
  package let axis: Int
  /// The number of inputs: variable (the shape rule checks it).
  package var arity: Int? { nil }
  /// `SplitLike`.
  package var typeName: String { "SplitLike" }
  /// One output per reference: `x`'s shape with the reference's size along `axis`.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard !inputs.isEmpty, inputs.allSatisfy({ axis >= 0 && axis < $0.shape.rank }) else {
      throw ShapeError("SplitLike needs the tensor to split and references with axis \(axis)")
    }
    return inputs.dropFirst().map { r in
      var d = inputs[0].shape.dimensions
      d[axis] = r.shape.dimensions[axis]
      return TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(d))
    }
  }
  /// Copies each part.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    try copyParts(inputs[0], axis: axis, sizes: (1..<inputs.count).map { inputs[$0].shape[axis] }, outputs)
  }
  /// `[concat(g₀, g₁, …), nil, …]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    [try concatUpstream(upstream, op, axis: axis)] + [Tensor?](repeating: nil, count: op.inputs.count - 1)
  }
}

func copyParts(_ x: NDArray, axis: Int, sizes: [Int], _ outputs: Results) throws {
  guard sizes.reduce(0, +) == x.shape[axis] else {
    throw ShapeError("parts of sizes \(sizes) do not split axis \(axis) of \(x.shape)")
  }
  var begin = [Int](repeating: 0, count: x.rank)
  for (i, n) in sizes.enumerated() {
    var size = x.shape.dimensions
    size[axis] = n
    let b = begin
    try outputs.update(i) { try Kernels.slice(x, begin: b, size: size, into: &$0) }
    begin[axis] += n
  }
}

/// The most parts ``split(_:count:axis:name:file:line:)`` makes (2²⁰): each part is an output
/// with its own bookkeeping, so a count near `Int.max` (possible for a size-0 axis) is refused
/// instead of exhausting memory.
public let maximumSplitCount = 1 << 20

func concatUpstream(_ upstream: [Tensor?], _ op: Operation, axis: Int) throws -> Tensor? {
  guard upstream.contains(where: { $0 != nil }) else { return nil }
  let outs = op.outputs
  let parts = try upstream.indices.map { i in try upstream[i] ?? zerosLike(outs[i]) }
  let g = parts[0].graph
  return try g.apply(Concat(axis: axis), parts, location: g.gradientLocation)
}

/// Splits `x` along `axis` into `count` equal parts (`tf.split(x, count, axis)`).
/// - Throws: ``GraphError`` when the axis' size is unknown or not divisible by `count`, or `count`
///   is not in `1...maximumSplitCount`.
public func split(
  _ x: Tensor, count: Int, axis: Int = 0, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor] {
  let loc = x.graph.location(file, line)
  let ax = try normalized(axis, rank: x.shape.rank, "SplitV", name, [x], loc)
  guard count > 0, count <= maximumSplitCount, let n = x.shape.dimensions[ax], n % count == 0 else {
    throw GraphError.invalidOperation(
      op: "SplitV", name: name ?? "SplitV", inputs: [x.inputDescription],
      reason: "axis \(ax) of \(x.shape) cannot be split into \(count) equal parts", location: loc)
  }
  return try x.graph.addOperation(
    Split(axis: ax, sizes: [Int](repeating: n / count, count: count)), inputs: [x], name: name, location: loc
  ).outputs
}

/// Splits `x` along `axis` into consecutive parts of the given `sizes` (`tf.split(x, sizes,
/// axis)`); one size may be `-1`, meaning the rest.
public func split(
  _ x: Tensor, sizes: [Int], axis: Int = 0, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor] {
  let loc = x.graph.location(file, line)
  let ax = try normalized(axis, rank: x.shape.rank, "SplitV", name, [x], loc)
  return try x.graph.addOperation(Split(axis: ax, sizes: sizes), inputs: [x], name: name, location: loc).outputs
}

// MARK: - Slice

/// The block of `x` that starts at `begin` and has `size` elements along each axis (`tf.slice`);
/// a size of `-1` extends to the end of the axis.
/// Gradient: `g` written into zeros of `x`'s shape at `begin`.
package struct Slice: Primitive, Equatable {
  /// The first index along each axis.
  package let begin: [Int]
  /// The size along each axis, `-1` for "to the end".
  package let size: [Int]
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Slice`.
  package var typeName: String { "Slice" }

  func resolve(_ dims: [Int?]) throws -> [Int?] {
    guard begin.count == dims.count, size.count == dims.count else {
      throw ShapeError("begin \(begin) and size \(size) need one entry per axis of \(PartialShape(dims))")
    }
    return try dims.indices.map { i in
      let b = begin[i], s = size[i]
      guard b >= 0, s >= -1 else { throw ShapeError("invalid begin \(begin) or size \(size)") }
      guard let d = dims[i] else { return s == -1 ? nil : s }
      let r = s == -1 ? d - b : s
      guard b <= d, r >= 0, r <= d - b else {
        throw ShapeError("slice at \(begin) of size \(size) does not fit in \(PartialShape(dims))")
      }
      return r
    }
  }
  /// The block's shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try resolve(inputs[0].shape.dimensions)))]
  }
  /// Copies the block.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let s = try resolve(x.shape.dimensions.map { $0 }).map { $0! }
    try outputs.update(0) { try Kernels.slice(x, begin: begin, size: s, into: &$0) }
  }
  /// `pad(g)` into zeros of `x`'s shape.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try g.graph.apply(SliceGrad(begin: begin, size: size), [g, op.input(0)], location: g.graph.gradientLocation)]
  }
}

/// Zeros of `reference`'s shape with `x` written at `begin`: the gradient of ``Slice``.
/// Gradient: the same slice of `g` for `x`; none for the reference.
package struct SliceGrad: Primitive, Equatable {
  /// Where `x` goes.
  package let begin: [Int]
  /// The slice's size specification (for the gradient).
  package let size: [Int]
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `SliceGrad`.
  package var typeName: String { "SliceGrad" }
  /// `x`'s dtype with `reference`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: inputs[1].shape)]
  }
  /// Pads with zeros.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], shape = inputs[1].shape
    try outputs.update(0) { try Kernels.pad(x, into: shape, at: begin, out: &$0) }
  }
  /// `[slice(g, begin, size), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    return [try g.graph.apply(Slice(begin: begin, size: size), g, location: g.graph.gradientLocation), nil]
  }
}

/// The block of `x` starting at `begin` with `size` elements per axis (`tf.slice`); a size of
/// `-1` takes everything to the end of the axis.
public func slice(
  _ x: Tensor, begin: [Int], size: [Int], name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(Slice(begin: begin, size: size), x, name: name, location: x.graph.location(file, line))
}
