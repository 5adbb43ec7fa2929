import ArrayCore

/// Pads `x` with a constant value (`tf.pad` in `CONSTANT` mode, `PadV2` with its value): along
/// each axis `k`, `before[k]` values go in front and `after[k]` behind, so
/// `y[i] = x[i − before]` where `before[k] ≤ i[k] < before[k] + n[k]` for every axis, and
/// `y[i] = value` elsewhere; `y`'s size along axis `k` is `before[k] + n[k] + after[k]`.
/// Gradient: the interior block of `g`, `slice(g, begin: before, size: shape(x))` (the padding
/// does not depend on `x`).
package struct Pad: Primitive {
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
    return [try graph.apply(Slice(begin: begin, size: size), [g], location: graph.gradientLocation)]
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
