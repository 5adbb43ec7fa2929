import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// Runs `build` on placeholders fed with `inputs`.
private func evaluate(_ inputs: [NDArray], _ build: ([Tensor]) throws -> Tensor) throws -> NDArray {
  let graph = Graph()
  let xs = inputs.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
  return try Session(graph: graph).run(build(xs), feeding: Dictionary(uniqueKeysWithValues: zip(xs, inputs)))
}

/// Checks a loss in float64 (tight) and float32 against the oracle's per-element values, for
/// every reduction, and gradient-checks its mean in float64.
private func expectLoss(
  _ inputs: [NDArray], perElement: [Double], shape: Shape, sourceLocation: Testing.SourceLocation = #_sourceLocation,
  _ build: ([Tensor], LossReduction) throws -> Tensor
) throws {
  let total = perElement.reduce(0, +)
  for dtype in [DType.float64, .float32] {
    let ins = inputs.map { $0.dtype.isFloatingPoint ? $0.converted(to: dtype) : $0 }
    let rtol = dtype == .float64 ? 1e-12 : 2e-5
    let none = try evaluate(ins) { try build($0, .none) }
    expectClose(none, NDArray(converting: perElement, shape: shape, dtype: dtype), rtol: rtol, atol: 1e-6, sourceLocation: sourceLocation)
    expectClose(try evaluate(ins) { try build($0, .sum) }.scalarValue, total, rtol: rtol, sourceLocation: sourceLocation)
    expectClose(
      try evaluate(ins) { try build($0, .mean) }.scalarValue, total / Double(perElement.count), rtol: rtol,
      sourceLocation: sourceLocation)
  }
  let floats = inputs.filter(\.dtype.isFloatingPoint)
  let fixedValues = inputs.filter { !$0.dtype.isFloatingPoint }
  let check = try checkGradients(floats) { g, t in
    try build(t + fixedValues.map { g.constant($0) }, .mean)
  }
  #expect(check.maxRelativeError < 1e-6, "max relative error \(check.maxRelativeError)", sourceLocation: sourceLocation)
}

@Suite struct LossesTests {
  static let p = randomArray([2, 3], seed: 61)
  static let e = randomArray([2, 3], seed: 62)

  @Test func meanSquaredAndAbsoluteError() throws {
    let d = zip(Self.p.doubles, Self.e.doubles).map { $0 - $1 }
    try expectLoss([Self.p, Self.e], perElement: d.map { $0 * $0 }, shape: [2, 3]) {
      try meanSquaredError(predicted: $0[0], expected: $0[1], reduction: $1)
    }
    try expectLoss([Self.p, Self.e], perElement: d.map { Swift.abs($0) }, shape: [2, 3]) {
      try meanAbsoluteError(predicted: $0[0], expected: $0[1], reduction: $1)
    }
  }

  @Test func huberLoss() throws {
    // Residuals on both sides of delta = 0.5 (none at the kink).
    let p = NDArray([0.1, 1.3, -0.9, 0.25, 2.0, -0.05] as [Double], shape: [2, 3])
    let e = NDArray([0.0, 0.0, 0.0, 0.0, 0.0, 0.6] as [Double], shape: [2, 3])
    let perElement = zip(p.doubles, e.doubles).map { a, b -> Double in
      let r = Swift.abs(a - b)
      return r <= 0.5 ? 0.5 * r * r : 0.5 * (r - 0.25)
    }
    try expectLoss([p, e], perElement: perElement, shape: [2, 3]) {
      try huber(predicted: $0[0], expected: $0[1], delta: 0.5, reduction: $1)
    }
  }

  @Test func sigmoidCrossEntropyLoss() throws {
    let x = randomArray([2, 3], in: -4...4, seed: 63)
    let z = randomArray([2, 3], in: 0...1, seed: 64)
    let perElement = zip(x.doubles, z.doubles).map { x, z -> Double in
      let s = 1 / (1 + Foundation.exp(-x))
      return -z * Foundation.log(s) - (1 - z) * Foundation.log(1 - s)
    }
    try expectLoss([x, z], perElement: perElement, shape: [2, 3]) {
      try sigmoidCrossEntropy(logits: $0[0], labels: $0[1], reduction: $1)
    }
  }

  static func logSoftmaxRows(_ x: NDArray) -> [[Double]] {
    let c = x.shape[x.rank - 1]
    let v = x.doubles
    return stride(from: 0, to: v.count, by: c).map { s in
      let row = Array(v[s..<(s + c)])
      let lse = Foundation.log(row.reduce(0) { $0 + Foundation.exp($1) })
      return row.map { $0 - lse }
    }
  }

  @Test func softmaxCrossEntropyLosses() throws {
    let x = randomArray([4, 3], in: -3...3, seed: 65)
    let labels: [Int32] = [2, 0, 1, 2]
    let rows = Self.logSoftmaxRows(x)
    let perExample = labels.enumerated().map { -rows[$0][Int($1)] }
    let oneHot = NDArray((0..<12).map { Int32($0 % 3) == labels[$0 / 3] ? 1.0 : 0.0 }, shape: [4, 3])
    try expectLoss([x, oneHot], perElement: perExample, shape: [4]) {
      try softmaxCrossEntropy(logits: $0[0], labels: $0[1], reduction: $1)
    }
    try expectLoss([x, NDArray(labels)], perElement: perExample, shape: [4]) {
      try sparseSoftmaxCrossEntropy(logits: $0[0], labels: $0[1], reduction: $1)
    }
    // Soft labels (probabilities) for the dense form.
    let soft = NDArray([0.2, 0.3, 0.5, 1, 0, 0, 0, 0.5, 0.5, 0.1, 0.1, 0.8] as [Double], shape: [4, 3])
    let sv = soft.doubles
    let perSoft = (0..<4).map { r in -(0..<3).reduce(0.0) { $0 + sv[r * 3 + $1] * rows[r][$1] } }
    try expectLoss([x, soft], perElement: perSoft, shape: [4]) {
      try softmaxCrossEntropy(logits: $0[0], labels: $0[1], reduction: $1)
    }
  }

  @Test func softmaxCrossEntropyIsFiniteForHugeLogits() throws {
    for dtype in [DType.float32, .float64] {
      let graph = Graph()
      let x = graph.placeholder(dtype, shape: [3, 3])
      let values = NDArray(converting: [1e4, -1e4, 0, -1e4, -1e4, 1e4, 1e4, 1e4, -1e4], shape: [3, 3], dtype: dtype)
      let k = graph.constant(NDArray([1, 2, 0] as [Int32]))
      let z = try oneHot(k, depth: 3, dtype: dtype)
      let dense = try softmaxCrossEntropy(logits: x, labels: z, reduction: .none)
      let sparse = try sparseSoftmaxCrossEntropy(logits: x, labels: k, reduction: .none)
      let gd = try gradient(of: mean(dense), withRespectTo: x)!
      let gs = try gradient(of: mean(sparse), withRespectTo: x)!
      let r = try Session(graph: graph, options: .init(checkNumerics: true)).run([dense, sparse, gd, gs], feeding: [x: values])
      // Row 0: label 1 has logit -1e4 against 1e4: loss 2e4. Row 1: label 2 wins: 0. Row 2: a tie: log 2.
      let expected = [2e4, 0, Foundation.log(2)]
      expectClose(r[0], NDArray(converting: expected, shape: [3], dtype: dtype), rtol: 1e-6, atol: 1e-6)
      expectClose(r[1], NDArray(converting: expected, shape: [3], dtype: dtype), rtol: 1e-6, atol: 1e-6)
      let grad = [1, -1, 0, 0, 0, 0, -0.5, 0.5, 0].map { $0 / 3 }
      expectClose(r[2], NDArray(converting: grad, shape: [3, 3], dtype: dtype), rtol: 1e-6, atol: 1e-7)
      expectClose(r[3], NDArray(converting: grad, shape: [3, 3], dtype: dtype), rtol: 1e-6, atol: 1e-7)
    }
  }

  @Test func l2PenaltyMatchesHalfSumOfSquares() throws {
    let a = randomArray([2, 3], seed: 66), b = randomArray([4], seed: 67)
    let expected = 0.01 * 0.5 * (a.doubles + b.doubles).reduce(0) { $0 + $1 * $1 }
    expectClose(try evaluate([a, b]) { try l2Penalty($0, scale: 0.01) }.scalarValue, expected, rtol: 1e-12)
    let check = try checkGradients([a, b]) { _, t in try l2Penalty(t, scale: 0.3) }
    #expect(check.maxRelativeError < 1e-6)
  }

  @Test func lossErrorsNameTheOperationAndShapes() throws {
    let g = Graph()
    let p = g.placeholder(.float32, shape: [2, 3], name: "p")
    let q = g.placeholder(.float32, shape: [3, 2], name: "q")
    #expect { try meanSquaredError(predicted: p, expected: q) } throws: {
      "\($0)".contains("[MeanSquaredError]") && "\($0)".contains("[2, 3]") && "\($0)".contains("[3, 2]")
    }
    #expect { try huber(predicted: p, expected: p, delta: 0) } throws: { "\($0)".contains("[HuberLoss]") }
    #expect { try softmaxCrossEntropy(logits: p, labels: q) } throws: { "\($0)".contains("[SoftmaxCrossEntropy]") }
    #expect { try sparseSoftmaxCrossEntropy(logits: p, labels: g.placeholder(.int32, shape: [3])) } throws: {
      "\($0)".contains("[SparseSoftmaxCrossEntropyWithLogits]") && "\($0)".contains("[3]") && "\($0)".contains("[2, 3]")
    }
    #expect { try l2Penalty([], scale: 1) } throws: { "\($0)".contains("[L2Penalty]") }
    // Labels [N] against logits [N, 1] broadcast to N² terms: a loss of shape [3, 3], silently.
    let logits = g.placeholder(.float32, shape: [nil, 1], name: "logits")
    #expect { try sigmoidCrossEntropy(logits: logits, labels: g.placeholder(.float32, shape: [nil], name: "z")) } throws: {
      "\($0)".contains("[SigmoidCrossEntropy]") && "\($0)".contains("[?, 1]") && "\($0)".contains("[?]")
    }
    #expect { try sigmoidCrossEntropy(logits: p, labels: g.constant(1, dtype: .float32)) } throws: { "\($0)".contains("[SigmoidCrossEntropy]") }
    #expect { try sigmoidCrossEntropy(logits: p, labels: g.placeholder(.float64, shape: [2, 3])) } throws: { "\($0)".contains("float64") }
  }

  /// The losses whose labels must have the predictions' shape compared static shapes only:
  /// logits `[?, 1]` and labels `[?, ?]` (or `[?, 1]` and `[?, 1]`) passed, and labels fed
  /// `[3, 3]` (or `[1, 1]`) broadcast silently into a loss of `[3, 3]` terms (PyTorch's
  /// `BCEWithLogitsLoss`: "Target size must be the same as input size"). When the static shapes
  /// cannot prove the shapes equal, the loss now compares them at run time, and a mismatch is an
  /// error naming the loss, both shapes and the line that built the loss. Equal shapes give the
  /// values and gradients of the same loss on static shapes, bit for bit.
  @Test func lossesCompareShapesAtRunTimeWhenStaticShapesCannot() throws {
    let losses: [(String, (Tensor, Tensor) throws -> Tensor)] = [
      ("MeanSquaredError", { try meanSquaredError(predicted: $0, expected: $1) }),
      ("MeanAbsoluteError", { try meanAbsoluteError(predicted: $0, expected: $1) }),
      ("HuberLoss", { try huber(predicted: $0, expected: $1, delta: 0.5) }),
      ("SigmoidCrossEntropy", { try sigmoidCrossEntropy(logits: $0, labels: $1) }),
      ("SoftmaxCrossEntropy", { try softmaxCrossEntropy(logits: $0, labels: $1, reduction: .sum) }),
    ]
    let column = NDArray([Float(0.5), -1, 2], shape: [3, 1])
    let labels = NDArray([Float(1), 0, 0.25], shape: [3, 1])
    let square = NDArray((0..<9).map { Float($0) / 8 }, shape: [3, 3])
    for (name, loss) in losses {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [nil, 1], name: "x")
      let anyShape = g.placeholder(.float32, shape: [nil, nil], name: "z")
      let batch = g.placeholder(.float32, shape: [nil, 1], name: "z1")
      let y = try loss(x, anyShape), y1 = try loss(x, batch)
      let session = Session(graph: g)
      func refused(_ fetch: Tensor, _ feeds: Feeds, _ shapes: [String]) {
        #expect {
          try session.run(fetch, feeding: feeds)
        } throws: { error in
          let text = "\(error)"
          return text.contains(name) && shapes.allSatisfy(text.contains) && text.contains("LossesTests.swift:")
        }
      }
      refused(y, [x: column, anyShape: square], ["[3, 3]", "[3, 1]"])
      refused(y1, [x: column, batch: NDArray([Float(1)], shape: [1, 1])], ["[1, 1]", "[3, 1]"])
      refused(y1, [x: NDArray([Float(1)], shape: [1, 1]), batch: labels], ["[1, 1]", "[3, 1]"])
      // The gradient of a refused loss is refused too.
      refused(try gradients(of: y, withRespectTo: [x])[0]!, [x: column, anyShape: square], ["[3, 3]", "[3, 1]"])

      // Equal shapes: the values and gradients of the loss built on static shapes.
      let s = Graph()
      let sx = s.placeholder(.float32, shape: [3, 1], name: "x"), sz = s.placeholder(.float32, shape: [3, 1], name: "z")
      let sy = try loss(sx, sz)
      #expect(!s.operations.contains { $0.type == "EnsureShapeLike" }, "\(name): static shapes need no run-time check")
      let want = try Session(graph: s).run([sy] + gradients(of: sy, withRespectTo: [sx, sz]).map { $0! }, feeding: [sx: column, sz: labels])
      let got = try session.run([y] + gradients(of: y, withRespectTo: [x, anyShape]).map { $0! }, feeding: [x: column, anyShape: labels])
      #expect(got == want, "\(name)")
      #expect(try session.run(y1, feeding: [x: column, batch: labels]) == want[0], "\(name)")

      // Eager values have their shapes: refused when built, as static shapes are.
      #expect(throws: GraphError.self) { try loss(Tensor(column), Tensor(square)) }
      #expect(try loss(Tensor(column), Tensor(labels)).value == want[0], "\(name)")
    }
  }
}
