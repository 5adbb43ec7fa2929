import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Draws one sample of `shape` from `initializer` in a fresh graph and session.
func sample(_ initializer: Initializer, shape: Shape, dtype: DType = .float64, seed: UInt64) throws -> NDArray {
  let graph = Graph()
  let v = try graph.variable(initializer, shape: shape, dtype: dtype, seed: seed, name: "v")
  let session = Session(graph: graph)
  try session.initializeVariables()
  return try session.value(of: v)
}

/// Mean, standard deviation (population), minimum and maximum, with plain loops.
func statistics(_ values: [Double]) -> (mean: Double, std: Double, min: Double, max: Double) {
  var total = 0.0
  for v in values { total += v }
  let mean = total / Double(values.count)
  var squares = 0.0
  for v in values { squares += (v - mean) * (v - mean) }
  return (mean, (squares / Double(values.count)).squareRoot(), values.min() ?? .nan, values.max() ?? .nan)
}

@Suite struct InitializerTests {
  // 200 x 250 = 50 000 samples: the sample mean is within 4σ/√n = 0.018σ, the sample standard
  // deviation within ~1.5% (4 standard errors, σ/√(2n) for a normal) of the true values.
  static let shape: Shape = [200, 250]
  static let n = 50_000.0

  @Test func constantsAreExact() throws {
    #expect(try sample(.zeros, shape: [2, 3], seed: 0).doubles == [Double](repeating: 0, count: 6))
    #expect(try sample(.ones, shape: [4], seed: 0).doubles == [1, 1, 1, 1])
    #expect(try sample(.constant(-2.5), shape: [3], seed: 0).doubles == [-2.5, -2.5, -2.5])
    let f = try sample(.constant(0.1), shape: [2], dtype: .float32, seed: 0)
    #expect(f.dtype == .float32 && f.scalars(as: Float.self) == [0.1, 0.1])
  }

  @Test func fansFollowKeras() {
    #expect(Initializer.fans(of: []) == (1, 1))
    #expect(Initializer.fans(of: [7]) == (7, 7))
    #expect(Initializer.fans(of: [3, 5]) == (3, 5))
    #expect(Initializer.fans(of: [3, 4, 5, 6]) == (60, 72))  // receptive field 3·4 = 12
  }

  @Test func randomNormalStatistics() throws {
    let s = statistics(try sample(.randomNormal(mean: 1, standardDeviation: 2), shape: Self.shape, seed: 11).doubles)
    #expect(Swift.abs(s.mean - 1) < 4 * 2 / Self.n.squareRoot())
    #expect(Swift.abs(s.std / 2 - 1) < 0.015)
  }

  @Test func truncatedNormalStatisticsAndBounds() throws {
    let s = statistics(try sample(.truncatedNormal(mean: 0.5, standardDeviation: 1), shape: Self.shape, seed: 12).doubles)
    #expect(s.min >= 0.5 - 2 && s.max <= 0.5 + 2)
    #expect(Swift.abs(s.mean - 0.5) < 4 / Self.n.squareRoot())
    // A standard normal cut at ±2 has standard deviation 0.8796 (the Keras constant).
    #expect(Swift.abs(s.std / 0.87962566103423978 - 1) < 0.015)
  }

  @Test func randomUniformStatisticsAndBounds() throws {
    let s = statistics(try sample(.randomUniform(low: -3, high: 5), shape: Self.shape, seed: 13).doubles)
    #expect(s.min >= -3 && s.max < 5)
    #expect(s.min < -2.99 && s.max > 4.99)  // fills the interval
    let sd = 8 / 12.0.squareRoot()
    #expect(Swift.abs(s.mean - 1) < 4 * sd / Self.n.squareRoot())
    #expect(Swift.abs(s.std / sd - 1) < 0.01)
  }

  @Test func glorotAndHeScaleWithTheFans() throws {
    // fanIn 200, fanOut 250 (hand-computed limits and deviations).
    let glorotLimit = (6.0 / 450).squareRoot(), glorotSD = (2.0 / 450).squareRoot()
    let heLimit = (6.0 / 200).squareRoot(), heSD = (2.0 / 200).squareRoot()
    let cases: [(Initializer, bound: Double, sd: Double)] = [
      (.glorotUniform, glorotLimit, glorotSD),  // uniform on ±l has σ = l/√3
      (.glorotNormal, 2 * glorotSD / 0.87962566103423978, glorotSD),
      (.heUniform, heLimit, heSD),
      (.heNormal, 2 * heSD / 0.87962566103423978, heSD),
    ]
    for (i, c) in cases.enumerated() {
      let s = statistics(try sample(c.0, shape: Self.shape, seed: 20 + UInt64(i)).doubles)
      #expect(s.min >= -c.bound && s.max <= c.bound, "\(c.0) outside ±\(c.bound): [\(s.min), \(s.max)]")
      #expect(s.max > 0.9 * c.bound, "\(c.0) does not reach its bound")
      #expect(Swift.abs(s.mean) < 4 * c.sd / Self.n.squareRoot(), "\(c.0) mean \(s.mean)")
      #expect(Swift.abs(s.std / c.sd - 1) < 0.015, "\(c.0) std \(s.std), expected \(c.sd)")
    }
  }

  @Test(arguments: [
    Initializer.randomNormal(), .truncatedNormal(), .randomUniform(), .glorotUniform, .glorotNormal, .heNormal, .heUniform,
  ])
  func sameSeedSameBitsOtherSeedOtherValues(_ initializer: Initializer) throws {
    for dtype in [DType.float32, .float64] {
      let a = try sample(initializer, shape: [16, 8], dtype: dtype, seed: 99)
      let b = try sample(initializer, shape: [16, 8], dtype: dtype, seed: 99)
      let c = try sample(initializer, shape: [16, 8], dtype: dtype, seed: 100)
      #expect(a.dtype == dtype)
      #expect(a.isBitIdentical(to: b))
      #expect(!a.isBitIdentical(to: c))
    }
  }

  @Test func badArgumentsThrow() {
    let g = Graph()
    expectInvalidArgument(["Initializer", "float", "int32"]) { _ = try Initializer.glorotUniform.initialValue(g, shape: [2, 2], dtype: .int32, seed: 0) }
    expectInvalidArgument(["randomUniform", "low < high"]) { _ = try Initializer.randomUniform(low: 1, high: 1).initialValue(g, shape: [2], seed: 0) }
    expectInvalidArgument(["standardDeviation", "-1.0"]) { _ = try Initializer.randomNormal(standardDeviation: -1).initialValue(g, shape: [2], seed: 0) }
    expectInvalidArgument(["positive fan", "[0, 3]"]) { _ = try Initializer.heNormal.initialValue(g, shape: [0, 3], seed: 0) }
  }
}
