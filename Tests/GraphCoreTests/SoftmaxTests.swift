import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

/// Softmax along `axis` of a float64 array, by plain loops (the oracle).
func softmaxOracle(_ x: NDArray, axis: Int, log: Bool) -> NDArray {
  let shape = x.shape
  let v = x.doubles
  var out = [Double](repeating: 0, count: v.count)
  for i in v.indices {
    let idx = multiIndex(i, shape)
    var total = 0.0
    for j in 0..<shape[axis] {
      var k = idx
      k[axis] = j
      total += Foundation.exp(v[flatIndex(k, shape)])
    }
    out[i] = log ? v[i] - Foundation.log(total) : Foundation.exp(v[i]) / total
  }
  return NDArray(out, shape: shape)
}

@Suite struct SoftmaxTests {
  @Test(arguments: [0, 1, -1])
  func softmaxForward(axis: Int) throws {
    let x = randomArray([2, 3, 4], in: -3...3, seed: 1)
    try expectForward([x], softmaxOracle(x, axis: (axis + 3) % 3, log: false)) { try softmax($0[0], axis: axis) }
    try expectForward([x], softmaxOracle(x, axis: (axis + 3) % 3, log: true)) { try logSoftmax($0[0], axis: axis) }
  }

  @Test(arguments: [0, 1, -1])
  func softmaxGradients(axis: Int) throws {
    let x = randomArray([2, 3, 4], in: -2...2, seed: 2)
    try expectGradients([x]) { _, t in try softmax(t[0], axis: axis) }
    try expectGradients([x]) { _, t in try logSoftmax(t[0], axis: axis) }
  }

  @Test func softmaxIsStableForHugeLogits() throws {
    for dtype in [DType.float32, .float64] {
      let x = NDArray(converting: [1e4, -1e4, 0, 1e4 - 1, -1e4, 1e4], shape: [2, 3], dtype: dtype)
      let graph = Graph()
      let t = graph.constant(x)
      let s = try softmax(t)
      let l = try logSoftmax(t)
      let g = try gradient(of: sum(l * graph.constant(NDArray(converting: [1, 0, 0, 0, 1, 0], shape: [2, 3], dtype: dtype))), withRespectTo: t)!
      let (sv, lv, gv) = try { let r = try Session(graph: graph).run([s, l, g]); return (r[0], r[1], r[2]) }()
      #expect(sv.doubles.allSatisfy(\.isFinite) && lv.doubles.allSatisfy(\.isFinite) && gv.doubles.allSatisfy(\.isFinite))
      // Row 0: softmax = [1, 0, 0]; log-softmax = [0, -2e4, -1e4]. Row 1: [e^-1/(1+e^-1), 0, 1/(1+e^-1)].
      let e = Foundation.exp(-1.0)
      expectClose(sv, NDArray(converting: [1, 0, 0, e / (1 + e), 0, 1 / (1 + e)], shape: [2, 3], dtype: dtype), rtol: 1e-6, atol: 1e-30)
      expectClose(lv, NDArray(converting: [0, -2e4, -1e4, -1 - Foundation.log(1 + e), -2e4 - Foundation.log(1 + e), -Foundation.log(1 + e)], shape: [2, 3], dtype: dtype), rtol: 1e-6, atol: 1e-6)
    }
  }

  /// Second order: the gradient of `Σ w·softmax(x)` is itself gradient-checked.
  @Test func softmaxSecondOrder() throws {
    let x = randomArray([2, 3], in: -2...2, seed: 3)
    let w = randomArray([2, 3], in: -1...1, seed: 4)
    try expectGradients([x]) { g, t in
      try gradient(of: sum(softmax(t[0]) * g.constant(w)), withRespectTo: t[0])!
    }
    try expectGradients([x]) { g, t in
      try gradient(of: sum(logSoftmax(t[0], axis: 0) * g.constant(w)), withRespectTo: t[0])!
    }
  }

  @Test func softmaxRejectsBadAxisAndDtype() {
    expectGraphError(["[Softmax]", "axis 2", "[2, 3]"]) { g in
      _ = try softmax(g.placeholder(.float32, shape: [2, 3], name: "x"), axis: 2)
    }
    expectGraphError(["[LogSoftmax]", "int32", "[2]"]) { g in
      _ = try logSoftmax(g.placeholder(.int32, shape: [2], name: "k"))
    }
  }

  @Test func sparseSoftmaxCrossEntropyForwardAndGradient() throws {
    let x = randomArray([4, 5], in: -3...3, seed: 5)
    let labels: [Int32] = [0, 4, 2, 2]
    let lp = softmaxOracle(x, axis: 1, log: true).doubles
    let expected = NDArray(labels.enumerated().map { -lp[$0 * 5 + Int($1)] }, shape: [4])
    try expectForward([x], expected) { t in
      try sparseSoftmaxCrossEntropyWithLogits(logits: t[0], labels: t[0].graph.constant(NDArray(labels)))
    }
    try expectGradients([x]) { g, t in
      try sparseSoftmaxCrossEntropyWithLogits(logits: t[0], labels: g.constant(NDArray(labels)))
    }
    // Second order through the gradient's softmax.
    try expectGradients([x]) { g, t in
      try gradient(of: sparseSoftmaxCrossEntropyWithLogits(logits: t[0], labels: g.constant(NDArray(labels))), withRespectTo: t[0])!
    }
  }

  @Test func sparseSoftmaxCrossEntropyErrors() throws {
    expectGraphError(["[SparseSoftmaxCrossEntropyWithLogits]", "float32", "[3]"]) { g in
      _ = try sparseSoftmaxCrossEntropyWithLogits(
        logits: g.placeholder(.float32, shape: [3, 4]), labels: g.placeholder(.float32, shape: [3]))
    }
    expectGraphError(["[SparseSoftmaxCrossEntropyWithLogits]", "[2]", "[3, 4]"]) { g in
      _ = try sparseSoftmaxCrossEntropyWithLogits(
        logits: g.placeholder(.float32, shape: [3, 4]), labels: g.placeholder(.int32, shape: [2]))
    }
    let g = Graph()
    let k = g.placeholder(.int32, shape: [2], name: "labels")
    let loss = try sparseSoftmaxCrossEntropyWithLogits(logits: g.constant(NDArray([Float](repeating: 0, count: 6), shape: [2, 3])), labels: k)
    #expect {
      try Session(graph: g).run(loss, feeding: [k: NDArray([1, 3] as [Int32])])
    } throws: { error in
      "\(error)".contains("label 3") && "\(error)".contains("[0, 3)") && "\(error)".contains("SparseSoftmaxCrossEntropyWithLogits")
    }
  }
}
