import ArrayCore
import Foundation
import TestSupport
import Testing

/// The multi-threaded kernels give the same bits on any number of threads: the GEMM splits rows
/// or columns (each entry's sum runs in one order on one thread), and the convolution's filter
/// gradient sums the batch in slices fixed by the geometry and adds them in slice order.
/// `setMatmulThreads` is process-wide, so a suite running at the same time may change the count
/// under these products; they are compared with each other, and that cannot change the result.
@Suite struct ThreadCountTests {
  static let counts = [1, 2, 3, 5]

  /// Runs `body` once per thread count and returns its results.
  static func perThreadCount(_ body: () throws -> NDArray) rethrows -> [NDArray] {
    defer { KernelSettings.setMatmulThreads(nil) }
    return try counts.map { t in
      KernelSettings.setMatmulThreads(t)
      return try body()
    }
  }

  static func expectSameBits(_ results: [NDArray], _ what: String) {
    let first = results[0].doubles.map(\.bitPattern)
    for (t, r) in zip(counts, results).dropFirst() {
      let differing = zip(r.doubles.map(\.bitPattern), first).filter { $0 != $1 }.count
      #expect(differing == 0, "\(what): \(differing) of \(first.count) values on \(t) threads differ from 1 thread's")
    }
  }

  /// Sizes that do not fit the arrays, or whose product overflows, are a thrown error.
  @Test func normalizationRefusesSizesThatDoNotFit() throws {
    let x = try NDArray.zeros([2, 3]), stats = try NDArray.zeros([2])
    var y = try NDArray.zeros([2, 3]), m = stats, v = stats
    for (outer, count, inner) in [(2, 2, 1), (-1, -3, 2), (Int.max, 2, 2), (1 << 40, 1 << 40, 1 << 40)] {
      #expect(throws: ShapeError.self) {
        try Kernels.normalize(x, outer: outer, count: count, inner: inner, epsilon: 1e-3, normalized: &y, mean: &m, variance: &v)
      }
    }
    try Kernels.normalize(x, outer: 2, count: 3, inner: 1, epsilon: 1e-3, normalized: &y, mean: &m, variance: &v)
    #expect(m.doubles == [0, 0])
  }

  /// Column sums of products (a gradient's `Σ g·x` over a batch, fused in a plan) are the bits of
  /// the product then the column sum, on any number of threads and every instruction set; other
  /// reductions are left to those two kernels.
  @Test(arguments: [DType.float32, .float64])
  func sumsOfProductsAreTheProductThenTheColumnSum(dtype: DType) throws {
    let cases: [(Shape, Shape)] = [([20_000, 5], [5]), ([100, 3, 4], [4]), ([100, 3, 4], [1, 1, 4]), ([100, 3, 4], [3, 4]), ([7, 5], [1, 5])]
    for (shape, target) in cases {
      let a = randomArray(shape, seed: UInt64(shape.elementCount), dtype: dtype)
      let b = randomArray(shape, seed: UInt64(shape.elementCount + 1), dtype: dtype)
      var product = NDArray(), expected = NDArray()
      try Kernels.arithmetic(.multiply, a, b, into: &product)
      try Kernels.sum(product, to: target, into: &expected)
      var results: [[UInt64]] = []
      defer { KernelSettings.setMatmulThreads(nil) }
      for t in Self.counts {
        KernelSettings.setMatmulThreads(t)
        var out = NDArray()
        #expect(try Kernels.sumOfProducts(a, b, to: target, into: &out))
        #expect(out.shape == target)
        results.append(out.doubles.map(\.bitPattern))
      }
      KernelSettings.setMatmulThreads(nil)
      for set in KernelSettings.availableInstructionSets {
        var out = NDArray()
        _ = try KernelSettings.withInstructionSet(set) { try Kernels.sumOfProducts(a, b, to: target, into: &out) }
        results.append(out.doubles.map(\.bitPattern))
      }
      #expect(results.allSatisfy { $0 == expected.doubles.map(\.bitPattern) }, "\(shape) -> \(target) \(dtype)")
    }
    // Sums that are not over leading axes alone, no sum, and mismatched operands: declined.
    var out = NDArray()
    let a = randomArray([6, 4], seed: 1, dtype: dtype), b = randomArray([6, 4], seed: 2, dtype: dtype)
    #expect(try !Kernels.sumOfProducts(a, b, to: [6, 1], into: &out))
    #expect(try !Kernels.sumOfProducts(a, b, to: [], into: &out))
    #expect(try !Kernels.sumOfProducts(a, b, to: [6, 4], into: &out))
    #expect(try !Kernels.sumOfProducts(a, randomArray([1, 4], seed: 3, dtype: dtype), to: [4], into: &out))
    #expect(out.elementCount == 0)
  }

  /// Maximum and minimum reductions over a contiguous run of axes (a row's, a column's, all)
  /// run a vectorized kernel: the bits of the left-to-right scan `acc = acc > v || acc is NaN ?
  /// acc : v` (the first NaN; of equal zeros the last one's sign; `-∞` for nothing), computed
  /// here in Swift, on every thread count and instruction set; and the arg-extremes along that
  /// axis are the in-order scan's index.
  @Test(arguments: [DType.float32, .float64])
  func extremesAreTheInOrderScanOnAnyThreadCountAndPath(dtype: DType) throws {
    // [outer, n, inner]: rows (inner 1) of 1000 (a tail past 16 lanes), of 5 and of 0; columns
    // (inner 37: a partial block of lanes); a large row set split over threads; one element.
    let cases = [(300, 1000, 1), (7, 5, 1), (3, 0, 1), (4, 50, 37), (2, 0, 5), (600, 700, 1), (1, 1, 1), (5, 9, 16)]
    for (index, (outer, n, inner)) in cases.enumerated() {
      var values = randomArray([outer * n * inner], seed: UInt64(40 + index), dtype: .float64).doubles
      // Order-dependent elements in some reductions: NaNs with distinct payloads (the first
      // one must win), signed zeros as the extreme, infinities.
      for e in stride(from: 0, to: values.count, by: 11) {
        switch (e / 11) % 9 {
        case 0: values[e] = Double(nan: UInt64(e % 1000 + 1), signaling: false)
        case 1: values[e] = Double.infinity
        case 2: values[e] = -Double.infinity
        default: break
        }
      }
      if outer > 1, n > 0 {
        // Row 1 (or column block 1): nothing but zeros of both signs, so the extreme is a zero.
        for j in 0..<n * inner { values[(1 * n) * inner + j] = j % 3 == 0 ? -0.0 : 0.0 }
      }
      let x = NDArray(converting: values, shape: [outer, n, inner], dtype: dtype)
      let v = x.doubles
      for largest in [true, false] {
        var expected: [UInt64] = []
        for o in 0..<outer {
          for i in 0..<inner {
            var acc = largest ? -Double.infinity : Double.infinity
            for j in 0..<n {
              let e = v[(o * n + j) * inner + i]
              acc = (largest ? acc > e : acc < e) || acc.isNaN ? acc : e
            }
            expected.append(acc.bitPattern)
          }
        }
        func bits() throws -> [UInt64] {
          var out = NDArray()
          try Kernels.extreme(x, axes: [1], keepDims: false, largest: largest, into: &out)
          #expect(out.shape == [outer, inner])
          return out.doubles.map(\.bitPattern)
        }
        // argMax/argMin along the same axis (rows use the reduction kernel, then a search): the
        // scan's index, the first NaN or the first extreme (ties: the first).
        if n > 0 {
          var expectedIndices: [Int32] = []
          for o in 0..<outer {
            for i in 0..<inner {
              var best = v[o * n * inner + i], at = 0
              if !best.isNaN {
                for j in 1..<n {
                  let e = v[(o * n + j) * inner + i]
                  if e.isNaN {
                    at = j
                    break
                  }
                  if largest ? e > best : e < best { (best, at) = (e, j) }
                }
              }
              expectedIndices.append(Int32(at))
            }
          }
          var indices = NDArray()
          try Kernels.argExtreme(x, axis: 1, largest: largest, into: &indices)
          #expect(indices.scalars(as: Int32.self) == expectedIndices, "[\(outer), \(n), \(inner)] \(dtype) arg-\(largest ? "max" : "min")")
        }
        defer { KernelSettings.setMatmulThreads(nil) }
        for t in Self.counts {
          KernelSettings.setMatmulThreads(t)
          #expect(try bits() == expected, "[\(outer), \(n), \(inner)] \(dtype) \(largest ? "max" : "min") on \(t) threads")
        }
        KernelSettings.setMatmulThreads(nil)
        for set in KernelSettings.availableInstructionSets {
          #expect(
            try KernelSettings.withInstructionSet(set) { try bits() } == expected,
            "[\(outer), \(n), \(inner)] \(dtype) \(largest ? "max" : "min") on \(set)")
        }
      }
    }
  }

  /// The statistics alone (`Kernels.moments`: an evaluation run of batch normalization, which
  /// reads no `x̂`) are the normalization's mean and variance bit for bit, on any number of
  /// threads and every instruction set, and refuse sizes that do not fit.
  @Test(arguments: [DType.float32, .float64])
  func momentsAreTheNormalizationsStatistics(dtype: DType) throws {
    for (outer, count, inner) in [(1, 20_000, 32), (3, 700, 37), (500, 64, 1), (2, 0, 5)] {
      let x = randomArray([outer, count, inner], seed: UInt64(outer + count * 3 + inner), dtype: dtype)
      var y = try NDArray.zeros([outer, count, inner], dtype: dtype)
      var m = try NDArray.zeros([outer, inner], dtype: dtype), v = m
      try Kernels.normalize(x, outer: outer, count: count, inner: inner, epsilon: 1e-3, normalized: &y, mean: &m, variance: &v)
      let expected = (m.doubles + v.doubles).map(\.bitPattern)
      func bits() throws -> [UInt64] {
        var mm = try NDArray.zeros([outer, inner], dtype: dtype), vv = mm
        try Kernels.moments(x, outer: outer, count: count, inner: inner, mean: &mm, variance: &vv)
        return (mm.doubles + vv.doubles).map(\.bitPattern)
      }
      defer { KernelSettings.setMatmulThreads(nil) }
      for t in Self.counts {
        KernelSettings.setMatmulThreads(t)
        #expect(try bits() == expected, "[\(outer), \(count), \(inner)] \(dtype) on \(t) threads")
      }
      KernelSettings.setMatmulThreads(nil)
      for set in KernelSettings.availableInstructionSets {
        #expect(try KernelSettings.withInstructionSet(set) { try bits() } == expected, "[\(outer), \(count), \(inner)] \(dtype) on \(set)")
      }
    }
    var m = try NDArray.zeros([2], dtype: dtype), v = m
    #expect(throws: ShapeError.self) { try Kernels.moments(try NDArray.zeros([2, 3], dtype: dtype), outer: 3, count: 2, inner: 1, mean: &m, variance: &v) }
    #expect(throws: ShapeError.self) { try Kernels.moments(try NDArray.zeros([2, 3], dtype: .int32), outer: 2, count: 3, inner: 1, mean: &m, variance: &v) }
  }

  /// The normalization kernel (batch and layer normalization) splits its lanes (or rows) over the
  /// threads and runs each lane's sums in order (a row's in 16 partial sums): the same bits on any
  /// number of threads and on every instruction set, and exactly the documented arithmetic,
  /// computed here in Swift.
  @Test(arguments: [DType.float32, .float64])
  func normalizationIsTheSameOnAnyThreadCountAndPathInItsOrder(dtype: DType) throws {
    // [outer, count, inner]: a batch of channels-last images (inner 32, 37: a partial line of
    // lanes), layer normalization (inner 1: rows of 64, of 37 and of 5, a partial or only a tail
    // of the 16 partial sums), and a middle axis of 0 or 1.
    for (outer, count, inner) in [(1, 20_000, 32), (3, 700, 37), (500, 64, 1), (9, 37, 1), (3, 5, 1), (2, 0, 5), (4, 1, 3)] {
      let x = randomArray([outer, count, inner], seed: UInt64(outer * 7 + count + inner), dtype: dtype)
      func run() throws -> [NDArray] {
        var y = try NDArray.zeros([outer, count, inner], dtype: dtype)
        var m = try NDArray.zeros([outer, inner], dtype: dtype), v = try NDArray.zeros([outer, inner], dtype: dtype)
        try Kernels.normalize(x, outer: outer, count: count, inner: inner, epsilon: 1e-3, normalized: &y, mean: &m, variance: &v)
        return [y, m, v]
      }
      func bits() throws -> [UInt64] { try run().flatMap { $0.doubles.map(\.bitPattern) } }
      var results: [[UInt64]] = []
      defer { KernelSettings.setMatmulThreads(nil) }
      for t in Self.counts {
        KernelSettings.setMatmulThreads(t)
        results.append(try bits())
      }
      KernelSettings.setMatmulThreads(nil)
      for set in KernelSettings.availableInstructionSets { results.append(try KernelSettings.withInstructionSet(set) { try bits() }) }
      #expect(results.allSatisfy { $0 == results[0] }, "[\(outer), \(count), \(inner)] \(dtype): not the same bits on every thread count and path")
      let (y, m, v) = try { let r = try run(); return (r[0].doubles, r[1].doubles, r[2].doubles) }()
      let values = x.doubles
      var wrong = 0
      for o in 0..<outer {
        for i in 0..<inner {
          // The sums over j: in order; for a contiguous row (inner 1), element j into partial
          // sum j mod 16, the 16 then added pairwise (k + 8 into k, k + 4 into k, ...).
          func total(_ terms: (Int) -> Double) -> Double {
            guard inner == 1 else { return (0..<count).reduce(0.0) { $0 + terms($1) } }
            var partial = [Double](repeating: 0, count: 16)
            for j in 0..<count { partial[j % 16] += terms(j) }
            var width = 8
            while width >= 1 {
              for k in 0..<width { partial[k] += partial[k + width] }
              width /= 2
            }
            return partial[0]
          }
          let sum = total { values[(o * count + $0) * inner + i] } / Double(Swift.max(count, 1))
          let sq = total { j in
            let d = values[(o * count + j) * inner + i] - sum
            return d * d
          } / Double(Swift.max(count, 1))
          let lane = o * inner + i
          if dtype == .float32 {
            if m[lane] != Double(Float(sum)) || v[lane] != Double(Float(sq)) { wrong += 1 }
            let scale = 1 / (sq + 1e-3).squareRoot()
            for j in 0..<count {
              let e = (o * count + j) * inner + i
              if y[e].bitPattern != Double(Float((values[e] - sum) * scale)).bitPattern { wrong += 1 }
            }
          } else {
            if m[lane] != sum || v[lane] != sq { wrong += 1 }
            let scale = 1 / (sq + 1e-3).squareRoot()
            for j in 0..<count {
              let e = (o * count + j) * inner + i
              if y[e].bitPattern != ((values[e] - sum) * scale).bitPattern { wrong += 1 }
            }
          }
        }
      }
      #expect(wrong == 0, "[\(outer), \(count), \(inner)] \(dtype): \(wrong) values differ from the documented arithmetic")
    }
  }

  /// Column sums of tall matrices (a bias gradient over a batch of images) go by chunks of 4096
  /// rows split over the threads: the same bits on any number of threads, and exactly the
  /// documented order, computed here in Swift (each chunk's sums in row order from 0, the chunks'
  /// sums in chunk order from 0; fewer than 8192 rows: row order).
  @Test(arguments: [DType.float32, .float64])
  func columnSumsAreTheSameOnAnyThreadCountInTheirOrder(dtype: DType) throws {
    for (rows, cols) in [(20_000, 37), (8191, 5), (8192, 3), (100_000, 1)] {
      let x = randomArray([rows, cols], seed: UInt64(rows + cols), dtype: dtype)
      let results = Self.perThreadCount {
        var out = NDArray()
        Kernels.sum(x, axes: [0], keepDims: false, into: &out)
        return out
      }
      Self.expectSameBits(results, "column sums \(rows)x\(cols) \(dtype)")
      let values = x.doubles
      let chunk = rows < 8192 ? rows : 4096
      for j in 0..<cols {
        var total = 0.0, totalFloat: Float = 0
        for r0 in stride(from: 0, to: rows, by: chunk) {
          var s = 0.0, sFloat: Float = 0
          for r in r0..<Swift.min(rows, r0 + chunk) {
            s += values[r * cols + j]
            sFloat += Float(values[r * cols + j])
          }
          total += s
          totalFloat += sFloat
        }
        let expected = dtype == .float32 ? Double(totalFloat) : total
        #expect(results[0].doubles[j].bitPattern == expected.bitPattern, "\(rows)x\(cols) \(dtype), column \(j)")
      }
    }
  }

  /// Large products: a block of B that each thread packs for itself where it fills at most
  /// half of L2 (301x290 by 290x170: 180 KiB in float, 408 KiB in double), and one the threads
  /// pack together into a shared buffer (300x300 by 300x1100: over a MiB).
  @Test(arguments: [DType.float32, .float64])
  func productsAreTheSameOnAnyThreadCount(dtype: DType) throws {
    for (m, k, n) in [(301, 290, 170), (300, 300, 1100)] {
      let a = randomArray([m, k], seed: 3, dtype: dtype), b = randomArray([k, n], seed: 4, dtype: dtype)
      let results = try Self.perThreadCount {
        var out = NDArray()
        try Kernels.matmul(a, b, transposeA: false, transposeB: false, into: &out)
        return out
      }
      Self.expectSameBits(results, "matmul \(m)x\(k) by \(k)x\(n), \(dtype)")
    }
  }

  /// Medium products (from 512K multiply-adds, below the 4M where the large products' split
  /// begins) run in pieces claimed by the threads: the blocked path takes pieces of rows over
  /// each block of B, which each thread packs for itself once per call (depths above and below
  /// one block: 256 for float, 512 for double), and the direct kernels
  /// (matrix-vector, vector-matrix, a few columns, a transposed A with a few columns) take
  /// pieces of rows or columns, or of the depth in fixed blocks (the sweeps of a vector times B,
  /// and of a transposed A times a vector, also above 4M). Every transposition, both types where
  /// the path has them.
  @Test(arguments: [DType.float32, .float64])
  func mediumProductsAreTheSameOnAnyThreadCount(dtype: DType) throws {
    let shapes: [(m: Int, n: Int, k: Int)] = [
      (128, 128, 128), (40, 300, 300), (40, 150, 600), (97, 61, 250), (128, 10, 1600), (1600, 10, 128), (1024, 1, 1024),
      (1, 1024, 1024), (1, 777, 1500), (1531, 1, 700), (1, 2100, 2000), (2100, 1, 2000),
      (1, 300, 9000), (300, 1, 9000), (701, 64, 300), (523, 32, 41), (300, 48, 290),
      // More row panels than the 128 pieces one block of B is split into: pieces of more than
      // MC rows, each packed MC rows at a time.
      (20000, 20, 8),
    ]
    KernelSettings.setMediumProductSplit(true)  // split whenever there is more than one thread
    defer { KernelSettings.setMediumProductSplit(nil) }
    var seed: UInt64 = 500
    for (m, n, k) in shapes {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = randomArray(ta ? [k, m] : [m, k], seed: seed, dtype: dtype)
        let b = randomArray(tb ? [n, k] : [k, n], seed: seed + 1, dtype: dtype)
        seed += 2
        let results = try Self.perThreadCount {
          var out = NDArray()
          try Kernels.matmul(a, b, transposeA: ta, transposeB: tb, into: &out)
          return out
        }
        Self.expectSameBits(results, "matmul \(m)x\(k) by \(k)x\(n), transposed \(ta) \(tb), \(dtype)")
      }
    }
  }

  /// The filter gradient through each of its paths: the direct first-layer kernel (float32, a
  /// 3x3 filter on one channel), im2col and the packed GEMM, and a 1x1 filter on the images
  /// themselves; batches that do and do not divide into the slices.
  @Test(
    arguments: [
      ([64, 28, 28, 1], [3, 3, 1, 32], WindowGeometry(window: [3, 3], strides: [1, 1], padding: .valid)),
      ([37, 12, 12, 8], [3, 3, 8, 16], WindowGeometry(window: [3, 3], strides: [1, 1], padding: .same)),
      ([48, 16, 16, 4], [3, 3, 2, 6], WindowGeometry(window: [3, 3], strides: [2, 1], padding: .same, groups: 2)),
      ([32, 8, 8, 16], [1, 1, 16, 24], WindowGeometry(window: [1, 1], strides: [1, 1], padding: .same)),
      ([37, 9, 9, 32], [3, 3, 32, 40], WindowGeometry(window: [3, 3], strides: [1, 1], padding: .same)),
    ])
  func filterGradientsAreTheSameOnAnyThreadCount(_ xs: [Int], _ ws: [Int], _ geometry: WindowGeometry) throws {
    for dtype in [DType.float32, .float64] {
      let x = randomArray(Shape(xs), seed: 7, dtype: dtype)
      var y = NDArray()
      try Kernels.conv2d(x, randomArray(Shape(ws), seed: 8, dtype: dtype), geometry, into: &y)
      let dy = randomArray(y.shape, seed: 9, dtype: dtype)
      let results = try Self.perThreadCount {
        var dw = NDArray()
        try Kernels.conv2dBackpropFilter(x, dy, filterHeight: ws[0], filterWidth: ws[1], geometry, into: &dw)
        return dw
      }
      #expect(results[0].shape == Shape(ws))
      Self.expectSameBits(results, "conv2dBackpropFilter \(xs) \(ws) \(dtype)")
    }
  }
}

extension ThreadCountTests {
  /// The Winograd form's forward pass (with a bias and a rectifier) and input gradient give the
  /// same bits on any number of threads (each image's tiles are computed the same way whatever
  /// block they fall in), like the filter gradient above.
  @Test func winogradConvolutionsAreTheSameOnAnyThreadCount() throws {
    let geometry = WindowGeometry(window: [3, 3], strides: [1, 1], padding: .valid)
    for dtype in [DType.float32, .float64] {
      let x = randomArray([41, 11, 11, 32], seed: 21, dtype: dtype), w = randomArray([3, 3, 32, 48], seed: 22, dtype: dtype)
      let bias = randomArray([48], seed: 23, dtype: dtype)
      let forward = try Self.perThreadCount {
        var y = NDArray()
        try Kernels.conv2d(x, w, geometry, bias: bias, relu: true, into: &y)
        return y
      }
      Self.expectSameBits(forward, "Winograd conv2d \(dtype)")
      let dy = randomArray(forward[0].shape, seed: 24, dtype: dtype)
      let input = try Self.perThreadCount {
        var dx = NDArray()
        try Kernels.conv2dBackpropInput(dy, w, inputHeight: 11, inputWidth: 11, inputChannels: 32, geometry, into: &dx)
        return dx
      }
      Self.expectSameBits(input, "Winograd conv2dBackpropInput \(dtype)")
    }
  }
}

/// `KernelSettings.withPortableKernels` holds for the calling thread and the pool threads that
/// run its products, and for no other thread.
@Suite struct ScopedKernelSettingsTests {
  @Test func portableScopeCoversThePoolAndNothingElse() throws {
    let a = randomArray([300, 300], seed: 21, dtype: .float32), b = randomArray([300, 300], seed: 22, dtype: .float32)
    func product() throws -> [UInt32] {
      var out = NDArray()
      try Kernels.matmul(a, b, transposeA: false, transposeB: false, into: &out)
      return out.withUnsafeBufferPointer(as: Float.self) { $0.map(\.bitPattern) }
    }
    defer { KernelSettings.setMatmulThreads(nil) }
    KernelSettings.setMatmulThreads(1)
    let portableOneThread = try KernelSettings.withPortableKernels { try product() }
    KernelSettings.setMatmulThreads(2)
    let portableTwoThreads = try KernelSettings.withPortableKernels { try product() }
    // The pool's second thread ran the portable kernel too (an AVX2+FMA half would round
    // differently); the thread count cannot change the bits.
    #expect(portableOneThread == portableTwoThreads)
    // Another thread, started inside the scope, keeps the process's choice.
    final class Box: @unchecked Sendable { var value = "" }
    let outside = KernelSettings.instructionSet, elsewhere = Box()
    let inside: String = KernelSettings.withPortableKernels {
      let done = DispatchSemaphore(value: 0)
      Thread {
        elsewhere.value = KernelSettings.instructionSet
        done.signal()
      }.start()
      done.wait()
      return KernelSettings.instructionSet
    }
    #expect(inside == "portable" && elsewhere.value == outside && KernelSettings.instructionSet == outside)
  }
}

/// The packed product's blocking follows the caches the system reports (issue 13).
@Suite struct MatmulBlockingTests {
  /// Cache sizes of a machine and the blocking the rule gives there, worked by hand (KC is 256
  /// for float and 512 for double: KC·size is 1024 and 4096 bytes).
  struct Case: Sendable, CustomTestStringConvertible {
    var caches: [Int]  // L1d, L2, L3 in bytes (0: unknown)
    var cores: Int
    var float: [Int], double: [Int]  // kc, mc, nc
    var wideFloat: [Int], wideDouble: [Int]  // the AVX-512 path's 8x32 and 12x16 tiles
    var testDescription: String { "caches \(caches), \(cores) cores" }
  }

  static let cases: [Case] = [
    // Zen 3 (this machine kind).
    Case(
      caches: [32 << 10, 512 << 10, 32 << 20], cores: 2, float: [256, 144, 4096], double: [512, 36, 512],
      wideFloat: [256, 144, 4096], wideDouble: [512, 36, 512]),
    // 1 MiB L2 (a Skylake-SP kind).
    Case(
      caches: [48 << 10, 1 << 20, 8 << 20], cores: 4, float: [256, 288, 512], double: [512, 72, 256],
      wideFloat: [256, 288, 512], wideDouble: [512, 72, 256]),
    // A Haswell L2, L3 unknown (8 MiB assumed).
    Case(
      caches: [32 << 10, 256 << 10, 0], cores: 1, float: [256, 72, 2048], double: [512, 18, 256],
      wideFloat: [256, 72, 2048], wideDouble: [512, 12, 256]),
    // Nothing known: 512 KiB and 8 MiB assumed.
    Case(
      caches: [0, 0, 0], cores: 2, float: [256, 144, 1024], double: [512, 36, 256],
      wideFloat: [256, 144, 1024], wideDouble: [512, 36, 256]),
    // Tiny caches: the lower bounds.
    Case(
      caches: [32 << 10, 64 << 10, 1 << 20], cores: 64, float: [256, 18, 256], double: [512, 6, 256],
      wideFloat: [256, 16, 256], wideDouble: [512, 12, 256]),
    // Huge caches: the upper bounds; 0 cores counts as 1.
    Case(
      caches: [32 << 10, 32 << 20, 1 << 30], cores: 0, float: [256, 1020, 4096], double: [512, 1020, 4096],
      wideFloat: [256, 1024, 4096], wideDouble: [512, 1020, 4096]),
  ]

  /// The rule, MC = (9/32)·L2 / (KC·size) and NC = L3 / (4·cores) / (KC·size) (float) or
  /// L3 / (8·cores) / (KC·size) (double) as multiples of MR and NR within their bounds, for the
  /// cache sizes of other machines.
  @Test(arguments: cases)
  func blockingFollowsTheRule(_ c: Case) {
    let f = KernelSettings.matmulBlocking(for: .float32, caches: c.caches, cores: c.cores)
    let d = KernelSettings.matmulBlocking(for: .float64, caches: c.caches, cores: c.cores)
    #expect([f.kc, f.mc, f.nc] == c.float, "float32")
    #expect([d.kc, d.mc, d.nc] == c.double, "float64")
    let wf = KernelSettings.matmulBlocking(for: .float32, caches: c.caches, cores: c.cores, wideTiles: true)
    let wd = KernelSettings.matmulBlocking(for: .float64, caches: c.caches, cores: c.cores, wideTiles: true)
    #expect([wf.kc, wf.mc, wf.nc] == c.wideFloat, "float32, AVX-512 tiles")
    #expect([wd.kc, wd.mc, wd.nc] == c.wideDouble, "float64, AVX-512 tiles")
  }

  @Test func processBlockingIsTheRuleForItsCaches() {
    let caches = KernelSettings.cacheSizes
    var cores = 1
    #if canImport(Glibc)
      cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #elseif canImport(Darwin)
      cores = Int(sysconf(_SC_NPROCESSORS_ONLN))
    #endif
    for dtype in [DType.float32, .float64] {
      for wide in [false, true] {
        let own =
          wide
          ? KernelSettings.withAVX512TilesOnAVX2 { KernelSettings.matmulBlocking(for: dtype) }
          : KernelSettings.withInstructionSet(.avx2) { KernelSettings.matmulBlocking(for: dtype) }
        // Without AVX2 both scopes fall to the portable kernels' 6-row tiles.
        let rule = KernelSettings.matmulBlocking(
          for: dtype, caches: caches, cores: cores, wideTiles: wide && KernelSettings.availableInstructionSets.contains(.avx2))
        let ownSizes: [Int] = [own.kc, own.mc, own.nc], ruleSizes: [Int] = [rule.kc, rule.mc, rule.nc]
        #expect(ownSizes == ruleSizes, "\(dtype) wide tiles: \(wide)")
      }
    }
  }

  @Test func blockingFitsTheReportedCaches() {
    let caches = KernelSettings.cacheSizes
    let l1 = caches[0] > 0 ? caches[0] : 32 << 10, l2 = caches[1] > 0 ? caches[1] : 512 << 10
    for (dtype, size, mr, nr) in [(DType.float32, 4, 6, 16), (.float64, 8, 6, 8)] {
      let b = KernelSettings.withInstructionSet(.avx2) { KernelSettings.matmulBlocking(for: dtype) }
      #expect(b.kc == (dtype == .float32 ? 256 : 512), "\(dtype) \(b): the depth split is fixed (it decides the rounding)")
      #expect(b.mc % mr == 0 && b.mc >= mr && b.mc <= 1024, "\(dtype) \(b)")
      #expect(b.nc % nr == 0 && (256...4096).contains(b.nc), "\(dtype) \(b)")
      // Half of L1d holds float's KC×NR panel of B, and all of it double's (on any L1d of
      // 32 KiB or more: double's KC of 512 measured faster, gemm.c); an MC×KC block of A takes
      // at most 9/32 of L2 (unless the bounds forced a larger size on a tiny cache).
      #expect(l1 < 32 << 10 || b.kc * nr * size <= (dtype == .float32 ? l1 / 2 : l1), "\(dtype) \(b) L1d \(l1)")
      #expect(b.mc * b.kc * size <= Swift.max(l2 / 32 * 9, mr * b.kc * size), "\(dtype) \(b) L2 \(l2)")
    }
  }
}
