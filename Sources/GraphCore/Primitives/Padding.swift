import ArrayCore

/// Pads `x` with a constant value (`tf.pad` in `CONSTANT` mode, `PadV2` with its value): along
/// each axis `k`, `before[k]` values go in front and `after[k]` behind, so
/// `y[i] = x[i − before]` where `before[k] ≤ i[k] < before[k] + n[k]` for every axis, and
/// `y[i] = value` elsewhere; `y`'s size along axis `k` is `before[k] + n[k] + after[k]`.
/// Gradient: the interior block of `g`, `slice(g, begin: before, size: shape(x))` (the padding
/// does not depend on `x`).
package struct Pad: Primitive, Equatable {
  /// The number of values in front of each axis (non-negative).
  package let before: [Int]
  /// The number of values behind each axis (non-negative).
  package let after: [Int]
  /// The value of the new elements (converted to the input's dtype).
  package let value: Double
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Pad` (`PadV2` when exported with a value other than 0).
  package var typeName: String { "Pad" }

  /// The padded sizes of `dims`.
  /// - Throws: ``ShapeError`` for a paddings count other than the rank, a negative padding, a
  ///   value the dtype cannot hold, or a size past `Int`.
  func padded(_ dims: [Int?], dtype: DType) throws(ShapeError) -> [Int?] {
    guard before.count == dims.count, after.count == dims.count else {
      throw ShapeError("paddings \(Self.describe(before, after)) need one (before, after) pair per axis of \(PartialShape(dims)) (rank \(dims.count))")
    }
    guard before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 }) else {
      throw ShapeError("paddings \(Self.describe(before, after)) must not be negative")
    }
    switch dtype {
    case .int32:
      guard value.rounded() == value, value >= Double(Int32.min), value <= Double(Int32.max) else {
        throw ShapeError("the padding value \(value) is not an int32")
      }
    case .bool:
      guard value == 0 || value == 1 else { throw ShapeError("the padding value \(value) of a bool tensor must be 0 or 1") }
    case .float32, .float64: break
    }
    var out: [Int?] = []
    for (k, d) in dims.enumerated() {
      guard let d else { out.append(nil); continue }
      let (grown, o1) = d.addingReportingOverflow(before[k])
      let (size, o2) = grown.addingReportingOverflow(after[k])
      guard !o1, !o2 else { throw ShapeError("paddings \(Self.describe(before, after)) overflow axis \(k) of size \(d)") }
      out.append(size)
    }
    return out
  }

  /// `[(1, 2), (0, 0)]`.
  static func describe(_ before: [Int], _ after: [Int]) -> String {
    "[" + zip(before, after).map { "(\($0), \($1))" }.joined(separator: ", ") + "]"
  }

  /// The input's dtype with each axis grown by its paddings.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try padded(inputs[0].shape.dimensions, dtype: inputs[0].dtype)))]
  }

  /// Writes `x` into a block of zeros at `before`, then sets the border to the value when it is
  /// not 0 (one pass over the output with an odometer of indices).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let shape = Shape(try padded(x.shape.dimensions.map { $0 }, dtype: x.dtype).map { $0! })
    try outputs.update(0) { out in
      try Kernels.pad(x, into: shape, at: before, out: &out)
      guard value != 0 else { return }
      switch x.dtype {
      case .float32: fillBorder(&out, x.shape, Float(value))
      case .float64: fillBorder(&out, x.shape, value)
      case .int32: fillBorder(&out, x.shape, Int32(value))
      case .bool: fillBorder(&out, x.shape, true)
      }
    }
  }

  /// Sets every element of `out` outside the block of `inner` at `before` to `v`.
  func fillBorder<T: Element>(_ out: inout NDArray, _ inner: Shape, _ v: T) {
    let dims = out.shape.dimensions
    let rank = dims.count
    let n = out.shape.elementCount
    guard n > 0 else { return }
    var index = [Int](repeating: 0, count: rank)
    out.withUnsafeMutableBufferPointer(as: T.self) { dst in
      for flat in 0..<n {
        var inside = true
        for k in 0..<rank where index[k] < before[k] || index[k] >= before[k] + inner[k] {
          inside = false
          break
        }
        if !inside { dst[flat] = v }
        var k = rank - 1
        while k >= 0 {
          index[k] += 1
          if index[k] < dims[k] { break }
          index[k] = 0
          k -= 1
        }
      }
    }
  }

  /// `slice(g, begin: before, size: shape(x))`; an axis of unknown size padded behind is first
  /// cut with a split into `[before, -1, after]` (its middle part).
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard var g = upstream[0] else { return [nil] }
    let graph = g.graph
    let dims = op.input(0).shape.dimensions
    var begin = before
    var size = [Int](repeating: -1, count: dims.count)
    for (k, d) in dims.enumerated() {
      if let d {
        size[k] = d
      } else if after[k] > 0 {
        g = try graph.addOperation(Split(axis: k, sizes: [before[k], -1, after[k]]), inputs: [g], location: graph.gradientLocation).outputs[1]
        begin[k] = 0
      }
    }
    return [try graph.apply(Slice(begin: begin, size: size), g, location: graph.gradientLocation)]
  }
}

/// `x` padded with `value` (`tf.pad(x, paddings, constant_values=value)`): along each axis `k`,
/// `paddings[k].before` values in front and `paddings[k].after` behind, so
/// `y[i] = x[i − before]` inside and `value` elsewhere, of size `before + n + after` per axis.
/// The gradient is the interior block of the upstream gradient (a slice).
/// - Parameters:
///   - paddings: one `(before, after)` pair per axis of `x`, none negative.
///   - value: the value of the new elements (for int32 an integer, for bool 0 or 1).
/// - Throws: ``GraphError`` naming the operation, `x`'s shape and your source line when the
///   paddings count differs from `x`'s rank, a padding is negative or the value does not fit.
public func pad(
  _ x: Tensor, paddings: [(before: Int, after: Int)], value: Double = 0, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(
    Pad(before: paddings.map(\.before), after: paddings.map(\.after), value: value), [x], name: name,
    location: x.graph.location(file, line))
}

// MARK: - Mirror padding

/// How ``mirrorPad(_:paddings:mode:name:file:line:)`` fills the border (TensorFlow's
/// `MirrorPad` modes): with the elements next to the edge, mirrored.
public enum MirrorPadMode: String, Sendable, CaseIterable {
  /// Mirrored without the edge element: `[1, 2, 3]` padded by 2 on each side is
  /// `[3, 2, 1, 2, 3, 2, 1]` (each padding at most `n − 1`).
  case reflect = "REFLECT"
  /// Mirrored with the edge element: `[1, 2, 3]` padded by 2 on each side is
  /// `[2, 1, 1, 2, 3, 3, 2]` (each padding at most `n`).
  case symmetric = "SYMMETRIC"

  /// The largest padding on one side of an axis of size `n`.
  func limit(_ n: Int) -> Int { self == .reflect ? Swift.max(n - 1, 0) : n }

  /// The source index along an axis of size `n` of padded position `i` (`i` in `−before..<n + after`).
  func source(_ i: Int, _ n: Int) -> Int {
    if i < 0 { return self == .reflect ? -i : -i - 1 }
    if i >= n { return self == .reflect ? 2 * n - 2 - i : 2 * n - 1 - i }
    return i
  }

  /// For each position along a padded axis, its source index in the axis of size `n`.
  func sources(_ n: Int, before: Int, after: Int) -> [Int] {
    (-before..<(n + after)).map { source($0, n) }
  }
}

/// Checks mirror paddings against the sizes `dims`; the padded sizes.
func mirrorPadded(_ dims: [Int?], before: [Int], after: [Int], mode: MirrorPadMode) throws(ShapeError) -> [Int?] {
  guard before.count == dims.count, after.count == dims.count else {
    throw ShapeError("paddings \(Pad.describe(before, after)) need one (before, after) pair per axis of \(PartialShape(dims)) (rank \(dims.count))")
  }
  var out: [Int?] = []
  for (k, d) in dims.enumerated() {
    guard before[k] >= 0, after[k] >= 0 else { throw ShapeError("paddings \(Pad.describe(before, after)) must not be negative") }
    guard let d else { out.append(nil); continue }
    guard before[k] <= mode.limit(d), after[k] <= mode.limit(d) else {
      throw ShapeError(
        "paddings \(Pad.describe(before, after)) do not fit axis \(k) of size \(d): \(mode.rawValue) pads at most \(mode == .reflect ? "size − 1" : "the size") = \(mode.limit(d)) on each side")
    }
    out.append(d + before[k] + after[k])
  }
  return out
}

/// Calls `body(outputFlat, sourceFlat)` for every element of the padded shape `padded`, with the
/// flat index of its source in `shape` (one odometer over the output).
func forEachMirrored(_ shape: Shape, _ padded: [Int], _ maps: [[Int]], _ body: (Int, Int) -> Void) {
  let rank = padded.count
  let n = padded.reduce(1, *)
  guard n > 0 else { return }
  let strides = shape.strides
  var index = [Int](repeating: 0, count: rank)
  var source = (0..<rank).reduce(0) { $0 + maps[$1][0] * strides[$1] }
  for flat in 0..<n {
    body(flat, source)
    var k = rank - 1
    while k >= 0 {
      source -= maps[k][index[k]] * strides[k]
      index[k] += 1
      if index[k] < padded[k] {
        source += maps[k][index[k]] * strides[k]
        break
      }
      index[k] = 0
      source += maps[k][0] * strides[k]
      k -= 1
    }
  }
}

/// Pads `x` with its own elements mirrored at each edge (`tf.pad` in `REFLECT` or `SYMMETRIC`
/// mode, `MirrorPad`): `y[i] = x[s(i − before)]` with, along each axis of size `n`,
/// `s(j) = −j` (REFLECT) or `−j − 1` (SYMMETRIC) before the start, `2n − 2 − j` or `2n − 1 − j`
/// past the end, `j` inside. Gradient: ``MirrorPadGrad``, the adjoint (each element of `g` added
/// to the element of `x` it was copied from).
package struct MirrorPad: Primitive, Equatable {
  /// The number of elements in front of each axis.
  package let before: [Int]
  /// The number of elements behind each axis.
  package let after: [Int]
  /// Reflect or symmetric.
  package let mode: MirrorPadMode
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `MirrorPad`.
  package var typeName: String { "MirrorPad" }
  /// The input's dtype with each axis grown by its paddings (each at most `n − 1` for REFLECT, `n`
  /// for SYMMETRIC).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try mirrorPadded(inputs[0].shape.dimensions, before: before, after: after, mode: mode)))]
  }
  /// Copies each output element from its mirrored source.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    let padded = try mirrorPadded(x.shape.dimensions.map { $0 }, before: before, after: after, mode: mode).map { $0! }
    let maps = x.shape.dimensions.indices.map { mode.sources(x.shape[$0], before: before[$0], after: after[$0]) }
    try outputs.update(0) { out in
      try out.prepare(shape: Shape(padded), dtype: x.dtype)
      switch x.dtype {
      case .float32: copy(x, &out, Float.self, padded, maps)
      case .float64: copy(x, &out, Double.self, padded, maps)
      case .int32: copy(x, &out, Int32.self, padded, maps)
      case .bool: copy(x, &out, Bool.self, padded, maps)
      }
    }
  }

  func copy<T: Element>(_ x: NDArray, _ out: inout NDArray, _: T.Type, _ padded: [Int], _ maps: [[Int]]) {
    x.withUnsafeBufferPointer(as: T.self) { src in
      out.withUnsafeMutableBufferPointer(as: T.self) { dst in
        forEachMirrored(x.shape, padded, maps) { o, s in dst[o] = src[s] }
      }
    }
  }
  /// `MirrorPadGrad(g)`, of `x`'s shape.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try g.graph.apply(MirrorPadGrad(before: before, after: after, mode: mode), g, location: g.graph.gradientLocation)]
  }
}

/// The adjoint of ``MirrorPad`` (TensorFlow's `MirrorPadGrad`): `g` of the padded shape folded
/// back onto the unpadded one, `dx[j] = Σ_{i : s(i) = j} g[i]` (the inner block plus each
/// mirrored border added onto the elements it copied). Gradient: `MirrorPad(g)` (the adjoint's
/// adjoint).
package struct MirrorPadGrad: Primitive, Equatable {
  /// The number of elements in front of each axis of the padded tensor.
  package let before: [Int]
  /// The number of elements behind each axis.
  package let after: [Int]
  /// Reflect or symmetric.
  package let mode: MirrorPadMode
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `MirrorPadGrad`.
  package var typeName: String { "MirrorPadGrad" }

  /// The unpadded sizes of `dims`, checked as ``MirrorPad``'s rule would check them.
  func unpadded(_ dims: [Int?]) throws(ShapeError) -> [Int?] {
    guard before.count == dims.count, after.count == dims.count else {
      throw ShapeError("paddings \(Pad.describe(before, after)) need one (before, after) pair per axis of \(PartialShape(dims)) (rank \(dims.count))")
    }
    let inner: [Int?] = dims.indices.map { k in dims[k].map { $0 - before[k] - after[k] } }
    for case let n? in inner where n < 0 { throw ShapeError("paddings \(Pad.describe(before, after)) exceed \(PartialShape(dims))") }
    _ = try mirrorPadded(inner, before: before, after: after, mode: mode)
    return inner
  }
  /// The unpadded shape (float).
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0])
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(try unpadded(inputs[0].shape.dimensions)))]
  }
  /// Zeros, then each element of `g` added to its source.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let g = inputs[0]
    let inner = Shape(try unpadded(g.shape.dimensions.map { $0 }).map { $0! })
    let maps = inner.dimensions.indices.map { mode.sources(inner[$0], before: before[$0], after: after[$0]) }
    try outputs.update(0) { out in
      try out.prepare(shape: inner, dtype: g.dtype)
      switch g.dtype {
      case .float32: fold(g, &out, Float.self, inner, maps)
      case .float64: fold(g, &out, Double.self, inner, maps)
      default: throw ShapeError("MirrorPadGrad needs a float input, got \(g.dtype)")
      }
    }
  }

  func fold<T: FloatElement>(_ g: NDArray, _ out: inout NDArray, _: T.Type, _ inner: Shape, _ maps: [[Int]]) {
    g.withUnsafeBufferPointer(as: T.self) { src in
      out.withUnsafeMutableBufferPointer(as: T.self) { dst in
        for i in dst.indices { dst[i] = 0 }
        forEachMirrored(inner, g.shape.dimensions, maps) { o, s in dst[s] += src[o] }
      }
    }
  }
  /// `MirrorPad(g)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try g.graph.apply(MirrorPad(before: before, after: after, mode: mode), g, location: g.graph.gradientLocation)]
  }
}

/// `x` padded with its own elements mirrored at each edge (`tf.pad(x, paddings, mode="REFLECT")`
/// or `"SYMMETRIC"`): along each axis of size `n`, position `j` before the start copies
/// `x[−j]` (REFLECT, without the edge) or `x[−j − 1]` (SYMMETRIC, with it), and likewise past the
/// end; `[1, 2, 3]` padded by `(2, 2)` is `[3, 2, 1, 2, 3, 2, 1]` or `[2, 1, 1, 2, 3, 3, 2]`.
/// The gradient adds each border element's gradient onto the element it copied.
/// - Parameters:
///   - paddings: one `(before, after)` pair per axis, none negative, each at most `n − 1`
///     (REFLECT) or `n` (SYMMETRIC).
/// - Throws: ``GraphError`` naming the operation, `x`'s shape and your source line when the
///   paddings count differs from the rank, a padding is negative or larger than the mode allows.
public func mirrorPad(
  _ x: Tensor, paddings: [(before: Int, after: Int)], mode: MirrorPadMode, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(
    MirrorPad(before: paddings.map(\.before), after: paddings.map(\.after), mode: mode), [x], name: name,
    location: x.graph.location(file, line))
}
