import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

/// Reduces `x` over `axes` with `f` by plain loops (the oracle); `keepDims` keeps size-1 axes.
func reduceOracle(_ x: NDArray, axes: [Int], keepDims: Bool, _ f: ([Double]) -> Double) -> NDArray {
  let shape = x.shape
  let v = x.doubles
  var kept = shape
  for a in axes { kept[a] = 1 }
  var groups = [[Double]](repeating: [], count: kept.elementCount)
  for i in v.indices {
    var idx = multiIndex(i, shape)
    for a in axes { idx[a] = 0 }
    groups[flatIndex(idx, kept)].append(v[i])
  }
  let outShape = keepDims ? kept : Shape(shape.dimensions.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
  return NDArray(groups.map(f), shape: outShape)
}

@Suite struct ExtremaTests {
  // Distinct values (a permutation scaled), so no ties: max/min are differentiable there.
  static let x = NDArray(SeededGenerator(seed: 11).permutationValues(24), shape: [2, 3, 4])

  @Test(arguments: [([1], false), ([0, 2], true), ([2], true)] as [([Int], Bool)])
  func maxMinForwardAndGradient(axes: [Int], keepDims: Bool) throws {
    let x = Self.x
    try expectForward([x], reduceOracle(x, axes: axes, keepDims: keepDims) { $0.max()! }) {
      try max($0[0], axes: axes, keepDims: keepDims)
    }
    try expectForward([x], reduceOracle(x, axes: axes, keepDims: keepDims) { $0.min()! }) {
      try min($0[0], axes: axes, keepDims: keepDims)
    }
    try expectGradients([x]) { _, t in try max(t[0], axes: axes, keepDims: keepDims) }
    try expectGradients([x]) { _, t in try min(t[0], axes: axes, keepDims: keepDims) }
  }

  @Test func maxGradientSplitsTiesEqually() throws {
    let graph = Graph()
    let x = graph.constant(NDArray([1, 3, 3, 2, 5, 5, 5, 0] as [Double], shape: [2, 4]))
    let g = try gradient(of: max(x, axes: [1]), withRespectTo: x)!
    expectClose(try Session(graph: graph).run(g), NDArray([0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0] as [Double], shape: [2, 4]))
    let h = try gradient(of: min(x), withRespectTo: x)!
    expectClose(try Session(graph: graph).run(h), NDArray([0, 0, 0, 0, 0, 0, 0, 1] as [Double], shape: [2, 4]))
  }

  @Test(arguments: [([1], false), ([0, 2], true), (nil, false)] as [([Int]?, Bool)])
  func logSumExpForwardAndGradient(axes: [Int]?, keepDims: Bool) throws {
    let x = randomArray([2, 3, 4], in: -3...3, seed: 12)
    let expected = reduceOracle(x, axes: axes ?? [0, 1, 2], keepDims: keepDims) { v in
      Foundation.log(v.reduce(0) { $0 + Foundation.exp($1) })
    }
    try expectForward([x], expected) { try logSumExp($0[0], axes: axes, keepDims: keepDims) }
    try expectGradients([x]) { _, t in try logSumExp(t[0], axes: axes, keepDims: keepDims) }
  }

  @Test func logSumExpIsStable() throws {
    let graph = Graph()
    let x = graph.constant(NDArray([1e4, 1e4, -1e4] as [Float], shape: [3]))
    let v = try Session(graph: graph).run(logSumExp(x)).scalarValue
    expectClose(v, 1e4 + Foundation.log(2), rtol: 1e-6)
  }

  @Test func argMaxArgMin() throws {
    let x = Self.x
    let byMax = reduceOracle(x, axes: [1], keepDims: false) { v in Double(v.firstIndex(of: v.max()!)!) }
    let byMin = reduceOracle(x, axes: [2], keepDims: false) { v in Double(v.firstIndex(of: v.min()!)!) }
    try expectForward([x], byMax.converted(to: .int32)) { try argMax($0[0], axis: 1) }
    try expectForward([x], byMin.converted(to: .int32)) { try argMin($0[0]) }
    // Ties: the first index.
    let t = NDArray([2, 7, 7, 1] as [Float], shape: [4])
    #expect(try evaluate([t]) { try argMax($0[0], axis: 0) }.scalars(as: Int32.self) == [1])
  }

  @Test func argMaxHasNoGradient() throws {
    let graph = Graph()
    let x = graph.placeholder(.float64, shape: [2, 3])
    let y = try cast(argMax(x), to: .float64)
    #expect(try gradient(of: sum(y), withRespectTo: x) == nil)
  }

  @Test func reductionErrorsNameOpAndShape() {
    expectGraphError(["[Max]", "axis 3", "[2, 3]"]) { g in _ = try max(g.placeholder(.float32, shape: [2, 3]), axes: [3]) }
    expectGraphError(["[Min]", "int32", "[2]"]) { g in _ = try min(g.placeholder(.int32, shape: [2])) }
    expectGraphError(["[ArgMax]", "axis -3", "[2, 3]"]) { g in _ = try argMax(g.placeholder(.float32, shape: [2, 3]), axis: -3) }
    expectGraphError(["[LogSumExp]", "axis 5"]) { g in _ = try logSumExp(g.placeholder(.float32, shape: [2]), axes: [5]) }
  }
}

extension SeededGenerator {
  /// `0.5, 1.5, …` for `n` values in a random order (distinct values, no ties).
  func permutationValues(_ n: Int) -> [Double] {
    var g = self
    return g.permutation(n).map { Double($0) * 0.37 - 4 }
  }
}
