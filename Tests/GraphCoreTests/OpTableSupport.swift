import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

// The machinery of the operation table (OpTable.swift): the entry type, seeded shape and value
// generators, and reference implementations over plain Swift loops (independent of the kernels:
// they only read `doubles` and build float64 arrays).

/// Where an operation's inputs are drawn from.
enum Domain: CustomStringConvertible {
  /// Uniform reals in `lo...hi`.
  case real(Double, Double)
  /// Uniform in `0.2...2` (log, sqrt, pow's base).
  case positive
  /// `|x|` in `0.1...2` with a random sign: away from the kink or pole at 0.
  case awayFromZero
  /// Fractional parts in `[0.1, 0.4] ∪ [0.6, 0.9]`: away from the jumps of round, floor and ceil.
  case awayFromHalf
  /// `|x|` in `0.1...0.8 ∪ 1.2...2`: away from the kinks of clip(-1, 1).
  case awayFromUnit
  /// Distinct values at least 0.2 apart (a shuffled grid plus jitter): no ties for max, min, argMax.
  case distinct
  /// `0.5k + 0.2 + 0.1u`: with `gridB`, pairs at least 0.15 apart (maximum, minimum away from ties).
  case gridA
  /// `0.5k + 0.45 + 0.1u`.
  case gridB
  /// Integers in `-2...2` (comparisons: ties on purpose; exact in every dtype).
  case integers
  /// Probabilities in `0...1` (labels).
  case unit

  var description: String {
    switch self {
    case let .real(a, b): "reals in [\(a), \(b)]"
    case .positive: "positives in [0.2, 2]"
    case .awayFromZero: "|x| in [0.1, 2] (away from 0)"
    case .awayFromHalf: "fractional part in [0.1, 0.4] or [0.6, 0.9] (away from .5 and integers)"
    case .awayFromUnit: "|x| in [0.1, 0.8] or [1.2, 2] (away from the clip bounds ±1)"
    case .distinct: "distinct values ≥ 0.2 apart (no ties)"
    case .gridA, .gridB: "two grids ≥ 0.15 apart (no ties)"
    case .integers: "integers in [-2, 2] (ties on purpose)"
    case .unit: "[0, 1]"
    }
  }

  func values(_ n: Int, _ g: inout SeededGenerator) -> [Double] {
    switch self {
    case let .real(a, b): return (0..<n).map { _ in g.uniform(low: a, high: b) }
    case .positive: return (0..<n).map { _ in g.uniform(low: 0.2, high: 2) }
    case .awayFromZero:
      return (0..<n).map { _ in (g.choice(2) == 0 ? -1 : 1) * g.uniform(low: 0.1, high: 2) }
    case .awayFromHalf:
      return (0..<n).map { _ in
        Double(g.choice(5) - 2) + (g.choice(2) == 0 ? g.uniform(low: 0.1, high: 0.4) : g.uniform(low: 0.6, high: 0.9))
      }
    case .awayFromUnit:
      return (0..<n).map { _ in
        (g.choice(2) == 0 ? -1 : 1) * (g.choice(2) == 0 ? g.uniform(low: 0.1, high: 0.8) : g.uniform(low: 1.2, high: 2))
      }
    case .distinct:
      let p = g.permutation(n)
      return p.map { (Double($0) - Double(n) / 2) * 0.3 + 0.05 * g.nextUniform() }
    case .gridA: return (0..<n).map { _ in 0.5 * Double(g.choice(8) - 4) + 0.2 + 0.1 * g.nextUniform() }
    case .gridB: return (0..<n).map { _ in 0.5 * Double(g.choice(8) - 4) + 0.45 + 0.1 * g.nextUniform() }
    case .integers: return (0..<n).map { _ in Double(g.choice(5) - 2) }
    case .unit: return (0..<n).map { _ in g.nextUniform() }
    }
  }

  func array(_ shape: [Int], _ g: inout SeededGenerator) -> NDArray {
    NDArray(values(shape.reduce(1, *), &g), shape: Shape(shape))
  }
}

/// Whether and how an operation's second derivative is checked.
enum SecondOrder {
  /// A gradient of the gradient is checked against central differences.
  case checked
  /// Not checked, with the reason (no first-order gradient, or none defined).
  case none(String)
}

/// One generated case: float64 (or int32/bool) inputs, how to build the operation on
/// placeholders of exactly those shapes, and the reference result.
struct OpCase {
  /// Input values. Float inputs are float64 and are converted to each tested dtype.
  var inputs: [NDArray]
  /// Builds the output from the placeholders; the dtype is the one under test.
  var build: ([Tensor], DType) throws -> Tensor
  /// The expected output for the given input values (read with `doubles`), as a float64 array.
  var reference: ([NDArray]) -> NDArray
}

/// A state or random operation checked by its own semantics rather than by a reference function.
struct CustomCheck {
  /// Runs the check for draw `k`; returns the operation types of the graphs it built.
  var run: (inout SeededGenerator, Int) throws -> Set<String>
}

/// One row of the operation table.
struct OpEntry {
  /// The operation's type name (or the builder's name for composites).
  var name: String
  /// The primitive type names this entry's graphs exercise (checked at run time).
  var covers: [String]
  /// The number of tensor inputs.
  var arity: Int
  /// The input domain, in words.
  var domain: String
  /// The dtypes tested.
  var dtypes: [DType]
  /// Whether the first-order gradient is checked against central differences (float inputs).
  var differentiable: Bool
  /// Why there is no gradient, when `differentiable` is false.
  var noGradientReason: String = ""
  /// The second-order check.
  var secondOrder: SecondOrder
  /// Float32 tolerance `atol + rtol·|expected|` (the default is the 1e-5 + 1.3e-6).
  var atol32 = 1e-5
  var rtol32 = 1.3e-6
  /// The reason for a looser float32 tolerance.
  var toleranceNote = ""
  /// Draws case `k` (the index cycles through the shape family).
  var draw: ((inout SeededGenerator, Int) -> OpCase)?
  /// A different single-input build for the gradient checks (Cast), on float64 inputs.
  var gradientBuild: ((Tensor) throws -> Tensor)?
  /// Checks the operation by its semantics instead (state, random).
  var custom: CustomCheck?
}

// MARK: - Shapes

/// The shape family: draw `k` has rank `k % 5` (scalar, vector, matrix, rank 3, rank 4) with
/// small sizes; with `empty`, every tenth draw has a 0 dimension.
func familyShape(_ k: Int, _ g: inout SeededGenerator, minRank: Int = 0, maxRank: Int = 4, empty: Bool = false) -> [Int] {
  let span = maxRank - minRank + 1
  let rank = minRank + k % span
  var dims = (0..<rank).map { i in rank <= 2 || i == 0 ? 1 + g.choice(3) : 1 + g.choice(2) }
  if empty, k % 10 == 7, rank > 0 { dims[g.choice(rank)] = 0 }
  return dims
}

/// Two shapes that broadcast to `familyShape(k)`: each axis is 1 in one of them at random, and
/// one of them may lose leading axes.
func broadcastPair(_ k: Int, _ g: inout SeededGenerator, empty: Bool = false) -> ([Int], [Int]) {
  let out = familyShape(k, &g, empty: empty)
  var a = out, b = out
  for i in out.indices {
    switch g.choice(4) {
    case 0: a[i] = 1
    case 1: b[i] = 1
    default: break
    }
  }
  let drop = g.choice(out.count + 1)
  if g.choice(2) == 0 { a.removeFirst(drop) } else { b.removeFirst(drop) }
  return (a, b)
}

// MARK: - Reference implementations (plain loops)

/// NumPy broadcasting, written out: right-aligned, each pair equal or one of them 1.
func refBroadcastShape(_ shapes: [[Int]]) -> [Int]? {
  let rank = shapes.map(\.count).max() ?? 0
  var out = [Int](repeating: 1, count: rank)
  for s in shapes {
    for (j, d) in s.enumerated() {
      let i = rank - s.count + j
      if out[i] == 1 { out[i] = d } else if d != 1 && d != out[i] { return nil }
    }
  }
  return out
}

/// The flat index in `shape` read by output multi-index `o` under broadcasting.
func refSourceIndex(_ o: [Int], _ shape: [Int]) -> Int {
  var f = 0
  let offset = o.count - shape.count
  for (j, d) in shape.enumerated() { f = f * d + (d == 1 ? 0 : o[offset + j]) }
  return f
}

/// `f` applied elementwise to broadcast inputs.
func refMap(_ inputs: [NDArray], shape: [Int]? = nil, _ f: ([Double]) -> Double) -> NDArray {
  let shapes = inputs.map(\.shape.dimensions)
  let out = shape ?? refBroadcastShape(shapes)!
  let vals = inputs.map(\.doubles)
  let n = out.reduce(1, *)
  var r = [Double](repeating: 0, count: n)
  for i in 0..<n {
    let o = multiIndex(i, Shape(out))
    r[i] = f(zip(vals, shapes).map { v, s in v[refSourceIndex(o, s)] })
  }
  return NDArray(r, shape: Shape(out))
}

/// Groups the elements of `x` by their index outside `axes` and reduces each group with `f`.
func refReduce(_ x: NDArray, axes: [Int], keepDims: Bool, _ f: ([Double]) -> Double) -> NDArray {
  let d = x.shape.dimensions
  let keptShape = d.indices.map { axes.contains($0) ? 1 : d[$0] }
  var groups = [[Double]](repeating: [], count: keptShape.reduce(1, *))
  let v = x.doubles
  for i in v.indices {
    var o = multiIndex(i, x.shape)
    for a in axes { o[a] = 0 }
    groups[flatIndex(o, Shape(keptShape))].append(v[i])
  }
  let outShape = keepDims ? keptShape : d.indices.filter { !axes.contains($0) }.map { d[$0] }
  return NDArray(groups.map(f), shape: Shape(outShape))
}

/// Sums `x` (of a broadcast shape) down to `shape`.
func refSumTo(_ x: NDArray, _ shape: [Int]) -> NDArray {
  var r = [Double](repeating: 0, count: shape.reduce(1, *))
  let v = x.doubles
  for i in v.indices { r[refSourceIndex(multiIndex(i, x.shape), shape)] += v[i] }
  return NDArray(r, shape: Shape(shape))
}

/// The lanes of `x` along `axis`, transformed by `f` (same length), reassembled.
func refLanes(_ x: NDArray, axis: Int, _ f: ([Double]) -> [Double]) -> NDArray {
  let d = x.shape.dimensions
  var out = x.doubles
  let v = x.doubles
  for i in v.indices where multiIndex(i, x.shape)[axis] == 0 {
    var idx = multiIndex(i, x.shape)
    let positions = (0..<d[axis]).map { k -> Int in
      idx[axis] = k
      return flatIndex(idx, x.shape)
    }
    let lane = f(positions.map { v[$0] })
    for (p, y) in zip(positions, lane) { out[p] = y }
  }
  return NDArray(out, shape: x.shape)
}

/// A float64 array (shape as `[Int]`).
func arr(_ v: [Double], _ shape: [Int]) -> NDArray { NDArray(v, shape: Shape(shape)) }

/// An int32 array.
func ints(_ v: [Int], _ shape: [Int]) -> NDArray { NDArray(v.map { Int32($0) }, shape: Shape(shape)) }

/// A bool array from 0/1 draws.
func bools(_ n: Int, _ shape: [Int], _ g: inout SeededGenerator) -> NDArray {
  NDArray((0..<n).map { _ in g.choice(2) == 1 }, shape: Shape(shape))
}

/// `log Σ eˣ` of a list (the naive formula: the draws are small).
func refLogSumExp(_ v: [Double]) -> Double { Foundation.log(v.map { Foundation.exp($0) }.reduce(0, +)) }

// MARK: - Running

/// Runs a case at one dtype: float64 inputs converted to `dtype` (others unchanged).
/// Returns the output and the operation types of the graph.
func runCase(_ c: OpCase, _ inputs: [NDArray], dtype: DType) throws -> (NDArray, Set<String>) {
  let graph = Graph()
  let xs = inputs.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
  let y = try c.build(xs, dtype)
  let session = Session(graph: graph)
  if !graph.variables.isEmpty { try session.initializeVariables() }
  let value = try session.run(y, feeding: Dictionary(uniqueKeysWithValues: zip(xs, inputs)))
  return (value, Set(graph.operations.map(\.type)))
}

/// The inputs converted to `dtype` where they are float64.
func converted(_ inputs: [NDArray], to dtype: DType) -> [NDArray] {
  inputs.map { $0.dtype == .float64 ? $0.converted(to: dtype) : $0 }
}

/// `max |a - b| / (atol + rtol·|b|)` (≤ 1 passes), NaN-equal, after a shape check.
func toleranceRatio(_ a: NDArray, _ b: NDArray, atol: Double, rtol: Double) -> Double {
  guard a.shape == b.shape else { return .infinity }
  var worst = 0.0
  for (x, y) in zip(a.doubles, b.doubles) {
    if x == y || (x.isNaN && y.isNaN) { continue }
    worst = Swift.max(worst, Swift.abs(x - y) / (atol + rtol * Swift.abs(y)))
  }
  return worst
}
