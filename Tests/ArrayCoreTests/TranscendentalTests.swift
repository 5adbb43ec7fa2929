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

  /// Every binade of the doubles (normal and subnormal, random mantissas), [0.5, 2] densely
  /// (where ln x is near 0), values next to 1, and the edges.
  static let doubleLogSweep: [Double] = {
    var xs: [Double] = []
    var g = SeededGenerator(seed: 43)
    for e in -1074...1023 {
      for _ in 0..<100 { xs.append(Double(sign: .plus, exponent: e, significand: Double.random(in: 1..<2, using: &g))) }
    }
    for _ in 0..<300_000 { xs.append(Double.random(in: 0.5...2, using: &g)) }
    for i in 1...2000 { xs += [1 + Double(i) * .ulpOfOne, 1 - Double(i) * .ulpOfOne / 2] }
    xs += [0, -0, 1, -1, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
           -.greatestFiniteMagnitude, Double.leastNormalMagnitude / 3, 2.squareRoot(), 0.5.squareRoot(), 2, 0.5]
    return xs
  }()

  /// log1p's sweep: (−1, 1) densely, values next to −1 and 0, every binade of positive and
  /// (above −1) negative values, and the edges.
  static let doubleLog1pSweep: [Double] = {
    var xs: [Double] = []
    var g = SeededGenerator(seed: 47)
    for _ in 0..<300_000 { xs.append(Double.random(in: -1...1, using: &g)) }
    for e in -1074...1023 {
      for _ in 0..<60 {
        let v = Double(sign: .plus, exponent: e, significand: Double.random(in: 1..<2, using: &g))
        xs.append(v)
        if v < 1 { xs.append(-v) }
      }
    }
    for i in 1...2000 { xs += [-1 + Double(i) * .ulpOfOne / 2, Double(i) * 1e-17, -Double(i) * 1e-17] }
    xs += [0, -0, -1, -1.5, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
           .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 2.squareRoot() - 1, 0.5.squareRoot() - 1, 1, -0.5]
    return xs
  }()

  /// A float32 function against the correctly rounded result (the `Double` function rounded to
  /// `Float`): the worst distance in ulp and how many differ.
  static func againstDouble(_ f: (Float) -> Float, _ reference: (Double) -> Double, _ xs: [Float]) -> (worst: Int64, at: Float, differing: Int) {
    var worst: Int64 = 0, at: Float = 0, differing = 0
    for x in xs {
      let d = ulps(f(x), Float(reference(Double(x))))
      if d > 0 { differing += 1 }
      if d > worst { (worst, at) = (d, x) }
    }
    return (worst, at, differing)
  }

  /// The largest distance in ulps of `f` from the system's `reference` over `xs`, where, and
  /// at how many values they differ.
  static func againstSystem(_ f: (Double) -> Double, _ reference: (Double) -> Double, _ xs: [Double]) -> (worst: Int64, at: Double, differing: Int) {
    var worst: Int64 = 0, at = 0.0, differing = 0
    for x in xs {
      let d = ulps(f(x), reference(x))
      if d > 0 { differing += 1 }
      if d > worst { (worst, at) = (d, x) }
    }
    return (worst, at, differing)
  }

  @Test func float32LogIsWithinOneUlpOfTheCorrectlyRoundedResult() {
    let r = Self.againstDouble(Kernels.log, Foundation.log, Self.floatSweep)
    #expect(r.worst <= 1, "float32 log: \(r.worst) ulp at \(r.at)")
    // Float arithmetic (transcendental.c): 0.3-0.7% of the floats are 1 ulp off.
    #expect(r.differing * 100 <= Self.floatSweep.count, "float32 log: \(r.differing) values not correctly rounded")
    print("float32 log: worst \(r.worst) ulp (at \(r.at)); \(r.differing) of \(Self.floatSweep.count) not the correctly rounded result")
    #expect(Kernels.log(Float(0)) == -.infinity && Kernels.log(-Float(0)) == -.infinity)
    #expect(Kernels.log(Float(-1)).isNaN && Kernels.log(-Float.infinity).isNaN && Kernels.log(Float.nan).isNaN)
    #expect(Kernels.log(-Float.leastNonzeroMagnitude).isNaN)
    #expect(Kernels.log(Float.infinity) == .infinity && Kernels.log(Float(1)).bitPattern == 0)
    #expect(Kernels.log(Float.leastNonzeroMagnitude) == Float(Foundation.log(Double(Float.leastNonzeroMagnitude))))
    #expect(Kernels.log(Float.greatestFiniteMagnitude) == Float(Foundation.log(Double(Float.greatestFiniteMagnitude))))
  }

  @Test func float64LogIsWithinOneUlpOfTheSystemsLog() {
    let (worst, worstAt, differing) = Self.againstSystem(Kernels.log, Foundation.log, Self.doubleLogSweep)
    #expect(worst <= 1, "float64 log: \(worst) ulp at \(worstAt)")
    print("float64 log: worst \(worst) ulp from glibc's log (at \(worstAt)); \(differing) of \(Self.doubleLogSweep.count) differ")
    #expect(Kernels.log(0.0) == -.infinity && Kernels.log(-0.0) == -.infinity)
    #expect(Kernels.log(-1.0).isNaN && Kernels.log(-Double.infinity).isNaN && Kernels.log(Double.nan).isNaN)
    #expect(Kernels.log(-Double.leastNonzeroMagnitude).isNaN)
    #expect(Kernels.log(Double.infinity) == .infinity && Kernels.log(1.0).bitPattern == 0)
    #expect(Kernels.log(Double.leastNonzeroMagnitude) == Foundation.log(Double.leastNonzeroMagnitude))
    #expect(Kernels.log(2.0) == Foundation.log(2.0) && Kernels.log(0.5) == -Foundation.log(2.0))
  }

  @Test func float32Log1pIsWithinOneUlpOfTheCorrectlyRoundedResult() {
    let r = Self.againstDouble(Kernels.log1p, Foundation.log1p, Self.floatSweep)
    #expect(r.worst <= 1, "float32 log1p: \(r.worst) ulp at \(r.at)")
    // Float arithmetic (transcendental.c): 0.3-0.7% of the floats are 1 ulp off.
    #expect(r.differing * 100 <= Self.floatSweep.count, "float32 log1p: \(r.differing) values not correctly rounded")
    print("float32 log1p: worst \(r.worst) ulp (at \(r.at)); \(r.differing) of \(Self.floatSweep.count) not the correctly rounded result")
    #expect(Kernels.log1p(Float(0)).bitPattern == Float(0).bitPattern && Kernels.log1p(-Float(0)).bitPattern == (-Float(0)).bitPattern)
    #expect(Kernels.log1p(Float(-1)) == -.infinity && Kernels.log1p(Float(-1.5)).isNaN && Kernels.log1p(-Float.infinity).isNaN)
    #expect(Kernels.log1p(Float.nan).isNaN && Kernels.log1p(Float.infinity) == .infinity)
    #expect(Kernels.log1p(Float.leastNonzeroMagnitude) == .leastNonzeroMagnitude && Kernels.log1p(Float(1e-30)) == 1e-30)
  }

  @Test func float64Log1pIsWithinOneUlpOfTheSystemsLog1p() {
    let (worst, worstAt, differing) = Self.againstSystem(Kernels.log1p, Foundation.log1p, Self.doubleLog1pSweep)
    #expect(worst <= 1, "float64 log1p: \(worst) ulp at \(worstAt)")
    print("float64 log1p: worst \(worst) ulp from glibc's log1p (at \(worstAt)); \(differing) of \(Self.doubleLog1pSweep.count) differ")
    #expect(Kernels.log1p(0.0).bitPattern == 0.0.bitPattern && Kernels.log1p(-0.0).bitPattern == (-0.0).bitPattern)
    #expect(Kernels.log1p(-1.0) == -.infinity && Kernels.log1p(-1.5).isNaN && Kernels.log1p(-Double.infinity).isNaN)
    #expect(Kernels.log1p(Double.nan).isNaN && Kernels.log1p(Double.infinity) == .infinity)
    #expect(Kernels.log1p(Double.leastNonzeroMagnitude) == .leastNonzeroMagnitude && Kernels.log1p(1e-300) == 1e-300)
  }

  /// Softplus and the sigmoid cross-entropy are their formulas, operation by operation in the
  /// element type, through the package's exp and log1p (the bits of the Swift expression).
  @Test func softplusAndSigmoidCrossEntropyAreTheirFormulas() {
    func check<T: FloatElement>(_ xs: [T], _ zs: [T]) -> (Int, Int) {
      var softplus = 0, xent = 0
      for (x, z) in zip(xs, zs) {
        let l = Kernels.log1p(Kernels.exp(-Swift.abs(x)))
        let sp = Swift.max(x, 0) + l, ce = (Swift.max(x, 0) - x * z) + l
        let gotSp = Kernels.softplus(x), gotCe = Kernels.sigmoidCrossEntropy(x, z)
        if !(gotSp == sp || (gotSp.isNaN && sp.isNaN)) { softplus += 1 }
        if !(gotCe == ce || (gotCe.isNaN && ce.isNaN)) { xent += 1 }
      }
      return (softplus, xent)
    }
    let zf = Self.floatSweep.indices.map { Float($0 % 11) / 10 }
    let (spF, ceF) = check(Self.floatSweep, zf)
    let xd = Array(Self.doubleSweep.prefix(300_000)).map { $0 / 8 }
    let (spD, ceD) = check(xd, xd.indices.map { Double($0 % 11) / 10 })
    #expect(spF == 0 && ceF == 0 && spD == 0 && ceD == 0, "values differing from the formula: \(spF) \(ceF) \(spD) \(ceD)")
    #expect(Kernels.softplus(Float.infinity) == .infinity && Kernels.softplus(-Float.infinity) == 0 && Kernels.softplus(Float.nan).isNaN)
    #expect(Kernels.softplus(Float(0)) == Float(Foundation.log(2.0)) && Kernels.softplus(0.0) == Foundation.log(2.0))
    #expect(Kernels.sigmoidCrossEntropy(Float(0), Float(1)) == Float(Foundation.log(2.0)))
    #expect(Kernels.sigmoidCrossEntropy(Double.nan, 1).isNaN && Kernels.sigmoidCrossEntropy(1.0, .nan).isNaN)
  }

  /// The array kernels give the scalar functions' bits, element for element, on every
  /// instruction set (the sweep's length is not a multiple of any vector width: the tails too).
  @Test func arrayKernelsAreTheScalarFunctionOnEveryInstructionSet() throws {
    let xf = NDArray(Self.floatSweep), xd = NDArray(Self.doubleSweep + Self.floatSweep.map(Double.init))
    let scalarF: [(String, (Float) -> Float)] = [
      ("exp", Kernels.exp), ("sigmoid", Kernels.sigmoid), ("tanh", Kernels.tanh), ("log", Kernels.log), ("log1p", Kernels.log1p),
      ("softplus", Kernels.softplus), ("sigmoid cross-entropy", { Kernels.sigmoidCrossEntropy($0, Self.label($0)) }),
    ]
    let scalarD: [(String, (Double) -> Double)] = [
      ("exp", Kernels.exp), ("sigmoid", Kernels.sigmoid), ("log", Kernels.log), ("log1p", Kernels.log1p), ("softplus", Kernels.softplus),
      ("sigmoid cross-entropy", { Kernels.sigmoidCrossEntropy($0, Self.label($0)) }),
    ]
    // The log sweeps' every third value (their binades and edges; the whole sweep would take
    // minutes in a debug build).
    let xl = NDArray(Self.doubleLogSweep.enumerated().filter { $0.offset % 3 == 0 || $0.offset >= Self.doubleLogSweep.count - 16 }.map(\.element)
      + Self.doubleLog1pSweep.enumerated().filter { $0.offset % 3 == 0 || $0.offset >= Self.doubleLog1pSweep.count - 15 }.map(\.element))
    for set in KernelSettings.availableInstructionSets {
      try KernelSettings.withInstructionSet(set) {
        for (name, f) in scalarF {
          let got = try Self.kernel(name, xf).scalars(as: Float.self)
          let differing = zip(got, Self.floatSweep).filter { $0.bitPattern != f($1).bitPattern }.count
          #expect(differing == 0, "float32 \(name) on \(set): \(differing) elements differ from the scalar function")
        }
        for x in [xd, xl] {
          let xs = x.scalars(as: Double.self)
          for (name, f) in scalarD {
            let got = try Self.kernel(name, x).scalars(as: Double.self)
            let differing = zip(got, xs).filter { $0.bitPattern != f($1).bitPattern }.count
            #expect(differing == 0, "float64 \(name) on \(set): \(differing) elements differ from the scalar function")
          }
        }
      }
    }
  }

  /// A label in [0, 1] for a logit (from its bits): the sigmoid cross-entropy's second operand.
  static func label<T: FloatElement>(_ x: T) -> T {
    let h = x.isNaN ? 0 : Int(truncatingIfNeeded: (Double(x).bitPattern >> 29) % 11)
    return T(h) / 10
  }

  /// The array kernel `name` on `x` (the sigmoid cross-entropy with labels `label(x)`).
  static func kernel(_ name: String, _ x: NDArray) throws -> NDArray {
    var out = NDArray()
    switch name {
    case "exp": try Kernels.exp(x, into: &out)
    case "sigmoid": try Kernels.sigmoid(x, into: &out)
    case "tanh": try Kernels.tanh(x, into: &out)
    case "log": try Kernels.log(x, into: &out)
    case "log1p": try Kernels.log1p(x, into: &out)
    case "softplus": try Kernels.softplus(x, into: &out)
    default:
      let z =
        x.dtype == .float32
        ? NDArray(x.scalars(as: Float.self).map { label($0) }, shape: x.shape)
        : NDArray(x.scalars(as: Double.self).map { label($0) }, shape: x.shape)
      try Kernels.sigmoidCrossEntropy(x, z, into: &out)
    }
    return out
  }

  /// Maps large enough to be split over the threads give the same bits on 1, 2, 3 and 5
  /// threads (the scalar function's, element for element).
  @Test(arguments: [DType.float32, .float64])
  func mapsGiveTheSameBitsOnEveryThreadCount(dtype: DType) throws {
    let names = ["exp", "sigmoid", "tanh", "log", "log1p", "softplus", "sigmoid cross-entropy"].filter { dtype == .float32 || $0 != "tanh" }
    // 300_001 elements: above the split threshold (64Ki), not a multiple of the pieces.
    let x = randomArray([300_001], in: -30...30, seed: 42, dtype: dtype)
    let positive = randomArray([300_001], in: 1e-3...30, seed: 43, dtype: dtype)
    defer { KernelSettings.setMatmulThreads(nil) }
    for name in names {
      var results: [[UInt64]] = []
      for t in [1, 2, 3, 5] {
        KernelSettings.setMatmulThreads(t)
        results.append(try Self.kernel(name, name.hasPrefix("log") ? positive : x).doubles.map(\.bitPattern))
      }
      KernelSettings.setMatmulThreads(nil)
      let expected: [UInt64]
      let f: [String: (Double) -> Double] = [
        "exp": Kernels.exp, "sigmoid": Kernels.sigmoid, "log": Kernels.log, "log1p": Kernels.log1p, "softplus": Kernels.softplus,
        "sigmoid cross-entropy": { Kernels.sigmoidCrossEntropy($0, Self.label($0)) },
      ]
      let g: [String: (Float) -> Float] = [
        "exp": Kernels.exp, "sigmoid": Kernels.sigmoid, "tanh": Kernels.tanh, "log": Kernels.log, "log1p": Kernels.log1p,
        "softplus": Kernels.softplus, "sigmoid cross-entropy": { Kernels.sigmoidCrossEntropy($0, Self.label($0)) },
      ]
      let input = name.hasPrefix("log") ? positive : x
      if dtype == .float32 {
        expected = input.scalars(as: Float.self).map { Double(g[name]!($0)).bitPattern }
      } else {
        expected = input.scalars(as: Double.self).map { f[name]!($0).bitPattern }
      }
      for (i, r) in results.enumerated() {
        let differing = zip(r, expected).filter { $0 != $1 }.count
        #expect(differing == 0, "\(dtype) \(name) on \([1, 2, 3, 5][i]) threads: \(differing) values differ from the scalar function")
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
