import ArrayCore
import Foundation
import TestSupport
import Testing

/// The package's own exponential, sigmoid, tanh and softmax (transcendental.c): accuracy over
/// dense sweeps, the exact edges, and the same bits from the scalar function, the array kernel,
/// every instruction set and every thread count.
@Suite struct TranscendentalTests {
  /// Float bit patterns as integers in the floats' order (ulp distance = difference).
  static func ordered(_ x: Float) -> Int64 {
    let b = Int64(x.bitPattern & 0x7fff_ffff)
    return x.sign == .minus ? -b : b
  }
  static func ordered(_ x: Double) -> Int64 {
    let b = Int64(bitPattern: x.bitPattern & 0x7fff_ffff_ffff_ffff)
    return x.sign == .minus ? -b : b
  }
  static func ulps(_ a: Float, _ b: Float) -> Int64 { a.isNaN && b.isNaN ? 0 : abs(ordered(a) - ordered(b)) }
  static func ulps(_ a: Double, _ b: Double) -> Int64 { a.isNaN && b.isNaN ? 0 : abs(ordered(a) - ordered(b)) }

  /// Every 997th float32 bit pattern (both signs, normals, subnormals, infinities, NaNs) and the edges.
  static let floatSweep: [Float] = {
    var xs: [Float] = []
    var b: UInt64 = 0
    while b <= 0xffff_ffff {
      xs.append(Float(bitPattern: UInt32(b)))
      b += 997
    }
    xs += [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude,
           -.greatestFiniteMagnitude, 88.72283, 88.72284, 88.7229, -87.33654, -87.3366, -103.2789, -103.9721, -103.9722, -104, 1e-8, -1e-8]
    return xs
  }()

  /// An even grid over exp's whole finite range, small values, random values, and the edges.
  static let doubleSweep: [Double] = {
    var xs: [Double] = []
    let count = 400_000
    for i in 0...count { xs.append(-746 + 1457 * Double(i) / Double(count)) }
    var g = SeededGenerator(seed: 41)
    for _ in 0..<200_000 { xs.append(Double.random(in: -1...1, using: &g)) }
    for _ in 0..<100_000 { xs.append(Double.random(in: -1e-6...1e-6, using: &g)) }
    xs += [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
           709.782712893384, 709.7827128933841, 710, -708.3964185322641, -708.4, -744.44, -745.1332191019411, -745.1332191019412,
           -746, 1e-300, -1e-300, -Double.leastNormalMagnitude / 3]
    return xs
  }()

  @Test func float32ExpIsWithinOneUlpOfTheCorrectlyRoundedResult() {
    var worst: Int64 = 0, worstAt: Float = 0, notCorrectlyRounded = 0
    for x in Self.floatSweep {
      let got = Kernels.exp(x), expected = Float(Foundation.exp(Double(x)))
      let d = Self.ulps(got, expected)
      if d > 0 { notCorrectlyRounded += 1 }
      if d > worst { (worst, worstAt) = (d, x) }
    }
    #expect(worst <= 1, "float32 exp: \(worst) ulp at \(worstAt)")
    print("float32 exp: worst \(worst) ulp (at \(worstAt)); \(notCorrectlyRounded) of \(Self.floatSweep.count) not the correctly rounded result")
    #expect(Kernels.exp(Float.nan).isNaN)
    #expect(Kernels.exp(Float.infinity) == .infinity && Kernels.exp(-Float.infinity) == 0)
    #expect(Kernels.exp(Float(0)) == 1 && Kernels.exp(-Float(0)) == 1)
    #expect(Kernels.exp(Float(88.7229)) == .infinity && Kernels.exp(Float(-104)) == 0)
    #expect(Kernels.exp(Float(-103.2789)) == .leastNonzeroMagnitude)
  }

  @Test func float64ExpIsWithinOneUlpOfTheSystemsExp() {
    var worst: Int64 = 0, worstAt = 0.0, differing = 0
    for x in Self.doubleSweep {
      let got = Kernels.exp(x), expected = Foundation.exp(x)
      let d = Self.ulps(got, expected)
      if d > 0 { differing += 1 }
      if d > worst { (worst, worstAt) = (d, x) }
    }
    #expect(worst <= 1, "float64 exp: \(worst) ulp at \(worstAt)")
    print("float64 exp: worst \(worst) ulp from glibc's exp (at \(worstAt)); \(differing) of \(Self.doubleSweep.count) differ")
    #expect(Kernels.exp(Double.nan).isNaN)
    #expect(Kernels.exp(Double.infinity) == .infinity && Kernels.exp(-Double.infinity) == 0)
    #expect(Kernels.exp(0.0) == 1 && Kernels.exp(-0.0) == 1)
    #expect(Kernels.exp(709.7827128933841) == .infinity && Kernels.exp(-746.0) == 0)
    #expect(Kernels.exp(-745.0) == Double.leastNonzeroMagnitude)
    #expect(Kernels.exp(-740.0) == Foundation.exp(-740.0) && Kernels.exp(-740.0) < Double.leastNormalMagnitude)
  }

  @Test func float32TanhIsWithinOneUlp() {
    var worst: Int64 = 0, worstAt: Float = 0
    for x in Self.floatSweep {
      let d = Self.ulps(Kernels.tanh(x), Float(Foundation.tanh(Double(x))))
      if d > worst { (worst, worstAt) = (d, x) }
    }
    #expect(worst <= 1, "float32 tanh: \(worst) ulp at \(worstAt)")
    print("float32 tanh: worst \(worst) ulp (at \(worstAt))")
    #expect(Kernels.tanh(Float(0)).bitPattern == Float(0).bitPattern && Kernels.tanh(-Float(0)).bitPattern == (-Float(0)).bitPattern)
    #expect(Kernels.tanh(Float.infinity) == 1 && Kernels.tanh(-Float.infinity) == -1 && Kernels.tanh(Float.nan).isNaN)
    #expect(Kernels.tanh(Float.leastNonzeroMagnitude) == .leastNonzeroMagnitude)
  }

  @Test func sigmoidIsAccurateAndExactAtTheEdges() {
    var worst: Int64 = 0, worstAt: Float = 0
    for x in Self.floatSweep where x.isFinite && abs(x) < 80 {
      let e = Foundation.exp(-Double(x))
      let d = Self.ulps(Kernels.sigmoid(x), Float(1 / (1 + e)))
      if d > worst { (worst, worstAt) = (d, x) }
    }
    #expect(worst <= 3, "float32 sigmoid: \(worst) ulp at \(worstAt)")
    print("float32 sigmoid: worst \(worst) ulp (at \(worstAt))")
    #expect(Kernels.sigmoid(Float.infinity) == 1 && Kernels.sigmoid(-Float.infinity) == 0 && Kernels.sigmoid(Float.nan).isNaN)
    #expect(Kernels.sigmoid(Double.infinity) == 1 && Kernels.sigmoid(-Double.infinity) == 0 && Kernels.sigmoid(Double.nan).isNaN)
    #expect(Kernels.sigmoid(Float(0)) == 0.5 && Kernels.sigmoid(0.0) == 0.5)
  }

  /// The array kernels give the scalar functions' bits, element for element, on every
  /// instruction set (the sweep's length is not a multiple of any vector width: the tails too).
  @Test func arrayKernelsAreTheScalarFunctionOnEveryInstructionSet() throws {
    let xf = NDArray(Self.floatSweep), xd = NDArray(Self.doubleSweep + Self.floatSweep.map(Double.init))
    let scalarF: [(String, (Float) -> Float)] = [("exp", Kernels.exp), ("sigmoid", Kernels.sigmoid), ("tanh", Kernels.tanh)]
    let scalarD: [(String, (Double) -> Double)] = [("exp", Kernels.exp), ("sigmoid", Kernels.sigmoid)]
    func kernel(_ name: String, _ x: NDArray) throws -> NDArray {
      var out = NDArray()
      switch name {
      case "exp": try Kernels.exp(x, into: &out)
      case "sigmoid": try Kernels.sigmoid(x, into: &out)
      default: try Kernels.tanh(x, into: &out)
      }
      return out
    }
    for set in KernelSettings.availableInstructionSets {
      try KernelSettings.withInstructionSet(set) {
        for (name, f) in scalarF {
          let got = try kernel(name, xf).scalars(as: Float.self)
          let differing = zip(got, Self.floatSweep).filter { $0.bitPattern != f($1).bitPattern }.count
          #expect(differing == 0, "float32 \(name) on \(set): \(differing) elements differ from the scalar function")
        }
        let xs = xd.scalars(as: Double.self)
        for (name, f) in scalarD {
          let got = try kernel(name, xd).scalars(as: Double.self)
          let differing = zip(got, xs).filter { $0.bitPattern != f($1).bitPattern }.count
          #expect(differing == 0, "float64 \(name) on \(set): \(differing) elements differ from the scalar function")
        }
      }
    }
  }

  /// Softmax as its doc comment defines it, in Swift: the maximum (NaN-sticky, ±∞ → 0), the
  /// exponentials by the scalar exp, the sum in double (a contiguous row in 16 accumulators added
  /// in a halving tree; any other axis in order), then e / S in double or (x − m) − log S.
  static func reference<T: FloatElement>(_ x: [T], outer: Int, n: Int, inner: Int, log: Bool) -> [T] {
    var y = [T](repeating: 0, count: x.count)
    for o in 0..<outer {
      for i in 0..<inner {
        let at = { (j: Int) in o * n * inner + j * inner + i }
        var m = -T.infinity
        if inner == 1 {
          var mp = [T](repeating: -T.infinity, count: 16)
          for j in 0..<n where x[at(j)] > mp[j % 16] || x[at(j)].isNaN { mp[j % 16] = x[at(j)] }
          m = mp[0]
          for k in 1..<16 where mp[k] > m || mp[k].isNaN { m = mp[k] }
        } else {
          for j in 0..<n where x[at(j)] > m || x[at(j)].isNaN { m = x[at(j)] }
        }
        if m.isInfinite { m = 0 }
        let e = (0..<n).map { Kernels.exp(x[at($0)] - m) }
        var total = 0.0
        if inner == 1 {
          var part = [Double](repeating: 0, count: 16)
          for j in 0..<n { part[j % 16] += Double(e[j]) }
          var w = 8
          while w >= 1 {
            for k in 0..<w { part[k] += part[k + w] }
            w /= 2
          }
          total = part[0]
        } else {
          for j in 0..<n { total += Double(e[j]) }
        }
        let lt = T(Foundation.log(total))
        for j in 0..<n { y[at(j)] = log ? (x[at(j)] - m) - lt : T(Double(e[j]) / total) }
      }
    }
    return y
  }

  @Test(arguments: [DType.float32, .float64])
  func softmaxIsItsDocumentedArithmeticOnEveryThreadCountAndPath(dtype: DType) throws {
    // [outer, n, inner]: rows (the last axis; 1024 wide, 37 and 5: partial accumulators), axis 0
    // of a matrix (inner 1024 and 37: a partial line of lanes), a middle axis, and rows of edges.
    let cases = [(256, 1024, 1), (9, 37, 1), (3, 5, 1), (1, 256, 1024), (1, 70, 37), (3, 7, 5), (2, 1, 3)]
    for (outer, n, inner) in cases {
      let x = randomArray([outer, n, inner], in: -30...30, seed: UInt64(outer + n + inner), dtype: dtype)
      for log in [false, true] {
        func run() throws -> [UInt64] {
          var out = NDArray()
          try Kernels.softmax(x, axis: 1, log: log, into: &out)
          return out.doubles.map(\.bitPattern)
        }
        let expected: [UInt64] =
          dtype == .float32
          ? Self.reference(x.scalars(as: Float.self), outer: outer, n: n, inner: inner, log: log).map { Double($0).bitPattern }
          : Self.reference(x.scalars(as: Double.self), outer: outer, n: n, inner: inner, log: log).map(\.bitPattern)
        var results: [[UInt64]] = []
        defer { KernelSettings.setMatmulThreads(nil) }
        for t in [1, 2, 3, 5] {
          KernelSettings.setMatmulThreads(t)
          results.append(try run())
        }
        KernelSettings.setMatmulThreads(nil)
        for set in KernelSettings.availableInstructionSets { results.append(try KernelSettings.withInstructionSet(set) { try run() }) }
        for r in results {
          let differing = zip(r, expected).filter { $0 != $1 }.count
          #expect(differing == 0, "[\(outer), \(n), \(inner)] \(dtype) log \(log): \(differing) values differ from the documented arithmetic")
        }
      }
    }
  }

  @Test func softmaxEdges() throws {
    // NaN propagates to its row; a row of −∞ is not shifted (0/0: NaN, as TF); a row holding
    // +∞ is not shifted either (∞/∞ there, 0 elsewhere); large finite values shift exactly.
    let x = NDArray([-Float.infinity, -.infinity, 1, 2, Float.nan, 0, 3, 1e30, -1e30, -.infinity, -.infinity, -.infinity,
                     .infinity, 1, 2], shape: [5, 3])
    var out = NDArray()
    try Kernels.softmax(x, axis: -1, into: &out)
    let y = out.scalars(as: Float.self)
    #expect(y[0] == 0 && y[1] == 0 && y[2] == 1)
    #expect(y[3].isNaN && y[4].isNaN && y[5].isNaN)
    #expect(y[6] == 0 && y[7] == 1 && y[8] == 0)
    #expect(y[9].isNaN && y[10].isNaN && y[11].isNaN)
    #expect(y[12].isNaN && y[13] == 0 && y[14] == 0)
    try Kernels.softmax(x, axis: -1, log: true, into: &out)
    let l = out.scalars(as: Float.self)
    #expect(l[2] == 0 && l[0] == -.infinity)
    #expect(l[6] == -1e30 && l[7] == 0 && l[8] == -2e30)
  }
}
