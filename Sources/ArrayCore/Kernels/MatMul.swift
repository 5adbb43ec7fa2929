extension Kernels {
  /// Matrix product of the last two dimensions, `out[..., i, j] = Σ_k a[..., i, k] b[..., k, j]`,
  /// with optional transposition of either operand and NumPy broadcasting of the batch
  /// dimensions.
  /// - Throws: ``ShapeError`` for ranks below 2, mismatched inner dimensions or batch shapes.
  public static func matmul(
    _ a: NDArray, _ b: NDArray, transposeA: Bool = false, transposeB: Bool = false,
    into out: inout NDArray
  ) throws(ShapeError) {
    guard a.rank >= 2, b.rank >= 2 else {
      throw ShapeError("matmul needs rank >= 2 operands, got \(a.shape) and \(b.shape)")
    }
    guard a.dtype == b.dtype, a.dtype.isFloatingPoint else {
      throw ShapeError("matmul needs two float operands of one dtype, got \(a.dtype) and \(b.dtype)")
    }
    let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
    let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
    let k2 = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
    let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
    guard k == k2 else {
      throw ShapeError("matmul inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") and \(b.shape)\(transposeB ? "ᵀ" : "")")
    }
    let batchA = Shape(Array(a.shape.dimensions.dropLast(2)))
    let batchB = Shape(Array(b.shape.dimensions.dropLast(2)))
    let batch = try broadcastShape(batchA, batchB)
    out.prepare(shape: Shape(batch.dimensions + [m, n]), dtype: a.dtype)
    let (aRows, aCols) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (bRows, bCols) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    var aOffsets: [Int] = []
    var bOffsets: [Int] = []
    broadcastLoop(shape: Shape(batch.dimensions + [1]), Shape(batchA.dimensions + [1]), Shape(batchB.dimensions + [1])) {
      _, ia, ib, _, _, _ in
      aOffsets.append(ia * aRows * aCols)
      bOffsets.append(ib * bRows * bCols)
    }
    for (index, (oa, ob)) in Swift.zip(aOffsets, bOffsets).enumerated() {
      let oc = index * m * n
      switch a.dtype {
      case .float32:
        gemm(Float.self, a, oa, aCols, transposeA, b, ob, bCols, transposeB, &out, oc, m, n, k)
      default:
        gemm(Double.self, a, oa, aCols, transposeA, b, ob, bCols, transposeB, &out, oc, m, n, k)
      }
    }
  }

  /// C[m×n] = op(A) op(B) on row-major buffers, with leading dimensions `lda`, `ldb`.
  @inlinable static func gemm<T: FloatElement>(
    _: T.Type, _ a: NDArray, _ oa: Int, _ lda: Int, _ ta: Bool, _ b: NDArray, _ ob: Int, _ ldb: Int,
    _ tb: Bool, _ out: inout NDArray, _ oc: Int, _ m: Int, _ n: Int, _ k: Int
  ) {
    let pa = a.storage.bytes.assumingMemoryBound(to: T.self) + oa
    let pb = b.storage.bytes.assumingMemoryBound(to: T.self) + ob
    let pc = out.storage.bytes.assumingMemoryBound(to: T.self) + oc
    for i in 0..<(m * n) { pc[i] = 0 }
    for i in 0..<m {
      let crow = pc + i * n
      for p in 0..<k {
        let av = ta ? pa[p * lda + i] : pa[i * lda + p]
        if tb {
          for j in 0..<n { crow[j] += av * pb[j * ldb + p] }
        } else {
          let brow = pb + p * ldb
          for j in 0..<n { crow[j] += av * brow[j] }
        }
      }
    }
  }
}
