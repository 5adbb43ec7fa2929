import ArrayCore
import GraphCore
import Testing
import TestSupport

@Suite struct IndexingTests {
  @Test func oneHotForward() throws {
    let k = NDArray([2, 0, 5, -1, 1, 2] as [Int32], shape: [2, 3])
    let expected = NDArray((0..<24).map { i -> Double in
      let label = [2, 0, 5, -1, 1, 2][i / 4]
      return label == i % 4 ? 1 : 0
    }, shape: [2, 3, 4])
    #expect(try evaluate([k]) { try oneHot($0[0], depth: 4) } == expected.converted(to: .float32))
    #expect(try evaluate([k]) { try oneHot($0[0], depth: 4, dtype: .float64) } == expected)
    let custom = try evaluate([k]) { try oneHot($0[0], depth: 4, on: 5, off: -1, dtype: .int32) }
    #expect(custom.dtype == .int32 && custom.doubles == expected.doubles.map { $0 == 1 ? 5 : -1 })
  }

  @Test(arguments: [0, 1])
  func gatherForwardAndGradient(axis: Int) throws {
    let params = randomArray([3, 4], seed: 51)
    let pv = params.doubles
    let indices = NDArray([2, 0, 2, 1] as [Int32], shape: [2, 2])  // repeated index accumulates
    let iv = [2, 0, 2, 1]
    let expected: NDArray
    if axis == 0 {
      expected = NDArray((0..<16).map { pv[iv[$0 / 4] * 4 + $0 % 4] }, shape: [2, 2, 4])
    } else {
      expected = NDArray((0..<12).map { pv[($0 / 4) * 4 + iv[$0 % 4]] }, shape: [3, 2, 2])
    }
    try expectForward([params, indices], expected) { try gather($0[0], indices: $0[1], axis: axis) }
    try expectGradients([params]) { g, t in try gather(t[0], indices: g.constant(indices), axis: axis) }
    // The gradient of the gradient (ScatterAdd's gradient is a gather).
    let w = randomArray(expected.shape, seed: 52)
    try expectGradients([params]) { g, t in
      let y = try gather(t[0], indices: g.constant(indices), axis: axis)
      let dp = try gradient(of: sum(y * y * g.constant(w)), withRespectTo: t[0])!
      return dp
    }
  }

  @Test func gatherHasNoIndexGradientAndChecksRange() throws {
    let g = Graph()
    let p = g.placeholder(.float64, shape: [3])
    let i = g.placeholder(.int32, shape: [2], name: "idx")
    let y = try gather(p, indices: i)
    let grads = try gradients(of: sum(y), withRespectTo: [p, i])
    #expect(grads[0] != nil && grads[1] == nil)
    #expect {
      try Session(graph: g).run(y, feeding: [p: NDArray([1, 2, 3] as [Double]), i: NDArray([0, 3] as [Int32])])
    } throws: { "\($0)".contains("index 3") && "\($0)".contains("[0, 3)") && "\($0)".contains("GatherV2") }
  }

  @Test func indexingErrors() {
    expectGraphError(["[GatherV2]", "float32", "int32"]) { g in
      _ = try gather(g.placeholder(.float32, shape: [3]), indices: g.placeholder(.float32, shape: [2]))
    }
    expectGraphError(["[GatherV2]", "axis 2", "[3, 4]"]) { g in
      _ = try gather(g.placeholder(.float32, shape: [3, 4]), indices: g.placeholder(.int32, shape: [2]), axis: 2)
    }
    expectGraphError(["[OneHot]", "float32"]) { g in
      _ = try oneHot(g.placeholder(.float32, shape: [3]), depth: 4)
    }
  }
}
