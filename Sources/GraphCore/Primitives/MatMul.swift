import ArrayCore

/// The matrix product of the last two dimensions, `C = op(A) · op(B)` with `op` the identity or
/// the transpose, batch dimensions broadcast (`tf.matmul`).
///
/// Gradients (for `C = A·B`): `∂L/∂A = G·Bᵀ`, `∂L/∂B = Aᵀ·G`; the transposed variants follow
/// by the same rule. Broadcast batch dimensions are summed back by the autodiff walker.
package struct MatMul: Primitive, Equatable {
  /// Transpose the first operand's last two dimensions.
  package let transposeA: Bool
  /// Transpose the second operand's last two dimensions.
  package let transposeB: Bool
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// `MatMul` (`BatchMatMul` semantics for rank > 2).
  package var typeName: String { "MatMul" }

  /// `[batch..., m, n]`.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let a = inputs[0], b = inputs[1]
    try requireFloat(a, "a")
    guard a.dtype == b.dtype else { throw ShapeError("dtypes \(a.dtype) and \(b.dtype) differ") }
    guard a.shape.rank >= 2, b.shape.rank >= 2 else {
      throw ShapeError("matmul needs rank >= 2 operands, got \(a.shape) and \(b.shape)")
    }
    let ad = a.shape.dimensions, bd = b.shape.dimensions
    let m = transposeA ? ad[ad.count - 1] : ad[ad.count - 2]
    let k1 = transposeA ? ad[ad.count - 2] : ad[ad.count - 1]
    let k2 = transposeB ? bd[bd.count - 1] : bd[bd.count - 2]
    let n = transposeB ? bd[bd.count - 2] : bd[bd.count - 1]
    if let k1, let k2, k1 != k2 {
      throw ShapeError("inner dimensions \(k1) and \(k2) differ for \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    }
    let batch = try broadcastDimensions(Array(ad.dropLast(2)), Array(bd.dropLast(2)))
    return [TensorInfo(dtype: a.dtype, shape: PartialShape(batch + [m, n]))]
  }

  /// Multiplies.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let a = inputs[0], b = inputs[1]
    try outputs.update(0) { try Kernels.matmul(a, b, transposeA: transposeA, transposeB: transposeB, into: &$0) }
  }

  /// The four transpose cases of `∂L/∂A` and `∂L/∂B` (the definition:
  /// ``gradient(of:upstream:needed:)``).
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    try gradient(of: op, upstream: upstream, needed: .all)
  }

  /// The four transpose cases of `∂L/∂A` and `∂L/∂B`, each built only when `needed` (an eager
  /// step skips the first layer's `∂L/∂x`, a product as large as the layer's forward one).
  package func gradient(of op: Operation, upstream: [Tensor?], needed: InputMask) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let a = op.input(0), b = op.input(1)
    let wantA = needed.contains(0), wantB = needed.contains(1)
    switch (transposeA, transposeB) {
    case (false, false):
      return [wantA ? try matmul(g, b, transposeB: true) : nil, wantB ? try matmul(a, g, transposeA: true) : nil]
    case (true, false):
      return [wantA ? try matmul(b, g, transposeB: true) : nil, wantB ? try matmul(a, g) : nil]
    case (false, true):
      return [wantA ? try matmul(g, b) : nil, wantB ? try matmul(g, a, transposeA: true) : nil]
    case (true, true):
      return [
        wantA ? try matmul(b, g, transposeA: true, transposeB: true) : nil,
        wantB ? try matmul(g, a, transposeA: true, transposeB: true) : nil,
      ]
    }
  }
}

/// The matrix product `op(a) · op(b)` over the last two dimensions (`tf.matmul`), with
/// broadcast batch dimensions.
public func matmul(
  _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try a.graph.apply(
    MatMul(transposeA: transposeA, transposeB: transposeB), [a, b], name: name, location: a.graph.location(file, line))
}
