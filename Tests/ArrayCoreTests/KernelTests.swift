import ArrayCore
import TestSupport
import Testing

/// Checks the optimized kernels (C GEMM, vectorized elementwise loops and sums) against plain
/// loops written here, in Double, over random shapes.
@Suite struct MatMulKernelTests {
  /// op(A)·op(B) by the definition, in Double, plus Σ|a||b| for the error bound.
  static func reference(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, ta: Bool, tb: Bool)
    -> (value: [Double], magnitude: [Double])
  {
    var c = [Double](repeating: 0, count: m * n)
    var mag = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0, t = 0.0
        for p in 0..<k {
          let x = ta ? a[p * m + i] : a[i * k + p]
          let y = tb ? b[j * k + p] : b[p * n + j]
          s += x * y
          t += Swift.abs(x * y)
        }
        c[i * n + j] = s
        mag[i * n + j] = t
      }
    }
    return (c, mag)
  }

  /// Runs `Kernels.matmul` and compares each entry within the forward-error bound
  /// 2·k·u·Σ|a||b| (u: the unit roundoff of the dtype).
  static func check(m: Int, n: Int, k: Int, ta: Bool, tb: Bool, dtype: DType, seed: UInt64) throws {
    let a = randomArray(ta ? [k, m] : [m, k], seed: seed, dtype: dtype)
    let b = randomArray(tb ? [n, k] : [k, n], seed: seed + 1, dtype: dtype)
    var out = NDArray()
    try Kernels.matmul(a, b, transposeA: ta, transposeB: tb, into: &out)
    #expect(out.shape == [m, n])
    #expect(out.dtype == dtype)
    let (ref, mag) = reference(a.doubles, b.doubles, m: m, n: n, k: k, ta: ta, tb: tb)
    let u = dtype == .float32 ? 0x1p-24 : 0x1p-53
    let got = out.doubles
    var worst = 0.0
    for i in 0..<(m * n) {
      let bound = 2 * Double(Swift.max(k, 1)) * u * mag[i] + 1e-300
      worst = Swift.max(worst, Swift.abs(got[i] - ref[i]) / bound)
    }
    #expect(worst <= 1, "matmul \(m)x\(n)x\(k) ta=\(ta) tb=\(tb) \(dtype): error \(worst) × bound")
  }

  static let shapes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 9, 4), (7, 1, 5), (3, 5, 1), (6, 16, 8), (7, 17, 3), (25, 31, 29), (13, 40, 33),
    (2, 70, 50), (61, 3, 70), (150, 37, 260),
  ]

  @Test(arguments: [DType.float32, .float64])
  func matchesDefinitionOnAssortedShapes(dtype: DType) throws {
    var seed: UInt64 = 1
    for (m, n, k) in Self.shapes {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        try Self.check(m: m, n: n, k: k, ta: ta, tb: tb, dtype: dtype, seed: seed)
        seed += 2
      }
    }
  }

  @Test func wideProductCrossesTheColumnBlock() throws {
    try Self.check(m: 7, n: 2100, k: 20, ta: false, tb: true, dtype: .float32, seed: 91)
  }

  @Test func largeProductSplitOverThreads() throws {
    KernelSettings.setMatmulThreads(3)  // an odd split, whatever the machine has
    KernelSettings.setMediumProductSplit(true)
    defer {
      KernelSettings.setMatmulThreads(nil)
      KernelSettings.setMediumProductSplit(nil)
    }
    try Self.check(m: 300, n: 300, k: 300, ta: false, tb: false, dtype: .float32, seed: 7)
    try Self.check(m: 301, n: 170, k: 290, ta: true, tb: true, dtype: .float64, seed: 9)
    // Medium products: pieces of rows sharing each packed block of B (one block, two blocks).
    try Self.check(m: 128, n: 128, k: 128, ta: false, tb: true, dtype: .float32, seed: 11)
    try Self.check(m: 128, n: 128, k: 128, ta: true, tb: false, dtype: .float64, seed: 13)
    try Self.check(m: 40, n: 300, k: 300, ta: false, tb: false, dtype: .float32, seed: 15)
    try Self.check(m: 31, n: 200, k: 600, ta: true, tb: true, dtype: .float64, seed: 17)
  }

  /// The shapes training runs (issue 13: a batch of 32 through a 64-128 layer, a dense layer
  /// 1600 -> 10 at batch 128 and its gradients' shapes, matrix-vector, vector-matrix) and edge
  /// shapes (one row, one column, depth 1, row counts that leave a remainder below 6), with
  /// every transposition, through the direct kernels (where the CPU has AVX2+FMA) and through
  /// the blocked path, each against the float64 definition.
  @Test func smallAndSkinnyProductsMatchTheDefinition() throws {
    let shapes: [(m: Int, n: Int, k: Int)] = [
      (32, 128, 64), (128, 10, 1600), (1600, 10, 128), (128, 1600, 10), (1024, 1, 1024), (1, 1024, 1024),
      (1, 300, 200), (300, 1, 200), (5000, 10, 1), (7, 15, 300), (13, 9, 500), (6, 16, 200), (11, 2, 700),
      (100, 7, 300), (37, 12, 90), (45, 13, 80),
    ]
    var seed: UInt64 = 300
    for direct in [true, false] {
      try KernelSettings.withDirectSmallProducts(direct) {
        for (m, n, k) in shapes {
          for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            try Self.check(m: m, n: n, k: k, ta: ta, tb: tb, dtype: .float32, seed: seed)
            seed += 2
          }
        }
      }
    }
  }

  @Test func portableKernelsMatchTheDefinition() throws {
    try KernelSettings.withPortableKernels {
      #expect(KernelSettings.instructionSet == "portable")
      for (i, (m, n, k)) in [(7, 17, 3), (25, 31, 29), (150, 37, 260), (300, 300, 300)].enumerated() {
        try Self.check(m: m, n: n, k: k, ta: i == 1, tb: i == 2, dtype: .float32, seed: 40 + UInt64(i))
        try Self.check(m: m, n: n, k: k, ta: i == 2, tb: i == 1, dtype: .float64, seed: 50 + UInt64(i))
      }
    }
  }

  @Test func batchedProductsBroadcastTheBatch() throws {
    for dtype in [DType.float32, .float64] {
      let a = randomArray([3, 1, 5, 26], seed: 3, dtype: dtype)
      let b = randomArray([4, 26, 27], seed: 4, dtype: dtype)
      var out = NDArray()
      try Kernels.matmul(a, b, into: &out)
      #expect(out.shape == [3, 4, 5, 27])
      let av = a.doubles, bv = b.doubles, got = out.doubles
      for i in 0..<3 {
        for j in 0..<4 {
          let (ref, mag) = Self.reference(
            Array(av[(i * 130)..<(i * 130 + 130)]), Array(bv[(j * 702)..<(j * 702 + 702)]),
            m: 5, n: 27, k: 26, ta: false, tb: false)
          let base = (i * 4 + j) * 135
          for e in 0..<135 {
            let bound = 2 * 26 * (dtype == .float32 ? 0x1p-24 : 0x1p-53) * mag[e]
            #expect(Swift.abs(got[base + e] - ref[e]) <= bound)
          }
        }
      }
    }
  }

  @Test func rejectsMismatchedInnerDimensions() {
    var out = NDArray()
    #expect(throws: ShapeError.self) {
      try Kernels.matmul(NDArray.zeros([2, 3]), NDArray.zeros([4, 2]), into: &out)
    }
  }
}

@Suite struct ElementwiseKernelTests {
  /// `a ∘ b` broadcast by the definition: each output index mapped back to the operands.
  static func reference(_ op: ArithmeticOperation, _ a: NDArray, _ b: NDArray, _ f: (Double, Double) -> Double) -> [Double] {
    let rank = Swift.max(a.rank, b.rank)
    let pa = [Int](repeating: 1, count: rank - a.rank) + a.shape.dimensions
    let pb = [Int](repeating: 1, count: rank - b.rank) + b.shape.dimensions
    let dims = (0..<rank).map { Swift.max(pa[$0], pb[$0]) }
    let count = dims.reduce(1, *)
    let av = a.doubles, bv = b.doubles
    var out: [Double] = []
    for flat in 0..<count {
      var rest = flat, ia = 0, ib = 0, sa = 1, sb = 1
      for d in stride(from: rank - 1, through: 0, by: -1) {
        let idx = rest % dims[d]
        rest /= dims[d]
        if pa[d] != 1 { ia += idx * sa }
        if pb[d] != 1 { ib += idx * sb }
        sa *= pa[d]
        sb *= pb[d]
      }
      out.append(f(av[ia], bv[ib]))
    }
    return out
  }

  static let pairs: [(Shape, Shape)] = [
    ([1], [1]), ([7], [7]), ([1000], [1000]), ([33], []), ([], [33]), ([5, 7], [7]), ([5, 7], [5, 1]),
    ([1, 7], [5, 1]), ([3, 1, 4], [2, 1]), ([2, 3, 1], [1, 1, 9]),
    // A row against every row of the other (one kernel call): trailing sizes after 1s.
    ([6, 3, 5], [1, 3, 5]), ([5], [4, 5]), ([2, 2, 3], [1, 3]), ([4, 1, 3], [1, 1, 3]),
  ]

  @Test(arguments: [DType.float32, .float64])
  func arithmeticMatchesScalarLoops(dtype: DType) throws {
    let ops: [(ArithmeticOperation, (Double, Double) -> Double, (Float, Float) -> Float)] = [
      (.add, { $0 + $1 }, { $0 + $1 }), (.subtract, { $0 - $1 }, { $0 - $1 }),
      (.multiply, { $0 * $1 }, { $0 * $1 }), (.divide, { $0 / $1 }, { $0 / $1 }),
    ]
    var seed: UInt64 = 100
    for (sa, sb) in Self.pairs {
      let a = randomArray(sa, seed: seed, dtype: dtype)
      let b = randomArray(sb, in: 0.5...2, seed: seed + 1, dtype: dtype)
      seed += 2
      for (op, f, g) in ops {
        var out = NDArray()
        try Kernels.arithmetic(op, a, b, into: &out)
        // Each element is one correctly rounded operation: equality, not closeness.
        let expected = dtype == .float32
          ? Self.reference(op, a, b) { Double(g(Float($0), Float($1))) } : Self.reference(op, a, b, f)
        #expect(out.doubles == expected, "\(op) \(sa) \(sb) \(dtype)")
        #expect(out.shape == (try broadcastShape(sa, sb)))
      }
    }
  }

  /// Two row-affine terms summed in one pass are the separate kernels' bits, in either order of
  /// the sum, with and without centres, on every instruction set; operands that do not fit are
  /// declined.
  @Test(arguments: [DType.float32, .float64])
  func affineRowsSumIsTheSeparateKernelsBits(dtype: DType) throws {
    let x = randomArray([7, 2, 5], seed: 50, dtype: dtype), x2 = randomArray([7, 2, 5], seed: 51, dtype: dtype)
    let k = randomArray([5], seed: 52, dtype: dtype), k2 = randomArray([1, 5], seed: 53, dtype: dtype)
    let c2 = randomArray([1, 1, 5], seed: 54, dtype: dtype), m = randomArray([5], seed: 55, dtype: dtype)
    for (center, center2) in [(nil, nil), (m, nil), (nil, m), (m, k)] as [(NDArray?, NDArray?)] {
      for innerFirst in [false, true] {
        func term(_ x: NDArray, _ m: NDArray?, _ k: NDArray) throws -> NDArray {
          var d = x, t = NDArray()
          if let m { try Kernels.arithmetic(.subtract, x, m, into: &d) }
          try Kernels.arithmetic(.multiply, d, k, into: &t)
          return t
        }
        var q = NDArray(), expected = NDArray(), fused = NDArray()
        try Kernels.arithmetic(.add, term(x2, center2, k2), c2, into: &q)
        let p = try term(x, center, k)
        try Kernels.arithmetic(.add, innerFirst ? q : p, innerFirst ? p : q, into: &expected)
        for set in KernelSettings.availableInstructionSets {
          #expect(try KernelSettings.withInstructionSet(set) {
            try Kernels.affineRowsSum(x, k, center: center, plus: x2, k2, center: center2, c2, innerFirst: innerFirst, into: &fused)
          })
          #expect(fused.shape == x.shape && fused.doubles.map(\.bitPattern) == expected.doubles.map(\.bitPattern), "\(set) \(innerFirst)")
        }
      }
    }
    var out = NDArray()
    #expect(try !Kernels.affineRowsSum(x, k, center: nil, plus: randomArray([7, 10], seed: 56, dtype: dtype), k2, center: nil, c2, innerFirst: false, into: &out))
    #expect(try !Kernels.affineRowsSum(x, k, center: randomArray([2], seed: 57, dtype: dtype), plus: x2, k2, center: nil, c2, innerFirst: false, into: &out))
    #expect(try !Kernels.affineRowsSum(x, k, center: nil, plus: x2, k2, center: nil, randomArray([7, 2, 5], seed: 58, dtype: dtype), innerFirst: false, into: &out))
    #expect(out.elementCount == 0)
  }

  @Test(arguments: [DType.float32, .float64])
  func affineRowsIsTheSeparateKernelsBits(dtype: DType) throws {
    let x = randomArray([5, 2, 3], seed: 40, dtype: dtype)
    let k = randomArray([3], seed: 41, dtype: dtype)
    // Also centred by a row m: (x − m) · k + c, the Sub rounded first, as its kernel rounds it.
    let m = randomArray([1, 1, 3], seed: 46, dtype: dtype)
    let shifts = [randomArray([1, 3], seed: 42, dtype: dtype), randomArray([5, 2, 3], seed: 43, dtype: dtype)]
    for center in [nil, m] as [NDArray?] {
      for c in shifts {
        for relu in [false, true] {
          var fused = NDArray(), d = x, t = NDArray(), expected = NDArray()
          #expect(try Kernels.affineRows(x, k, c, center: center, relu: relu, into: &fused))
          if let center { try Kernels.arithmetic(.subtract, x, center, into: &d) }
          try Kernels.arithmetic(.multiply, d, k, into: &t)
          try Kernels.arithmetic(.add, t, c, into: &expected)
          if relu {
            let sum = expected
            try Kernels.relu(sum, into: &expected)
          }
          #expect(fused.shape == expected.shape && fused.doubles.map(\.bitPattern) == expected.doubles.map(\.bitPattern))
          // Every instruction set this CPU has: the same bits (no FMA on any path).
          for set in KernelSettings.availableInstructionSets {
            var other = NDArray()
            _ = try KernelSettings.withInstructionSet(set) { try Kernels.affineRows(x, k, c, center: center, relu: relu, into: &other) }
            #expect(other.doubles.map(\.bitPattern) == fused.doubles.map(\.bitPattern), "\(set), centred: \(center != nil)")
          }
        }
      }
    }
    // Not rows of x: the caller runs the kernels one by one.
    var out = NDArray()
    #expect(try !Kernels.affineRows(x, k, k, center: randomArray([2], seed: 49, dtype: dtype), relu: false, into: &out))
    #expect(try !Kernels.affineRows(x, randomArray([2, 1], seed: 44, dtype: dtype), k, relu: false, into: &out))
    #expect(try !Kernels.affineRows(x, k, randomArray([2], seed: 45, dtype: dtype), relu: false, into: &out))
    #expect(try !Kernels.affineRows(x, k, NDArray([Int32(1), 2, 3]), relu: false, into: &out))
    #expect(out.elementCount == 0)
  }

  @Test func emptyArraysBroadcastARow() throws {
    var out = NDArray()
    try Kernels.arithmetic(.add, NDArray.zeros([3, 0, 2]), NDArray([Float(1), 2]), into: &out)
    #expect(out.shape == [3, 0, 2] && out.elementCount == 0)
  }

  @Test func int32ArithmeticUsesTheGenericLoop() throws {
    var out = NDArray()
    try Kernels.arithmetic(.multiply, NDArray([Int32(2), -3, 4]), NDArray([Int32(5)]), into: &out)
    #expect(out.scalars(as: Int32.self) == [10, -15, 20])
    #expect(throws: ShapeError.self) { try Kernels.arithmetic(.add, NDArray([Float(1)]), NDArray([1.0]), into: &out) }
    #expect(throws: ShapeError.self) { try Kernels.arithmetic(.add, NDArray.zeros([2]), NDArray.zeros([3]), into: &out) }
  }

  @Test(arguments: [DType.float32, .float64])
  func scaleAndShiftAndReluMatchScalarLoops(dtype: DType) throws {
    for n in [1, 5, 31, 1001] {
      let x = randomArray([n], seed: UInt64(n), dtype: dtype)
      var y = NDArray()
      try Kernels.scaleAndShift(x, scale: 1.5, shift: -0.25, into: &y)
      var r = NDArray()
      try Kernels.relu(x, into: &r)
      for (i, v) in x.doubles.enumerated() {
        // Two roundings in the element type (the product, then the sum), as Mul then Add.
        let ref = dtype == .float32 ? Double(Float(1.5) * Float(v) + Float(-0.25)) : 1.5 * v + -0.25
        #expect(y.doubles[i] == ref)
        #expect(r.doubles[i] == (v > 0 ? v : 0))
      }
    }
  }
}

@Suite struct SumKernelTests {
  /// Σ over `axes` by the definition, in Double, with Σ|x| for the error bound.
  static func reference(_ x: NDArray, axes: [Int]) -> (value: [Double], magnitude: [Double]) {
    let dims = x.shape.dimensions
    var kept = dims
    for ax in axes { kept[ax] = 1 }
    let count = kept.reduce(1, *)
    var value = [Double](repeating: 0, count: count), magnitude = value
    let xv = x.doubles
    for flat in 0..<xv.count {
      var rest = flat, target = 0, step = 1
      for d in stride(from: dims.count - 1, through: 0, by: -1) {
        let idx = rest % dims[d]
        rest /= dims[d]
        if kept[d] != 1 { target += idx * step }
        step *= kept[d]
      }
      value[target] += xv[flat]
      magnitude[target] += Swift.abs(xv[flat])
    }
    return (value, magnitude)
  }

  @Test(arguments: [DType.float32, .float64])
  func sumsMatchTheDefinition(dtype: DType) {
    let cases: [(Shape, [Int])] = [
      ([1], [0]), ([37], [0]), ([1000], [0]), ([4, 33], [0, 1]), ([5, 70], [1]), ([70, 5], [0]),
      ([3, 4, 65], [1, 2]), ([3, 4, 65], [0, 1]), ([3, 4, 5], [1]), ([2, 3], [0]), ([6, 1], [1]),
    ]
    var seed: UInt64 = 500
    for (shape, axes) in cases {
      let x = randomArray(shape, seed: seed, dtype: dtype)
      seed += 1
      let (ref, mag) = Self.reference(x, axes: axes)
      let n = axes.map { shape[$0] }.reduce(1, *)
      let u = dtype == .float32 ? 0x1p-24 : 0x1p-53
      for keepDims in [false, true] {
        var out = NDArray()
        Kernels.sum(x, axes: axes, keepDims: keepDims, into: &out)
        #expect(out.shape == Kernels.reducedShape(shape, axes: axes, keepDims: keepDims))
        let got = out.doubles
        #expect(got.count == ref.count)
        for i in 0..<Swift.min(got.count, ref.count) {
          #expect(Swift.abs(got[i] - ref[i]) <= Double(n) * u * mag[i], "sum \(shape) over \(axes) \(dtype)")
        }
      }
    }
  }
}

/// The fused Adam kernel against the same update written as a plain loop in the element type,
/// operation by operation: bit for bit, AVX2 and portable, odd sizes included.
@Suite(.serialized) struct AdamKernelTests {
  static func expected<T: FloatElement>(
    _ g: [T], _ m: [T], _ v: [T], _ x: [T], _ c: (Double, Double, Double, Double, Double?)
  ) -> (m: [T], v: [T], x: [T]) {
    let (b1, b2, eps, eta, lambda) = c
    var m = m, v = v, x = x
    for i in x.indices {
      m[i] = m[i] * T(b1) + g[i] * T(1 - b1)
      v[i] = v[i] * T(b2) + (g[i] * g[i]) * T(1 - b2)
      if let lambda { x[i] = x[i] + -1 * (x[i] * T(lambda)) }
      x[i] = x[i] + -1 * ((T(eta) * m[i]) / (v[i].squareRoot() + T(eps)))
    }
    return (m, v, x)
  }

  func check<T: FloatElement>(_: T.Type, n: Int, decay: Double?, seed: UInt64) throws {
    let dtype = T.dtype
    let g = randomArray([n], seed: seed, dtype: dtype), m0 = randomArray([n], seed: seed + 1, dtype: dtype)
    let v0 = randomArray([n], in: 0.2...2, seed: seed + 2, dtype: dtype), x0 = randomArray([n], seed: seed + 3, dtype: dtype)
    let c = (0.9, 0.999, 1e-7, 0.01, decay)
    var m = m0, v = v0, x = x0
    try Kernels.adamUpdate(
      gradient: g, m: &m, v: &v, x: &x, beta1: c.0, beta2: c.1, epsilon: c.2, stepSize: c.3, decay: c.4)
    func values(_ a: NDArray) -> [T] { a.withUnsafeBufferPointer(as: T.self) { Array($0) } }
    let e = Self.expected(values(g), values(m0), values(v0), values(x0), c)
    #expect(values(m) == e.m && values(v) == e.v && values(x) == e.x, "\(dtype) n=\(n) decay=\(String(describing: decay))")
    #expect(m0.doubles != m.doubles || n == 0, "copies held elsewhere are not written")
  }

  @Test func matchesTheOperationsOneByOne() throws {
    for portable in [false, true] {
      try KernelSettings.withPortableKernels(portable) {
        for (i, n) in [1, 7, 33, 1000].enumerated() {
          for decay in [nil, 0.004] {
            try check(Float.self, n: n, decay: decay, seed: 10 * UInt64(i))
            try check(Double.self, n: n, decay: decay, seed: 10 * UInt64(i) + 5)
          }
        }
      }
    }
  }

  @Test func mismatchedShapesThrow() {
    var m = NDArray([Float(0), 0]), v = NDArray([Float(0), 0]), x = NDArray([Float(1), 2, 3])
    #expect(throws: ShapeError.self) {
      try Kernels.adamUpdate(
        gradient: NDArray([Float(1), 2]), m: &m, v: &v, x: &x, beta1: 0.9, beta2: 0.999, epsilon: 1e-7,
        stepSize: 0.1, decay: nil)
    }
  }
}

/// `Kernels.select`: the elementwise choice against the definition, and the whole-input choice
/// of a one-element condition (shared memory, copy-on-write).
@Suite struct SelectKernelTests {
  @Test func elementwiseChoiceMatchesTheDefinitionForEveryElementSize() throws {
    let c = NDArray([true, false, false, true, true, false], shape: [2, 3])
    let f = NDArray([Float(1), 2, 3, 4, 5, 6], shape: [2, 3]), g = NDArray([Float(-1), -2, -3], shape: [3])
    var out = NDArray()
    try Kernels.select(c, f, g, into: &out)
    #expect(out.shape == [2, 3] && out.scalars(as: Float.self) == [1, -2, -3, 4, 5, -3])
    let d = NDArray([1.5, 2.5], shape: [2, 1]), e = NDArray([-1.0, -2.0, -3.0], shape: [1, 3])
    try Kernels.select(c, d, e, into: &out)
    #expect(out.scalars(as: Double.self) == [1.5, -2, -3, 2.5, 2.5, -3])
    try Kernels.select(c, NDArray([Int32(7)]), NDArray([Int32(1), 2, 3]), into: &out)
    #expect(out.scalars(as: Int32.self) == [7, 2, 3, 7, 7, 3])
    try Kernels.select(c, NDArray([true]), NDArray([false]), into: &out)
    #expect(out.scalars(as: Bool.self) == [true, false, false, true, true, false])
  }

  @Test func oneElementConditionChoosesAWholeInput() throws {
    let x = NDArray([Float(1), 2, 3, 4], shape: [2, 2]), y = NDArray([Float(5), 6, 7, 8], shape: [2, 2])
    for (flag, expected) in [(true, x), (false, y)] {
      for condition in [NDArray(scalar: flag), NDArray([flag], shape: [1, 1])] {
        var out = NDArray()
        try Kernels.select(condition, x, y, into: &out)
        #expect(out == expected)
        // The result shares the chosen input's memory; writing into it later copies first.
        let ones = NDArray([Float(1), 1, 1, 1], shape: [2, 2])
        try Kernels.arithmetic(.add, ones, ones, into: &out)
        #expect(out.scalars(as: Float.self) == [2, 2, 2, 2])
        #expect(x.scalars(as: Float.self) == [1, 2, 3, 4] && y.scalars(as: Float.self) == [5, 6, 7, 8])
      }
    }
    // The chosen input broadcast to the result's shape (the other is the larger one).
    var out = NDArray()
    try Kernels.select(NDArray(scalar: true), NDArray([Float(9)]), y, into: &out)
    #expect(out.shape == [2, 2] && out.scalars(as: Float.self) == [9, 9, 9, 9])
    // A condition of rank 3 makes the result rank 3 even when it has one element.
    try Kernels.select(NDArray([false], shape: [1, 1, 1]), x, y, into: &out)
    #expect(out.shape == [1, 2, 2] && out.scalars(as: Float.self) == [5, 6, 7, 8])
    // The shapes are still checked: a one-element condition does not excuse x and y.
    #expect(throws: ShapeError.self) { try Kernels.select(NDArray(scalar: true), x, NDArray([Float(1), 2, 3]), into: &out) }
    #expect(throws: ShapeError.self) { try Kernels.select(NDArray(scalar: true), x, NDArray([1.0, 2.0], shape: [2, 1]), into: &out) }
  }
}

/// `Kernels.transpose` against the definition `out[i₀, …] = a[j]` with `j[perm[k]] = i_k`,
/// computed index by index: every permutation of ranks 2 to 4, sizes that are not multiples of
/// the 64-byte tiles (and 1, which the tiled path skips as the source's contiguous axis), for
/// elements of 1, 4 and 8 bytes.
@Suite struct TransposeKernelTests {
  static func permutations(_ n: Int) -> [[Int]] {
    n == 0 ? [[]] : permutations(n - 1).flatMap { p in (0...p.count).map { i in var q = p; q.insert(n - 1, at: i); return q } }
  }

  @Test func transposeMatchesTheDefinition() throws {
    var rng = SeededGenerator(seed: 13)
    for shape in [[37, 41], [1, 70], [70, 1], [3, 17, 33], [2, 1, 19, 5], [5, 23, 2, 18]] {
      let count = shape.reduce(1, *)
      let values = (0..<count).map { _ in Double(rng.choice(1000)) - 500 }
      for dtype in [DType.bool, .float32, .float64] {
        let a = NDArray(converting: dtype == .bool ? values.map { $0 > 0 ? 1 : 0 } : values, shape: Shape(shape), dtype: dtype)
        let flat = a.doubles
        let strides = Shape(shape).strides
        for perm in Self.permutations(shape.count) {
          var out = NDArray()
          try Kernels.transpose(a, permutation: perm, into: &out)
          let outShape = perm.map { shape[$0] }
          #expect(out.shape == Shape(outShape))
          let got = out.doubles
          var index = [Int](repeating: 0, count: shape.count)
          var mismatches = 0
          for position in 0..<count {
            var rest = position
            for k in stride(from: outShape.count - 1, through: 0, by: -1) {
              index[perm[k]] = rest % outShape[k]
              rest /= outShape[k]
            }
            let source = zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }
            if got[position] != flat[source] { mismatches += 1 }
          }
          #expect(mismatches == 0, "\(dtype) \(shape) permuted \(perm)")
        }
      }
    }
  }
}
