import Foundation
import GraphCore
import Testing
import TestSupport

/// Forward values of each elementwise operation against Swift's own scalar functions (Foundation's
/// `exp`, `log`, `tanh`...: an implementation independent of the kernels), in Float and Double.
@Suite struct ForwardTests {
  typealias Builder = @Sendable (Tensor) throws -> Tensor

  static let unaryCases: [(String, Builder, @Sendable (Double) -> Double, ClosedRange<Double>)] = [
    ("negate", { try negate($0) }, { -$0 }, -3...3),
    ("square", { try square($0) }, { $0 * $0 }, -3...3),
    ("abs", { try abs($0) }, { Swift.abs($0) }, -3...3),
    ("exp", { try exp($0) }, { Foundation.exp($0) }, -3...3),
    ("log", { try log($0) }, { Foundation.log($0) }, 0.1...5),
    ("sqrt", { try sqrt($0) }, { Foundation.sqrt($0) }, 0.1...5),
    ("sigmoid", { try sigmoid($0) }, { 1 / (1 + Foundation.exp(-$0)) }, -8...8),
    ("tanh", { try tanh($0) }, { Foundation.tanh($0) }, -3...3),
    ("relu", { try relu($0) }, { Swift.max($0, 0) }, -3...3),
    ("round", { try round($0) }, { Foundation.rint($0) }, -3...3),
    ("sign", { try sign($0) }, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, -3...3),
  ]

  @Test(arguments: 0..<11, [DType.float32, .float64])
  func unary(_ index: Int, _ dtype: DType) throws {
    let (name, build, oracle, domain) = Self.unaryCases[index]
    let input = randomArray([4, 5], in: domain, seed: UInt64(index + 1), dtype: dtype)
    let graph = Graph()
    let x = graph.placeholder(dtype, shape: [4, 5])
    let y = try build(x)
    let out = try Session(graph: graph).run(y, feeding: [x: input])
    #expect(out.dtype == dtype)
    // Oracle in Double on the (possibly rounded) inputs; Float results within Float precision.
    let expected = NDArray(converting: input.doubles.map(oracle), shape: [4, 5], dtype: .float64)
    expectClose(out.converted(to: .float64), expected, rtol: dtype == .float32 ? 2e-6 : 1e-14, atol: dtype == .float32 ? 1e-6 : 1e-15, "\(name)")
  }

  static let binaryCases: [(String, @Sendable (Tensor, Tensor) throws -> Tensor, @Sendable (Double, Double) -> Double)] = [
    ("add", { try $0 + $1 }, +),
    ("subtract", { try $0 - $1 }, -),
    ("multiply", { try $0 * $1 }, *),
    ("divide", { try $0 / $1 }, /),
  ]

  @Test(arguments: 0..<4, [DType.float32, .float64])
  func binaryWithBroadcasting(_ index: Int, _ dtype: DType) throws {
    let (name, build, oracle) = Self.binaryCases[index]
    for (sa, sb) in [([4, 3], [3]), ([4, 1], [1, 3]), ([], [2, 2]), ([2, 3], [2, 3])] as [([Int], [Int])] {
      let a = randomArray(Shape(sa), in: 0.5...2, seed: 7, dtype: dtype)
      let b = randomArray(Shape(sb), in: 0.5...2, seed: 8, dtype: dtype)
      let graph = Graph()
      let x = graph.placeholder(dtype, shape: PartialShape(Shape(sa)))
      let y = graph.placeholder(dtype, shape: PartialShape(Shape(sb)))
      let z = try build(x, y)
      let out = try Session(graph: graph).run(z, feeding: [x: a, y: b])
      // Independent broadcasting oracle: index arithmetic written out here.
      let outShape = [Swift.max(sa.count, sb.count) >= 2 ? Swift.max(sa.count >= 2 ? sa[sa.count - 2] : 1, sb.count >= 2 ? sb[sb.count - 2] : 1) : 1,
        Swift.max(sa.last ?? 1, sb.last ?? 1)]
      var expected: [Double] = []
      let av = a.doubles, bv = b.doubles
      func at(_ v: [Double], _ s: [Int], _ i: Int, _ j: Int) -> Double {
        switch s.count {
        case 0: return v[0]
        case 1: return v[s[0] == 1 ? 0 : j]
        default: return v[(s[0] == 1 ? 0 : i) * s[1] + (s[1] == 1 ? 0 : j)]
        }
      }
      for i in 0..<outShape[0] { for j in 0..<outShape[1] { expected.append(oracle(at(av, sa, i, j), at(bv, sb, i, j))) } }
      #expect(out.shape == Shape(outShape), "\(name) \(sa) \(sb)")
      expectClose(out.converted(to: .float64), NDArray(expected, shape: Shape(outShape)), rtol: dtype == .float32 ? 1e-6 : 1e-15, "\(name) \(sa) \(sb)")
    }
  }

  @Test func reductionsAndShapes() throws {
    let graph = Graph()
    let x = graph.placeholder(.float64, shape: [2, 3])
    let value = NDArray([1.0, 2, 3, 4, 5, 6], shape: [2, 3])
    let session = Session(graph: graph)
    let fetches = [
      try sum(x), try sum(x, axes: [0]), try sum(x, axes: [1], keepDims: true), try mean(x), try mean(x, axes: [-1]),
      try expandDims(x, axis: 0), try reshape(x, to: [3, -1]), try squeeze(expandDims(x, axis: 1)),
    ]
    let out = try session.run(fetches, feeding: [x: value])
    #expect(out[0] == NDArray(scalar: 21.0))
    #expect(out[1] == NDArray([5.0, 7, 9]))
    #expect(out[2] == NDArray([6.0, 15], shape: [2, 1]))
    #expect(out[3] == NDArray(scalar: 3.5))
    #expect(out[4] == NDArray([2.0, 5]))
    #expect(out[5].shape == [1, 2, 3])
    #expect(out[6].shape == [3, 2] && out[6].doubles == value.doubles)
    #expect(out[7].shape == [2, 3])
  }

  @Test func matmulAgainstLoops() throws {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      let a = randomArray(ta ? [4, 3] : [3, 4], seed: 1)
      let b = randomArray(tb ? [5, 4] : [4, 5], seed: 2)
      let graph = Graph()
      let x = graph.constant(a), y = graph.constant(b)
      let out = try Session(graph: graph).run(matmul(x, y, transposeA: ta, transposeB: tb))
      var expected = [Double](repeating: 0, count: 15)
      for i in 0..<3 { for j in 0..<5 { for k in 0..<4 {
        expected[i * 5 + j] += (ta ? a[k, i] : a[i, k]) * (tb ? b[j, k] : b[k, j])
      } } }
      expectClose(out, NDArray(expected, shape: [3, 5]), rtol: 1e-14)
    }
  }

  @Test func sigmoidCrossEntropyIsStable() throws {
    let graph = Graph()
    let logits = graph.constant(NDArray([-1e4, -30, -1, 0, 2, 40, 1e4]))
    let labels = graph.constant(NDArray([0.0, 1, 0.3, 1, 0, 1, 0]))
    let out = try Session(graph: graph).run(sigmoidCrossEntropyWithLogits(logits: logits, labels: labels)).doubles
    // Oracle: -z log σ(x) - (1 - z) log(1 - σ(x)) written with log1p for the moderate range.
    func reference(_ x: Double, _ z: Double) -> Double {
      let logSig = x >= 0 ? -log1p(Foundation.exp(-x)) : x - log1p(Foundation.exp(x))
      let logOneMinus = x >= 0 ? -x - log1p(Foundation.exp(-x)) : -log1p(Foundation.exp(x))
      return -z * logSig - (1 - z) * logOneMinus
    }
    let xs = [-1e4, -30, -1, 0, 2, 40, 1e4], zs = [0.0, 1, 0.3, 1, 0, 1, 0]
    for i in xs.indices {
      #expect(out[i].isFinite)
      expectClose(out[i], reference(xs[i], zs[i]), rtol: 1e-12, atol: 1e-12)
    }
  }
}
