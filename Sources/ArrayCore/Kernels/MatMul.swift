import CBackpropKernels

extension Kernels {
  /// Matrix product of the last two dimensions, `out[..., i, j] = Σ_k a[..., i, k] b[..., k, j]`,
  /// with optional transposition of either operand and NumPy broadcasting of the batch
  /// dimensions.
  ///
  /// Float and double products run the blocked, packed kernels of `CBackpropKernels` (AVX2+FMA
  /// when the CPU has them, portable C otherwise; large products are split over the cores).
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
    let aCols = a.shape[a.rank - 1]
    let bCols = b.shape[b.rank - 1]
    if a.rank == 2 && b.rank == 2 {
      // The common case: no batch, and no new shape when `out` already has the right one.
      if out.rank == 2 && out.shape[0] == m && out.shape[1] == n {
        try out.prepare(shape: out.shape, dtype: a.dtype)
      } else {
        try out.prepare(shape: [m, n], dtype: a.dtype)
      }
      gemm(a, 0, aCols, transposeA, b, 0, bCols, transposeB, &out, 0, m, n, k)
      return
    }
    let batchA = Shape(Array(a.shape.dimensions.dropLast(2)))
    let batchB = Shape(Array(b.shape.dimensions.dropLast(2)))
    let batch = try broadcastShape(batchA, batchB)
    try out.prepare(shape: Shape(batch.dimensions + [m, n]), dtype: a.dtype)
    let aMatrix = a.shape[a.rank - 2] * aCols
    let bMatrix = b.shape[b.rank - 2] * bCols
    var index = 0
    broadcastLoop(shape: Shape(batch.dimensions + [1]), Shape(batchA.dimensions + [1]), Shape(batchB.dimensions + [1])) {
      _, ia, ib, _, _, _ in
      gemm(a, ia * aMatrix, aCols, transposeA, b, ib * bMatrix, bCols, transposeB, &out, index * m * n, m, n, k)
      index += 1
    }
  }

  /// C[m×n] = op(A) op(B) on row-major buffers at element offsets `oa`, `ob`, `oc`, with leading
  /// dimensions `lda`, `ldb` (C's is `n`). `out` must already have its shape and dtype.
  @usableFromInline static func gemm(
    _ a: NDArray, _ oa: Int, _ lda: Int, _ ta: Bool, _ b: NDArray, _ ob: Int, _ ldb: Int,
    _ tb: Bool, _ out: inout NDArray, _ oc: Int, _ m: Int, _ n: Int, _ k: Int
  ) {
    switch a.dtype {
    case .float32:
      let pa = a.storage.bytes.assumingMemoryBound(to: Float.self) + oa
      let pb = b.storage.bytes.assumingMemoryBound(to: Float.self) + ob
      let pc = out.storage.bytes.assumingMemoryBound(to: Float.self) + oc
      bp_sgemm(ta ? 1 : 0, tb ? 1 : 0, m, n, k, pa, Swift.max(lda, 1), pb, Swift.max(ldb, 1), 0, pc, Swift.max(n, 1))
    case .float64:
      let pa = a.storage.bytes.assumingMemoryBound(to: Double.self) + oa
      let pb = b.storage.bytes.assumingMemoryBound(to: Double.self) + ob
      let pc = out.storage.bytes.assumingMemoryBound(to: Double.self) + oc
      bp_dgemm(ta ? 1 : 0, tb ? 1 : 0, m, n, k, pa, Swift.max(lda, 1), pb, Swift.max(ldb, 1), 0, pc, Swift.max(n, 1))
    default:
      preconditionFailure("Kernels.gemm: \(a.dtype) is not a float dtype")  // checked by matmul
    }
  }
}
