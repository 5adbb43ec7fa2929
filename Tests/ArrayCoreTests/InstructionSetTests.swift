import ArrayCore
import TestSupport
import Testing

/// Every kernel path this machine has (issue 13): the portable C, AVX2+FMA, AVX-512F, and the
/// AVX-512 path's matrix-product tiles computed with AVX2 instructions (which lets a machine
/// without AVX-512 test that path's 8×32 / 12×16 tiles, blocking, packing, edges and threading). Each
/// path against the float64 definition; the AVX-512 path and its AVX2 twin against the AVX2
/// path bit for bit (per element, all three compute the same FMAs in the same order). A path
/// the CPU lacks is a visible skip.
@Suite struct InstructionSetTests {
  static let hasAVX2 = KernelSettings.availableInstructionSets.contains(.avx2)
  static let hasAVX512 = KernelSettings.availableInstructionSets.contains(.avx512)

  /// Shapes that cross the AVX-512 tiles' edges (rows not a multiple of 8 or 12, columns not a
  /// multiple of 32 or 16), the depth block (k > 256 for float, k > 512 for double), the row and column blocks (m > MC,
  /// n > NC = 4096), the thread split (over 4·2²⁰ multiply-adds), and the small, direct and
  /// skinny products training runs, and large products with few whole column tiles (unpacked on
  /// the AVX-512 tiles, in pieces of rows over the threads), also with a depth long enough that
  /// B does not fit in half of L2 (the unpacked path's blocked order: 64 columns by 5000 are
  /// 1.25 MiB of float). A transposed A with few columns is read in place on the packed path
  /// (all but a short last panel): 155x600 by 600x20 has a short panel on every tile, a short
  /// column tile and a short last depth block. On the AVX-512 path, columns past the last whole
  /// wide tile that fill at most half of one go to the AVX2 tiles (n = 3, 33, 40, 48, 140, 4200
  /// for float; 17, 20, 33, 37, 40 for double).
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (7, 17, 3), (25, 31, 29), (13, 40, 33), (12, 32, 256), (11, 33, 257), (150, 37, 260),
    (61, 3, 70), (32, 128, 64), (128, 10, 1600), (1024, 1, 300), (1, 700, 300), (5, 4200, 20),
    (150, 140, 270), (701, 64, 300), (523, 32, 41), (300, 48, 290),
    (24, 64, 5000), (155, 20, 600), (13, 37, 515),
  ]

  /// The product of random operands for every shape and transposition, in `dtype`.
  static func products(_ dtype: DType) throws -> [NDArray] {
    var results: [NDArray] = []
    var seed: UInt64 = 900
    for (m, n, k) in shapes {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = randomArray(ta ? [k, m] : [m, k], seed: seed, dtype: dtype)
        let b = randomArray(tb ? [n, k] : [k, n], seed: seed + 1, dtype: dtype)
        seed += 2
        var out = NDArray()
        try Kernels.matmul(a, b, transposeA: ta, transposeB: tb, into: &out)
        results.append(out)
      }
    }
    return results
  }

  /// The first result whose bits differ (each element as a float64, exact for both dtypes):
  /// its index, element and the two values; `nil` when all are the same.
  static func firstDifference(_ got: [NDArray], _ expected: [NDArray]) -> String? {
    guard got.count == expected.count else { return "\(got.count) results against \(expected.count)" }
    for (r, (x, y)) in zip(got, expected).enumerated() {
      guard x.shape == y.shape else { return "result \(r): shape \(x.shape) against \(y.shape)" }
      let xs = x.doubles, ys = y.doubles
      if let e = xs.indices.first(where: { xs[$0].bitPattern != ys[$0].bitPattern }) {
        return "result \(r) (shape \(x.shape)), element \(e): \(xs[e]) against \(ys[e])"
      }
    }
    return nil
  }

  @Test func everyPathTheCPUHasMatchesTheDefinition() throws {
    KernelSettings.setMatmulThreads(3)  // an odd split, whatever the machine has
    defer { KernelSettings.setMatmulThreads(nil) }
    for isa in KernelSettings.availableInstructionSets {
      try KernelSettings.withInstructionSet(isa) {
        #expect(KernelSettings.instructionSet == isa.description)
        try Self.checkShapes()
      }
    }
    if Self.hasAVX2 {
      try KernelSettings.withAVX512TilesOnAVX2 {
        #expect(KernelSettings.instructionSet == "avx512 tiles on avx2")
        try Self.checkShapes()
      }
    }
  }

  static func checkShapes() throws {
    var seed: UInt64 = 700
    for (m, n, k) in Self.shapes {
      for (ta, tb) in [(false, false), (true, true)] {
        for dtype in [DType.float32, .float64] {
          try MatMulKernelTests.check(m: m, n: n, k: k, ta: ta, tb: tb, dtype: dtype, seed: seed)
          seed += 2
        }
      }
    }
  }

  @Test(.enabled(if: hasAVX2, "this CPU has no AVX2+FMA: the AVX-512 tiles cannot run on AVX2 here"))
  func avx512TilesOnAVX2GiveTheAVX2PathsBits() throws {
    for dtype in [DType.float32, .float64] {
      let reference = try KernelSettings.withInstructionSet(.avx2) { try Self.products(dtype) }
      let wide = try KernelSettings.withAVX512TilesOnAVX2 { try Self.products(dtype) }
      let difference = Self.firstDifference(wide, reference)
      #expect(difference == nil, "\(dtype)")
    }
  }

  @Test(.enabled(if: hasAVX512, "this CPU has no AVX-512F: the AVX-512 kernels are not run here (their tiles are, on AVX2)"))
  func avx512GivesTheAVX2PathsBits() throws {
    for dtype in [DType.float32, .float64] {
      let reference = try KernelSettings.withInstructionSet(.avx2) { try Self.products(dtype) }
      let avx512 = try KernelSettings.withInstructionSet(.avx512) {
        #expect(KernelSettings.instructionSet == "avx512")
        return try Self.products(dtype)
      }
      let twin = try KernelSettings.withAVX512TilesOnAVX2 { try Self.products(dtype) }
      let difference = Self.firstDifference(avx512, reference), twinDifference = Self.firstDifference(twin, avx512)
      #expect(difference == nil, "\(dtype)")
      #expect(twinDifference == nil, "\(dtype): the AVX2 twin of the AVX-512 tiles")
    }
  }

  /// The first layer's direct convolution (3x3 filters on one or two channels: the forward pass
  /// with bias and ReLU, and the filter gradient), with output channels that do and do not divide
  /// into the AVX-512 path's blocks of 16, and padded edges.
  static func directConvolutions() throws -> [NDArray] {
    var results: [NDArray] = []
    var seed: UInt64 = 1200
    let layers: [(c: Int, outC: Int, padding: Padding)] = [
      (1, 32, .valid), (1, 16, .same), (2, 48, .valid), (1, 64, .same), (1, 24, .valid),
    ]
    for (c, outC, padding) in layers {
      let x = randomArray([3, 11, 9, c], seed: seed, dtype: .float32)
      let w = randomArray([3, 3, c, outC], seed: seed + 1, dtype: .float32)
      let bias = randomArray([outC], seed: seed + 2, dtype: .float32)
      seed += 4
      let geometry = WindowGeometry(window: [3, 3], strides: [1, 1], padding: padding)
      var y = NDArray()
      try Kernels.conv2d(x, w, geometry, bias: bias, relu: true, into: &y)
      results.append(y)
      let dy = randomArray(y.shape, seed: seed - 1, dtype: .float32)
      var dw = NDArray()
      try Kernels.conv2dBackpropFilter(x, dy, filterHeight: 3, filterWidth: 3, geometry, into: &dw)
      results.append(dw)
    }
    return results
  }

  /// The direct convolution on every path: the 16-channel kernels (the AVX-512 path, and its
  /// AVX2 twin) give the 8-channel AVX2 kernels' bits, and the portable path (im2col and the
  /// packed GEMM, another order of additions) agrees to float32 rounding.
  @Test(.enabled(if: hasAVX2, "this CPU has no AVX2+FMA: the direct convolution does not run here"))
  func directConvolutionsAgreeOnEveryPath() throws {
    let reference = try KernelSettings.withInstructionSet(.avx2) { try Self.directConvolutions() }
    let twin = try KernelSettings.withAVX512TilesOnAVX2 { try Self.directConvolutions() }
    #expect(Self.firstDifference(twin, reference) == nil, "the AVX2 twin of the 16-channel kernels")
    if Self.hasAVX512 {
      let avx512 = try KernelSettings.withInstructionSet(.avx512) { try Self.directConvolutions() }
      #expect(Self.firstDifference(avx512, reference) == nil, "the AVX-512 path")
    }
    let portable = try KernelSettings.withInstructionSet(.portable) { try Self.directConvolutions() }
    for (p, r) in zip(portable, reference) {
      #expect(p.shape == r.shape)
      let worst = zip(p.doubles, r.doubles).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
      #expect(worst < 1e-5, "portable against AVX2: \(worst)")
    }
  }

  /// The elementwise kernels, sums and Adam on one array under `isa`.
  static func elementwiseResults(_ dtype: DType) throws -> [NDArray] {
    var results: [NDArray] = []
    for n in [1, 15, 16, 17, 63, 1000, 4099] {
      let x = randomArray([n], seed: UInt64(n), dtype: dtype)
      let y = randomArray([n], in: 0.5...2, seed: UInt64(n) + 1, dtype: dtype)
      for op in [ArithmeticOperation.add, .subtract, .multiply, .divide] {
        var out = NDArray()
        try Kernels.arithmetic(op, x, y, into: &out)
        results.append(out)
        try Kernels.arithmetic(op, x, NDArray(scalar: 1.5, dtype: dtype), into: &out)
        results.append(out)
      }
      var out = NDArray()
      try Kernels.scaleAndShift(x, scale: 1.5, shift: -0.25, into: &out)
      results.append(out)
      try Kernels.relu(x, into: &out)
      results.append(out)
      try Kernels.squareRoot(y, into: &out)
      results.append(out)
      try Kernels.reciprocalSquareRoot(y, into: &out)
      results.append(out)
      Kernels.sum(x, axes: [0], keepDims: false, into: &out)
      results.append(out)
      var m = y, v = y, p = x
      try Kernels.adamUpdate(gradient: x, m: &m, v: &v, x: &p, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, stepSize: 0.01, decay: 0.004)
      results += [m, v, p]
    }
    let matrix = randomArray([37, 70], seed: 5, dtype: dtype)
    for axes in [[0], [1]] {
      var out = NDArray()
      Kernels.sum(matrix, axes: axes, keepDims: false, into: &out)
      results.append(out)
    }
    return results
  }

  @Test(.enabled(if: hasAVX512, "this CPU has no AVX-512F: the AVX-512 elementwise kernels and reductions are not run here"))
  func avx512ElementwiseKernelsGiveTheAVX2PathsBits() throws {
    for dtype in [DType.float32, .float64] {
      let reference = try KernelSettings.withInstructionSet(.avx2) { try Self.elementwiseResults(dtype) }
      let avx512 = try KernelSettings.withInstructionSet(.avx512) { try Self.elementwiseResults(dtype) }
      let difference = Self.firstDifference(avx512, reference)
      #expect(difference == nil, "\(dtype)")
    }
  }

  @Test func aRequestAboveTheCPUGetsTheBestBelowIt() {
    let best = KernelSettings.availableInstructionSets.last ?? .portable
    KernelSettings.withInstructionSet(.avx512) {
      #expect(KernelSettings.instructionSet == best.description)
    }
    KernelSettings.withInstructionSet(.portable) {
      #expect(KernelSettings.instructionSet == "portable")
      #expect(KernelSettings.matmulBackend == "portable")
    }
    #expect(KernelSettings.availableInstructionSets.first == .portable)
  }
}
