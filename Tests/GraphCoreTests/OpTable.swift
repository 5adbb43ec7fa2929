import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport
@testable import Training

// The table of operations: one row per primitive (and per composite builder), with its arity,
// input domain, dtypes, shape family, reference implementation (Foundation scalar functions over
// plain loops, see OpTableSupport.swift) and second-order status. OpTableTests.swift generates
// the cases; `everyPrimitiveIsInTheTable` fails when a primitive's type name is in no row.

private let floats: [DType] = [.float32, .float64]
private let noSecond = SecondOrder.none("no first-order gradient")

/// A unary elementwise row: the shape family including size-0 dimensions.
private func unary(
  _ name: String, _ domain: Domain, covers: [String]? = nil, differentiable: Bool = true, noGradient: String = "",
  second: SecondOrder = .checked, atol32: Double = 1e-5, rtol32: Double = 1.3e-6, note: String = "",
  _ build: @escaping (Tensor) throws -> Tensor, _ f: @escaping (Double) -> Double
) -> OpEntry {
  OpEntry(
    name: name, covers: covers ?? [name], arity: 1, domain: domain.description, dtypes: floats,
    differentiable: differentiable, noGradientReason: noGradient, secondOrder: differentiable ? second : noSecond,
    atol32: atol32, rtol32: rtol32, toleranceNote: note,
    draw: { g, k in
      let shape = familyShape(k, &g, empty: true)
      return OpCase(
        inputs: [domain.array(shape, &g)], build: { xs, _ in try build(xs[0]) },
        reference: { refMap($0) { f($0[0]) } })
    })
}

/// A binary elementwise row over broadcast pairs (including size-0 dimensions).
private func binary(
  _ name: String, _ dx: Domain, _ dy: Domain, covers: [String]? = nil, dtypes: [DType] = floats,
  differentiable: Bool = true, noGradient: String = "",
  _ build: @escaping (Tensor, Tensor) throws -> Tensor, _ f: @escaping (Double, Double) -> Double
) -> OpEntry {
  OpEntry(
    name: name, covers: covers ?? [name], arity: 2, domain: "x: \(dx), y: \(dy)", dtypes: dtypes,
    differentiable: differentiable, noGradientReason: noGradient, secondOrder: differentiable ? .checked : noSecond,
    draw: { g, k in
      let (a, b) = broadcastPair(k, &g, empty: true)
      return OpCase(
        inputs: [dx.array(a, &g), dy.array(b, &g)], build: { xs, _ in try build(xs[0], xs[1]) },
        reference: { refMap($0) { f($0[0], $0[1]) } })
    })
}

/// A reduction row: rank 1-4, a random subset of axes (all of them every fifth draw), keepDims
/// at random.
private func reduction(
  _ name: String, _ domain: Domain, covers: [String], empty: Bool = false,
  _ build: @escaping (Tensor, [Int]?, Bool) throws -> Tensor, _ f: @escaping ([Double]) -> Double
) -> OpEntry {
  OpEntry(
    name: name, covers: covers, arity: 1, domain: domain.description, dtypes: floats, differentiable: true,
    secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1, empty: empty)
      let all = k % 5 == 0
      var axes = shape.indices.filter { _ in g.choice(2) == 0 }
      if axes.isEmpty { axes = [g.choice(shape.count)] }
      let keep = g.choice(2) == 0
      let chosen = all ? Array(shape.indices) : axes
      return OpCase(
        inputs: [domain.array(shape, &g)], build: { xs, _ in try build(xs[0], all ? nil : axes, keep) },
        reference: { refReduce($0[0], axes: chosen, keepDims: keep, f) })
    })
}

/// The table.
func makeOpTable() -> [OpEntry] {
  var t: [OpEntry] = []

  // Unary family (Elementwise.swift).
  t.append(unary("Neg", .real(-2, 2), { try negate($0) }) { -$0 })
  t.append(unary("Square", .real(-2, 2), { try square($0) }) { $0 * $0 })
  t.append(unary("Abs", .awayFromZero, { try abs($0) }) { Swift.abs($0) })
  t.append(unary("Exp", .real(-2, 2), { try exp($0) }) { Foundation.exp($0) })
  t.append(unary("Log", .positive, { try log($0) }) { Foundation.log($0) })
  t.append(unary("Sqrt", .positive, { try sqrt($0) }) { Foundation.sqrt($0) })
  t.append(unary("Sigmoid", .real(-4, 4), { try sigmoid($0) }) { 1 / (1 + Foundation.exp(-$0)) })
  t.append(unary("Tanh", .real(-2, 2), { try tanh($0) }) { Foundation.tanh($0) })
  t.append(unary("Relu", .awayFromZero, { try relu($0) }) { Swift.max($0, 0) })
  t.append(
    unary("Round", .awayFromHalf, differentiable: false, noGradient: "piecewise constant (TF: none)", { try round($0) }) {
      Foundation.rint($0)
    })
  t.append(
    unary("Floor", .awayFromHalf, differentiable: false, noGradient: "piecewise constant (TF: none)", { try floor($0) }) {
      Foundation.floor($0)
    })
  t.append(
    unary("Ceil", .awayFromHalf, differentiable: false, noGradient: "piecewise constant (TF: none)", { try ceil($0) }) {
      Foundation.ceil($0)
    })
  t.append(
    unary("Sign", .awayFromZero, differentiable: false, noGradient: "piecewise constant (TF: none)", { try sign($0) }) {
      $0 > 0 ? 1 : ($0 < 0 ? -1 : 0)
    })

  t.append(unary("Sin", .real(-3, 3), { try sin($0) }) { Foundation.sin($0) })
  t.append(unary("Cos", .real(-3, 3), covers: ["Cos", "Sin", "Neg"], { try cos($0) }) { Foundation.cos($0) })
  t.append(unary("Tan", .real(-1.2, 1.2), covers: ["Tan", "Square"], { try tan($0) }) { Foundation.tan($0) })
  t.append(unary("Atan", .real(-3, 3), { try atan($0) }) { Foundation.atan($0) })
  t.append(unary("Expm1", .real(-2, 2), covers: ["Expm1", "Exp"], { try expm1($0) }) { Foundation.expm1($0) })
  t.append(unary("Log1p", .positive, { try log1p($0) }) { Foundation.log1p($0) })
  t.append(unary("Reciprocal", .awayFromZero, { try reciprocal($0) }) { 1 / $0 })
  t.append(unary("Rsqrt", .positive, { try rsqrt($0) }) { 1 / Foundation.sqrt($0) })

  // Activations (Activations.swift).
  t.append(unary("LeakyRelu", .awayFromZero, covers: ["LeakyRelu", "SelectV2", "Greater"], { try leakyRelu($0, alpha: 0.2) }) {
    $0 > 0 ? $0 : 0.2 * $0
  })
  t.append(unary("Elu", .awayFromZero, covers: ["Elu", "SelectV2"], { try elu($0) }) { $0 > 0 ? $0 : Foundation.expm1($0) })
  t.append(unary("Selu", .awayFromZero, covers: ["Selu", "SelectV2", "Greater"], { try selu($0) }) {
    $0 > 0 ? 1.0507009873554804934193349852946 * $0 : 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717 * Foundation.expm1($0)
  })
  t.append(unary("Softplus", .real(-3, 3), { try softplus($0) }) { Foundation.log(1 + Foundation.exp($0)) })
  t.append(unary("Erf", .real(-2, 2), { try erf($0) }) { Foundation.erf($0) })
  t.append(unary("gelu", .real(-2, 2), covers: ["Erf", "Mul", "Add"], { try gelu($0) }) {
    0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot()))
  })
  t.append(unary("gelu(approximate)", .real(-2, 2), covers: ["Tanh", "Mul", "Add"], { try gelu($0, approximate: true) }) {
    0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0)))
  })
  t.append(unary("clip", .awayFromUnit, covers: ["Maximum", "Minimum"], { try clip($0, min: -1, max: 1) }) {
    Swift.min(Swift.max($0, -1), 1)
  })
  t.append(unary("Identity", .real(-2, 2), { try identity($0) }) { $0 })
  // Collectives (Collective.swift) on one rank: identities, whose gradients are the same
  // collectives of the upstream (checked to second order, which runs Reduce and Broadcast as
  // each other's gradients).
  t.append(unary("AllReduce", .real(-2, 2), { try allReduce([$0], .sum, over: SingleProcessCommunicator())[0] }) { $0 })
  t.append(
    unary("AllReduce mean", .real(-2, 2), covers: ["AllReduce"], { try allReduce([$0], .mean, over: SingleProcessCommunicator())[0] }) { $0 })
  t.append(
    unary("Broadcast", .real(-2, 2), covers: ["Broadcast", "Reduce"], { try broadcast([$0], from: 0, over: SingleProcessCommunicator())[0] }) {
      $0
    })
  t.append(
    unary("StopGradient", .real(-2, 2), differentiable: false, noGradient: "stops gradients by definition", { try stopGradient($0) }) { $0 })
  t.append(
    unary("ZerosLike", .real(-2, 2), differentiable: false, noGradient: "constant in x", { try zerosLike($0) }) { _ in 0 })
  t.append(
    unary("OnesLike", .real(-2, 2), differentiable: false, noGradient: "constant in x", { try onesLike($0) }) { _ in 1 })
  t.append(
    unary("FillLike", .real(-2, 2), differentiable: false, noGradient: "constant in x", {
      try $0.graph.apply(FillLike(value: 2.5), [$0])
    }) { _ in 2.5 })
  t.append(
    unary("Cast", .real(-2, 2), atol32: 1e-5, rtol32: 1.3e-6, {
      // float64 -> float32 and float32 -> float64; the reference rounds through Float.
      try cast($0, to: $0.dtype == .float64 ? .float32 : .float64)
    }) { Double(Float($0)) }.withGradientBuild { try cast($0, to: .float64) })

  // Binary family.
  t.append(binary("Add", .real(-2, 2), .real(-2, 2), { try $0 + $1 }) { $0 + $1 })
  t.append(binary("Sub", .real(-2, 2), .real(-2, 2), { try $0 - $1 }) { $0 - $1 })
  t.append(binary("Mul", .real(-2, 2), .real(-2, 2), { try $0 * $1 }) { $0 * $1 })
  t.append(binary("RealDiv", .real(-2, 2), .awayFromZero, { try $0 / $1 }) { $0 / $1 })
  t.append(binary("Maximum", .gridA, .gridB, { try maximum($0, $1) }) { Swift.max($0, $1) })
  t.append(binary("Minimum", .gridA, .gridB, { try minimum($0, $1) }) { Swift.min($0, $1) })
  t.append(binary("Pow", .positive, .real(-2, 2), { try pow($0, $1) }) { Foundation.pow($0, $1) })
  t.append(
    binary("FloorDiv", .real(-3, 3), .awayFromZero, differentiable: false, noGradient: "piecewise constant (TF: none)", {
      try floorDiv($0, $1)
    }) { Foundation.floor($0 / $1) })
  t.append(binary("FloorMod", .real(-3, 3), .awayFromZero, covers: ["FloorMod", "FloorDiv"], { try mod($0, $1) }) {
    $0 - $1 * Foundation.floor($0 / $1)
  })
  t.append(binary("Atan2", .awayFromZero, .awayFromZero, { try atan2($0, $1) }) { Foundation.atan2($0, $1) })
  t.append(binary("Hypot", .awayFromZero, .awayFromZero, { try hypot($0, $1) }) { Foundation.hypot($0, $1) })
  t.append(
    binary("SigmoidCrossEntropyWithLogits", .real(-3, 3), .unit, { try sigmoidCrossEntropyWithLogits(logits: $0, labels: $1) }) {
      x, z in Swift.max(x, 0) - x * z + Foundation.log(1 + Foundation.exp(-Swift.abs(x)))
    })

  // Comparisons and logic: no gradient; int32 and (equal, notEqual) bool too.
  let cmp: [(String, (Tensor, Tensor) throws -> Tensor, (Double, Double) -> Bool, Bool)] = [
    ("Equal", { try equal($0, $1) }, { $0 == $1 }, true),
    ("NotEqual", { try notEqual($0, $1) }, { $0 != $1 }, true),
    ("Less", { try less($0, $1) }, { $0 < $1 }, false),
    ("LessEqual", { try lessEqual($0, $1) }, { $0 <= $1 }, false),
    ("Greater", { try greater($0, $1) }, { $0 > $1 }, false),
    ("GreaterEqual", { try greaterEqual($0, $1) }, { $0 >= $1 }, false),
  ]
  for (name, build, f, withBool) in cmp {
    t.append(
      binary(
        name, .integers, .integers, dtypes: floats + [.int32] + (withBool ? [.bool] : []), differentiable: false,
        noGradient: "piecewise constant bool output", build) { f($0, $1) ? 1 : 0 })
  }
  t.append(logical("LogicalNot", arity: 1) { try logicalNot($0[0]) } ref: { $0[0] == 0 ? 1 : 0 })
  t.append(logical("LogicalAnd", arity: 2) { try logicalAnd($0[0], $0[1]) } ref: { $0[0] != 0 && $0[1] != 0 ? 1 : 0 })
  t.append(logical("LogicalOr", arity: 2) { try logicalOr($0[0], $0[1]) } ref: { $0[0] != 0 || $0[1] != 0 ? 1 : 0 })

  t.append(selectEntry())

  // Reductions.
  t.append(reduction("Sum", .real(-2, 2), covers: ["Sum", "BroadcastLike"], empty: true, { try sum($0, axes: $1, keepDims: $2) }) {
    $0.reduce(0, +)
  })
  t.append(reduction("mean", .real(-2, 2), covers: ["Sum", "Size", "RealDiv"], { try mean($0, axes: $1, keepDims: $2) }) {
    $0.reduce(0, +) / Double($0.count)
  })
  t.append(reduction("Max", .distinct, covers: ["Max", "Equal", "Cast"], { try max($0, axes: $1, keepDims: $2) }) {
    $0.max()!
  })
  t.append(reduction("Min", .distinct, covers: ["Min"], { try min($0, axes: $1, keepDims: $2) }) { $0.min()! })
  t.append(reduction("logSumExp", .real(-2, 2), covers: ["Max", "StopGradient", "Exp", "Log"], { try logSumExp($0, axes: $1, keepDims: $2) }) {
    refLogSumExp($0)
  })
  t.append(reduction("Prod", .awayFromZero, covers: ["Prod", "Cumprod", "BroadcastLike"], empty: true, { try product($0, axes: $1, keepDims: $2) }) {
    $0.reduce(1, *)
  })
  t.append(argEntry("ArgMax", largest: true))
  t.append(argEntry("ArgMin", largest: false))
  t.append(softmaxEntry(log: false))
  t.append(softmaxEntry(log: true))
  t.append(sparseXentEntry())
  t += trainingEntries()
  for exclusive in [false, true] { for reverse in [false, true] { t.append(cumsumEntry(exclusive: exclusive, reverse: reverse)) } }
  for exclusive in [false, true] { for reverse in [false, true] { t.append(cumprodEntry(exclusive: exclusive, reverse: reverse)) } }
  t.append(padEntry())
  for mode in MirrorPadMode.allCases { t.append(mirrorPadEntry(mode)) }
  t.append(matmulEntry())
  t.append(contentsOf: convolutionEntries())

  // Movement and layout.
  t.append(contentsOf: movementEntries())
  t.append(contentsOf: layoutEntries())

  // State, leaves and random values: checked by their semantics.
  t.append(contentsOf: stateEntries())

  // Model building (OpTable+Models.swift): normalization, embedding lookup, flatten.
  t.append(contentsOf: modelOpEntries())
  return t
}

extension OpEntry {
  /// Cast's gradient is checked on the float64 → float64 path: the float round trip would make
  /// central differences meaningless.
  fileprivate func withGradientBuild(_ build: @escaping (Tensor) throws -> Tensor) -> OpEntry {
    var e = self
    e.gradientBuild = build
    e.toleranceNote = "gradient checked on the path float64 → float64"
    return e
  }
}

private func logical(
  _ name: String, arity: Int, _ build: @escaping ([Tensor]) throws -> Tensor, ref f: @escaping ([Double]) -> Double
) -> OpEntry {
  OpEntry(
    name: name, covers: [name], arity: arity, domain: "bools", dtypes: [.bool], differentiable: false,
    noGradientReason: "bool output", secondOrder: noSecond,
    draw: { g, k in
      let (a, b) = broadcastPair(k, &g, empty: true)
      let shapes = arity == 1 ? [a] : [a, b]
      let inputs = shapes.map { bools($0.reduce(1, *), $0, &g) }
      return OpCase(inputs: inputs, build: { xs, _ in try build(xs) }, reference: { refMap($0, f) })
    })
}

private func selectEntry() -> OpEntry {
  OpEntry(
    name: "SelectV2", covers: ["SelectV2", "ZerosLike"], arity: 3, domain: "bool condition; x, y reals in [-2, 2]",
    dtypes: floats, differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let (a, b) = broadcastPair(k, &g, empty: true)
      let (c, _) = broadcastPair(k, &g)
      let cs = refBroadcastShape([a, b, c]) == nil ? a : c
      return OpCase(
        inputs: [bools(cs.reduce(1, *), cs, &g), Domain.real(-2, 2).array(a, &g), Domain.real(-2, 2).array(b, &g)],
        build: { xs, _ in try select(xs[0], xs[1], xs[2]) },
        reference: { refMap($0) { $0[0] != 0 ? $0[1] : $0[2] } })
    })
}

private func argEntry(_ name: String, largest: Bool) -> OpEntry {
  OpEntry(
    name: name, covers: [name], arity: 1, domain: Domain.distinct.description, dtypes: floats + [.int32],
    differentiable: false, noGradientReason: "integer output", secondOrder: noSecond,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1)
      let axis = g.choice(shape.count) - (g.choice(2) == 0 ? shape.count : 0)
      let a = axis < 0 ? axis + shape.count : axis
      return OpCase(
        inputs: [Domain.distinct.array(shape, &g).converted(to: .float64)],
        build: { xs, _ in largest ? try argMax(xs[0], axis: axis) : try argMin(xs[0], axis: axis) },
        reference: { x in
          refReduce(x[0], axes: [a], keepDims: false) { v in
            Double(v.indices.first { v[$0] == (largest ? v.max()! : v.min()!) }!)
          }
        })
    })
}

private func softmaxEntry(log: Bool) -> OpEntry {
  let name = log ? "LogSoftmax" : "Softmax"
  return OpEntry(
    name: name, covers: [name, "Sum"], arity: 1, domain: "reals in [-3, 3]", dtypes: floats, differentiable: true,
    secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1, maxRank: 3)
      let axis = g.choice(shape.count)
      return OpCase(
        inputs: [Domain.real(-3, 3).array(shape, &g)],
        build: { xs, _ in log ? try logSoftmax(xs[0], axis: axis) : try softmax(xs[0], axis: axis) },
        reference: { x in
          refLanes(x[0], axis: axis) { v in
            let z = v.map { Foundation.exp($0) }.reduce(0, +)
            return v.map { log ? $0 - Foundation.log(z) : Foundation.exp($0) / z }
          }
        })
    })
}

private func cumprodEntry(exclusive: Bool, reverse: Bool) -> OpEntry {
  OpEntry(
    name: "Cumprod(exclusive: \(exclusive), reverse: \(reverse))", covers: ["Cumprod"], arity: 1,
    domain: Domain.awayFromZero.description, dtypes: floats, differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1, maxRank: 3)
      let axis = g.choice(shape.count)
      return OpCase(
        inputs: [Domain.awayFromZero.array(shape, &g)],
        build: { xs, _ in try cumprod(xs[0], axis: axis, exclusive: exclusive, reverse: reverse) },
        reference: { x in
          refLanes(x[0], axis: axis) { v in
            let n = v.count
            return (0..<n).map { i in
              let range = reverse ? (exclusive ? (i + 1)..<n : i..<n) : (exclusive ? 0..<i : 0..<(i + 1))
              return range.reduce(1.0) { $0 * v[$1] }
            }
          }
        })
    })
}

/// `tf.pad` with a constant: rank 0-4 (size-0 axes included), paddings 0-2 per side, the value
/// 0 or another (an integer for int32).
private func padEntry() -> OpEntry {
  OpEntry(
    name: "Pad", covers: ["Pad", "Slice"], arity: 1, domain: "reals in [-2, 2]; paddings 0...2", dtypes: floats + [.int32],
    differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, empty: true)
      let before = shape.map { _ in g.choice(3) }
      let after = shape.map { _ in g.choice(3) }
      let value = [0.0, 1.5, -2.0][g.choice(3)]
      return OpCase(
        inputs: [Domain.real(-2, 2).array(shape, &g)],
        build: { xs, dtype in
          try pad(xs[0], paddings: Array(zip(before, after)).map { (before: $0, after: $1) }, value: dtype == .int32 ? value.rounded(.down) : value)
        },
        reference: { x in
          let fill = x[0].dtype == .int32 ? value.rounded(.down) : value
          let out = shape.indices.map { before[$0] + shape[$0] + after[$0] }
          let v = x[0].doubles
          return arr(
            (0..<out.reduce(1, *)).map { i in
              let o = multiIndex(i, Shape(out))
              let inner = o.indices.map { o[$0] - before[$0] }
              guard inner.indices.allSatisfy({ inner[$0] >= 0 && inner[$0] < shape[$0] }) else { return fill }
              return v[flatIndex(inner, Shape(shape))]
            }, out)
        })
    })
}

/// `tf.pad` in REFLECT or SYMMETRIC mode: rank 0-4 (size-0 axes included), each padding drawn
/// up to the mode's limit (`n − 1` or `n`); the reference indexes the input with the mirrored
/// index written out.
private func mirrorPadEntry(_ mode: MirrorPadMode) -> OpEntry {
  OpEntry(
    name: "MirrorPad(\(mode.rawValue))", covers: ["MirrorPad", "MirrorPadGrad"], arity: 1, domain: "reals in [-2, 2]; paddings up to the mode's limit",
    dtypes: floats + [.int32], differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, empty: true)
      let limit = { (n: Int) in mode == .reflect ? Swift.max(n - 1, 0) : n }
      let before = shape.map { g.choice(Swift.min(limit($0), 3) + 1) }
      let after = shape.map { g.choice(Swift.min(limit($0), 3) + 1) }
      return OpCase(
        inputs: [Domain.real(-2, 2).array(shape, &g)],
        build: { xs, _ in try mirrorPad(xs[0], paddings: Array(zip(before, after)).map { (before: $0, after: $1) }, mode: mode) },
        reference: { x in
          let out = shape.indices.map { before[$0] + shape[$0] + after[$0] }
          let v = x[0].doubles
          return arr(
            (0..<out.reduce(1, *)).map { i in
              let o = multiIndex(i, Shape(out))
              let source = o.indices.map { a -> Int in
                let j = o[a] - before[a], n = shape[a]
                if j < 0 { return mode == .reflect ? -j : -j - 1 }
                if j >= n { return mode == .reflect ? 2 * n - 2 - j : 2 * n - 1 - j }
                return j
              }
              return v[flatIndex(source, Shape(shape))]
            }, out)
        })
    })
}

private func cumsumEntry(exclusive: Bool, reverse: Bool) -> OpEntry {
  OpEntry(
    name: "Cumsum(exclusive: \(exclusive), reverse: \(reverse))", covers: ["Cumsum"], arity: 1, domain: "reals in [-2, 2]",
    dtypes: floats, differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1, maxRank: 3)
      let axis = g.choice(shape.count)
      return OpCase(
        inputs: [Domain.real(-2, 2).array(shape, &g)],
        build: { xs, _ in try cumsum(xs[0], axis: axis, exclusive: exclusive, reverse: reverse) },
        reference: { x in
          refLanes(x[0], axis: axis) { v in
            let n = v.count
            return (0..<n).map { i in
              let range = reverse ? (exclusive ? (i + 1)..<n : i..<n) : (exclusive ? 0..<i : 0..<(i + 1))
              return range.reduce(0.0) { $0 + v[$1] }
            }
          }
        })
    })
}

private func sparseXentEntry() -> OpEntry {
  OpEntry(
    name: "SparseSoftmaxCrossEntropyWithLogits", covers: ["SparseSoftmaxCrossEntropyWithLogits"], arity: 2,
    domain: "logits reals in [-3, 3]; int32 labels in 0..<C", dtypes: floats, differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let shape = familyShape(k, &g, minRank: 1, maxRank: 3)
      let labelsShape = Array(shape.dropLast())
      let c = shape.last!
      let labels = (0..<labelsShape.reduce(1, *)).map { _ in g.choice(c) }
      return OpCase(
        inputs: [Domain.real(-3, 3).array(shape, &g), ints(labels, labelsShape)],
        build: { xs, _ in try sparseSoftmaxCrossEntropyWithLogits(logits: xs[0], labels: xs[1]) },
        reference: { v in
          let x = v[0].doubles, l = v[1].doubles
          return arr(
            l.indices.map { r in
              let row = Array(x[r * c..<(r + 1) * c])
              return refLogSumExp(row) - row[Int(l[r])]
            }, labelsShape)
        })
    })
}

private func matmulEntry() -> OpEntry {
  OpEntry(
    name: "MatMul", covers: ["MatMul"], arity: 2, domain: "reals in [-2, 2]; transposes and broadcast batch axes",
    dtypes: floats, differentiable: true, secondOrder: .checked,
    draw: { g, k in
      let m = 1 + g.choice(3), n = 1 + g.choice(3), p = 1 + g.choice(3)
      let ta = g.choice(2) == 0, tb = g.choice(2) == 0
      let batches: [([Int], [Int])] = [([], []), ([2], []), ([], [2]), ([2, 1], [3]), ([1], [2])]
      let (ba, bb) = batches[k % batches.count]
      let a = ba + (ta ? [n, m] : [m, n]), b = bb + (tb ? [p, n] : [n, p])
      return OpCase(
        inputs: [Domain.real(-2, 2).array(a, &g), Domain.real(-2, 2).array(b, &g)],
        build: { xs, _ in try matmul(xs[0], xs[1], transposeA: ta, transposeB: tb) },
        reference: { v in
          let batch = refBroadcastShape([ba, bb])!
          let av = v[0].doubles, bv = v[1].doubles
          let count = batch.reduce(1, *)
          var out = [Double](repeating: 0, count: count * m * p)
          for q in 0..<count {
            let o = multiIndex(q, Shape(batch))
            let ao = refSourceIndex(o, ba) * m * n, bo = refSourceIndex(o, bb) * n * p
            for i in 0..<m {
              for j in 0..<p {
                var s = 0.0
                for r in 0..<n {
                  s += av[ao + (ta ? r * m + i : i * n + r)] * bv[bo + (tb ? j * n + r : r * p + j)]
                }
                out[q * m * p + i * p + j] = s
              }
            }
          }
          return arr(out, batch + [m, p])
        })
    })
}

private func movementEntries() -> [OpEntry] {
  var t: [OpEntry] = []
  let real = Domain.real(-2, 2)
  t.append(
    OpEntry(
      name: "Reshape", covers: ["Reshape", "ReshapeLike"], arity: 1, domain: real.description, dtypes: floats + [.int32],
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, empty: true)
        let n = shape.reduce(1, *)
        let targets: [[Int]] = [[n], [-1], shape.reversed(), [1] + shape, n == 0 ? [0, 3] : [-1, 1]]
        let target = targets[g.choice(targets.count)]
        let resolved = target.map { $0 == -1 ? n : $0 }
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try reshape(xs[0], to: target) },
          reference: { arr($0[0].doubles, resolved) })
      }))
  t.append(
    OpEntry(
      name: "ReshapeLike", covers: ["ReshapeLike"], arity: 2, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, empty: true)
        let other = shape.reversed() + [1]
        return OpCase(
          inputs: [real.array(shape, &g), real.array(Array(other), &g)], build: { xs, _ in try reshapeLike(xs[0], xs[1]) },
          reference: { arr($0[0].doubles, Array(other)) })
      }))
  t.append(
    OpEntry(
      name: "ExpandDims", covers: ["ExpandDims", "ReshapeLike"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, maxRank: 3, empty: true)
        let axis = g.choice(shape.count + 1) - (g.choice(2) == 0 ? shape.count + 1 : 0)
        var out = shape
        out.insert(1, at: axis < 0 ? axis + shape.count + 1 : axis)
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try expandDims(xs[0], axis: axis) },
          reference: { arr($0[0].doubles, out) })
      }))
  t.append(
    OpEntry(
      name: "Squeeze", covers: ["Squeeze", "ReshapeLike"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        var shape = familyShape(k, &g, maxRank: 3).map { Swift.max($0, 2) }
        let at = g.choice(shape.count + 1)
        shape.insert(1, at: at)
        let all = g.choice(2) == 0
        var out = shape
        out.remove(at: at)
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try squeeze(xs[0], axes: all ? nil : [at]) },
          reference: { arr($0[0].doubles, out) })
      }))
  t.append(
    OpEntry(
      name: "BroadcastTo", covers: ["BroadcastTo", "SumToShapeOf"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (a, b) = broadcastPair(k, &g)
        let out = refBroadcastShape([a, b])!
        return OpCase(
          inputs: [real.array(a, &g)], build: { xs, _ in try broadcast(xs[0], to: out) },
          reference: { refMap($0, shape: out) { $0[0] } })
      }))
  t.append(
    OpEntry(
      name: "BroadcastLike", covers: ["BroadcastLike"], arity: 2, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (a, b) = broadcastPair(k, &g, empty: true)
        let out = refBroadcastShape([a, b])!
        return OpCase(
          inputs: [real.array(a, &g), real.array(out, &g)], build: { xs, _ in try broadcastLike(xs[0], xs[1]) },
          reference: { refMap([$0[0]], shape: out) { $0[0] } })
      }))
  t.append(
    OpEntry(
      name: "SumToShapeOf", covers: ["SumToShapeOf"], arity: 2, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (a, b) = broadcastPair(k, &g)
        let out = refBroadcastShape([a, b])!
        return OpCase(
          inputs: [real.array(out, &g), real.array(a, &g)], build: { xs, _ in try sumToShapeOf(xs[0], xs[1]) },
          reference: { refSumTo($0[0], a) })
      }))
  t.append(
    OpEntry(
      name: "EnsureShapeLike", covers: ["EnsureShapeLike"], arity: 2, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, empty: true)
        return OpCase(
          inputs: [real.array(shape, &g), real.array(shape, &g)],
          build: { xs, _ in try ensureShapeLike(xs[0], xs[1], operation: "Loss", role: "labels", referenceRole: "logits") },
          reference: { $0[0] })
      }))
  // The GraphDef importer's check of an int32 divisor: the divisor unchanged, or a run-time
  // error naming the division when an element is 0 (graph and eager); no gradient.
  t.append(
    OpEntry(
      name: "CheckNonZeroDivisor", covers: ["CheckNonZeroDivisor"], arity: 1, domain: "int32 in [-2, 2] (zeros on purpose)",
      dtypes: [.int32], differentiable: false, noGradientReason: "int32 values", secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let shape = familyShape(k, &g, empty: true)
        let y = Domain.integers.array(shape, &g).converted(to: .int32)
        let hasZero = y.doubles.contains(0)
        let check = CheckNonZeroDivisor(operation: "div", operationType: "FloorDiv")
        let graph = Graph()
        let p = graph.placeholder(.int32, shape: PartialShape(shape))
        let out = try graph.apply(check, [p])
        do {
          let v = try Session(graph: graph).run(out, feeding: [p: y])
          #expect(!hasZero && v.isBitIdentical(to: y), "CheckNonZeroDivisor draw \(k): \(y) gave \(v)")
        } catch {
          #expect(hasZero && "\(error)".contains("node 'div' (FloorDiv): integer division by zero"), "draw \(k): \(error)")
        }
        do {
          let e = Tensor(y)
          let v = try e.graph.apply(check, [e])
          let value = try v.value
          #expect(!hasZero && value.isBitIdentical(to: y), "eager draw \(k): \(y) gave \(value)")
        } catch {
          #expect(hasZero && "\(error)".contains("integer division by zero"), "eager draw \(k): \(error)")
        }
        #expect(try check.gradient(of: out.operation, upstream: [out]).allSatisfy { $0 == nil })
        #expect(throws: GraphError.self) { try graph.apply(check, [graph.placeholder(.float32, shape: [])]) }
        return Set(graph.operations.map(\.type))
      }))
  return t
}

private func layoutEntries() -> [OpEntry] {
  var t: [OpEntry] = []
  let real = Domain.real(-2, 2)
  t.append(
    OpEntry(
      name: "Transpose", covers: ["Transpose"], arity: 1, domain: real.description, dtypes: floats + [.int32],
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, empty: true)
        let perm = g.permutation(shape.count)
        let out = perm.map { shape[$0] }
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try transpose(xs[0], permutation: perm) },
          reference: { v in
            let x = v[0].doubles
            return arr(
              (0..<out.reduce(1, *)).map { i in
                let o = multiIndex(i, Shape(out))
                var src = [Int](repeating: 0, count: shape.count)
                for (j, p) in perm.enumerated() { src[p] = o[j] }
                return x[flatIndex(src, Shape(shape))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "ConcatV2", covers: ["ConcatV2", "SplitLike"], arity: 3, domain: real.description, dtypes: floats + [.int32],
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let base = familyShape(k, &g, minRank: 1)
        let axis = g.choice(base.count)
        let shapes = (0..<3).map { i -> [Int] in
          var s = base
          s[axis] = i == 1 && k % 10 == 7 ? 0 : 1 + g.choice(2)
          return s
        }
        return OpCase(
          inputs: shapes.map { real.array($0, &g) }, build: { xs, _ in try concat(xs, axis: axis) },
          reference: { v in
            var out = base
            out[axis] = shapes.map { $0[axis] }.reduce(0, +)
            return arr(
              (0..<out.reduce(1, *)).map { i in
                var o = multiIndex(i, Shape(out))
                var part = 0
                while o[axis] >= shapes[part][axis] {
                  o[axis] -= shapes[part][axis]
                  part += 1
                }
                return v[part].doubles[flatIndex(o, Shape(shapes[part]))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "stack", covers: ["ConcatV2", "ExpandDims"], arity: 2, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, maxRank: 3)
        let axis = g.choice(shape.count + 1)
        var out = shape
        out.insert(2, at: axis)
        return OpCase(
          inputs: [real.array(shape, &g), real.array(shape, &g)], build: { xs, _ in try stack(xs, axis: axis) },
          reference: { v in
            arr(
              (0..<out.reduce(1, *)).map { i in
                var o = multiIndex(i, Shape(out))
                let which = o.remove(at: axis)
                return v[which].doubles[flatIndex(o, Shape(shape))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "SplitV", covers: ["SplitV", "ConcatV2", "ZerosLike"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        var shape = familyShape(k, &g, minRank: 1, maxRank: 3)
        let axis = g.choice(shape.count)
        shape[axis] = 3 + g.choice(2)
        let first = g.choice(shape[axis] + 1)
        let sizes = [first, -1]
        let part = g.choice(2)
        let begin = part == 0 ? 0 : first
        var out = shape
        out[axis] = part == 0 ? first : shape[axis] - first
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try split(xs[0], sizes: sizes, axis: axis)[part] },
          reference: { v in
            arr(
              (0..<out.reduce(1, *)).map { i in
                var o = multiIndex(i, Shape(out))
                o[axis] += begin
                return v[0].doubles[flatIndex(o, Shape(shape))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "Slice", covers: ["Slice", "SliceGrad"], arity: 1, domain: real.description, dtypes: floats + [.int32],
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, minRank: 1)
        let begin = shape.map { g.choice($0 + 1) }
        let size = zip(shape, begin).map { d, b in g.choice(4) == 0 ? -1 : g.choice(d - b + 1) }
        let out = zip(zip(shape, begin), size).map { db, s in s == -1 ? db.0 - db.1 : s }
        return OpCase(
          inputs: [real.array(shape, &g)], build: { xs, _ in try slice(xs[0], begin: begin, size: size) },
          reference: { v in
            arr(
              (0..<out.reduce(1, *)).map { i in
                let o = zip(multiIndex(i, Shape(out)), begin).map { $0 + $1 }
                return v[0].doubles[flatIndex(o, Shape(shape))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "GatherV2", covers: ["GatherV2", "ScatterAdd"], arity: 2, domain: "reals in [-2, 2]; int32 indices in range, repeated",
      dtypes: floats, differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = familyShape(k, &g, minRank: 1, maxRank: 3)
        let axis = g.choice(shape.count)
        let iShape = familyShape(k / 3, &g, maxRank: 2)
        let idx = (0..<iShape.reduce(1, *)).map { _ in g.choice(shape[axis]) }
        let out = Array(shape[..<axis]) + iShape + Array(shape[(axis + 1)...])
        return OpCase(
          inputs: [real.array(shape, &g), ints(idx, iShape)], build: { xs, _ in try gather(xs[0], indices: xs[1], axis: axis) },
          reference: { v in
            let p = v[0].doubles, iv = v[1].doubles
            return arr(
              (0..<out.reduce(1, *)).map { i in
                let o = multiIndex(i, Shape(out))
                let ii = Array(o[axis..<(axis + iShape.count)])
                let src = Array(o[..<axis]) + [Int(iv[flatIndex(ii, Shape(iShape))])] + Array(o[(axis + iShape.count)...])
                return p[flatIndex(src, Shape(shape))]
              }, out)
          })
      }))
  t.append(
    OpEntry(
      name: "OneHot", covers: ["OneHot"], arity: 1, domain: "int32 indices in 0..<depth", dtypes: floats,
      differentiable: false, noGradientReason: "integer input", secondOrder: noSecond,
      draw: { g, k in
        let iShape = familyShape(k, &g, maxRank: 2, empty: true)
        let depth = 1 + g.choice(4)
        let on = g.uniform(low: 0.5, high: 2), off = g.uniform(low: -1, high: 0.25)
        let idx = (0..<iShape.reduce(1, *)).map { _ in g.choice(depth) }
        return OpCase(
          inputs: [ints(idx, iShape)],
          build: { xs, dtype in try oneHot(xs[0], depth: depth, on: on, off: off, dtype: dtype) },
          reference: { v in
            let iv = v[0].doubles
            return arr(iv.flatMap { i in (0..<depth).map { $0 == Int(i) ? on : off } }, iShape + [depth])
          })
      }))
  return t
}

/// Training's primitives, checked by what they promise against hand-written formulas.
private func trainingEntries() -> [OpEntry] {
  func scalarRow(_ name: String, _ primitive: @escaping () -> any Primitive, _ f: @escaping (Double) -> Double) -> OpEntry {
    OpEntry(
      name: name, covers: [name], arity: 1, domain: "float64 steps in [0, 50]", dtypes: [.float64], differentiable: false,
      noGradientReason: "a hyper-parameter of the step, not differentiated", secondOrder: noSecond,
      custom: CustomCheck { g, _ in
        let graph = Graph()
        let t = graph.placeholder(.float64, shape: [])
        let y = try graph.apply(primitive(), [t])
        let session = Session(graph: graph)
        for _ in 0..<5 {
          let step = Double(g.choice(51))
          let value = try session.run(y, feeding: [t: NDArray(scalar: step)]).scalarValue
          #expect(Swift.abs(value - f(step)) <= 1e-15 * Swift.max(1, Swift.abs(f(step))), "\(name) at step \(step)")
        }
        let grads = try y.operation.primitive.gradient(of: y.operation, upstream: [try onesLike(y)])
        #expect(grads.allSatisfy { $0 == nil })
        return Set(graph.operations.map(\.type))
      })
  }
  var t: [OpEntry] = []
  t.append(scalarRow("StepPower", { StepPower(base: 0.9) }) { Foundation.pow(0.9, $0) })
  t.append(scalarRow("ExponentialDecay", {
    ScheduledLearningRate(schedule: LearningRateSchedule(kind: .exponential(initial: 0.1, decaySteps: 10, decayRate: 0.5, staircase: false)))
  }) { 0.1 * Foundation.pow(0.5, $0 / 10) })
  t.append(scalarRow("PiecewiseConstant", {
    ScheduledLearningRate(schedule: LearningRateSchedule(kind: .piecewise(boundaries: [10, 20], values: [1, 0.5, 0.1])))
  }) { $0 <= 10 ? 1 : $0 <= 20 ? 0.5 : 0.1 })
  t.append(scalarRow("CosineDecay", {
    ScheduledLearningRate(schedule: LearningRateSchedule(kind: .cosine(initial: 0.2, decaySteps: 40, alpha: 0, warmupSteps: 0, warmupStart: 0)))
  }) { 0.2 * 0.5 * (1 + Foundation.cos(Double.pi * Swift.min($0, 40) / 40)) })
  t.append(
    OpEntry(
      name: "PlaceholderWithDefault", covers: ["PlaceholderWithDefault", "Const"], arity: 1, domain: "reals in [-2, 2]",
      dtypes: floats, differentiable: false, noGradientReason: "a feedable default (TF: none)", secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let shape = familyShape(k, &g, empty: true)
        let d = Domain.real(-2, 2).array(shape, &g), fed = Domain.real(-2, 2).array(shape, &g)
        let graph = Graph()
        let p = try graph.apply(PlaceholderWithDefault(), [graph.constant(d)])
        let session = Session(graph: graph)
        #expect(try session.run(p) == d)
        #expect(try session.run(p, feeding: [p: fed]) == fed)
        return Set(graph.operations.map(\.type))
      }))
  return t
}

/// Leaves, variables and random values, checked by what they promise.
private func stateEntries() -> [OpEntry] {
  var t: [OpEntry] = []
  t.append(
    OpEntry(
      name: "Placeholder+Const", covers: ["Placeholder", "Const"], arity: 0, domain: "reals in [-2, 2]",
      dtypes: floats, differentiable: false, noGradientReason: "leaves", secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let shape = familyShape(k, &g, empty: true)
        let x = Domain.real(-2, 2).array(shape, &g)
        var types = Set<String>()
        for d in floats {
          let graph = Graph()
          let p = graph.placeholder(d, shape: PartialShape(x.shape))
          let c = graph.constant(x.converted(to: d))
          let session = Session(graph: graph)
          let values = try session.run([p, c], feeding: [p: x.converted(to: d)])
          #expect(values[0] == x.converted(to: d) && values[1] == x.converted(to: d), "\(d) \(shape)")
          types.formUnion(graph.operations.map(\.type))
        }
        return types
      }))
  t.append(
    OpEntry(
      name: "Variable+Assign", covers: ["VariableV2", "Assign", "AssignAdd", "AssignSub", "NoOp"], arity: 1,
      domain: "reals in [-2, 2]; deltas broadcast to the variable", dtypes: floats, differentiable: false,
      noGradientReason: "state updates", secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let (a, b) = broadcastPair(k, &g)
        let shape = refBroadcastShape([a, b])!
        let x0 = Domain.real(-2, 2).array(shape, &g), x1 = Domain.real(-2, 2).array(shape, &g)
        let d1 = Domain.real(-2, 2).array(a, &g), d2 = Domain.real(-2, 2).array(b, &g)
        var types = Set<String>()
        for d in floats {
          let graph = Graph()
          let v = try graph.variable(x0.converted(to: d))
          let set = try assign(v, graph.constant(x1.converted(to: d)))
          let up = try assignAdd(v, graph.constant(d1.converted(to: d)))
          let down = try assignSubtract(v, graph.constant(d2.converted(to: d)))
          let both = try graph.group([up, down])
          let session = Session(graph: graph)
          try session.initializeVariables()
          expectClose(try session.value(of: v), x0.converted(to: d), rtol: 0, atol: 0, "initial \(d)")
          _ = try session.run(set)
          expectClose(try session.value(of: v), x1.converted(to: d), rtol: 0, atol: 0, "assign \(d)")
          try session.run(both)
          let r = d == .float64 ? 1e-15 : 2e-7
          let expected = refMap([x1.converted(to: d), d1.converted(to: d), d2.converted(to: d)], shape: shape) { $0[0] + $0[1] - $0[2] }
          expectClose(try session.value(of: v), expected, rtol: r, atol: r * 8, "assignAdd/Sub \(d)")
          types.formUnion(graph.operations.map(\.type))
        }
        return types
      }))
  t.append(
    OpEntry(
      name: "ApplyAdam", covers: ["ApplyAdam"], arity: 4,
      domain: "x, m, g in [-2, 2]; v in [0.2, 2]; with and without decay", dtypes: floats, differentiable: false,
      noGradientReason: "state updates", secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let shape = familyShape(k, &g, empty: true)
        let x0 = Domain.real(-2, 2).array(shape, &g), m0 = Domain.real(-2, 2).array(shape, &g)
        let v0 = Domain.real(0.2, 2).array(shape, &g), grad = Domain.real(-2, 2).array(shape, &g)
        let (b1, b2, eps, eta, lambda) = (0.9, 0.999, 1e-7, 0.01, k % 2 == 0 ? 0.0 : 0.004)
        var types = Set<String>()
        for d in floats {
          // The fused op, and the same update as separate operations (the graph AdamOptimizer
          // built before the fused op existed): they must agree bit for bit.
          var results: [[NDArray]] = []
          for fused in [true, false] {
            let graph = Graph()
            let x = try graph.variable(x0.converted(to: d)), m = try graph.variable(m0.converted(to: d))
            let v = try graph.variable(v0.converted(to: d))
            let gr = graph.constant(grad.converted(to: d))
            let step = graph.constant(NDArray(converting: [eta], shape: [], dtype: d))
            let decay = lambda > 0 ? graph.constant(NDArray(converting: [lambda], shape: [], dtype: d)) : nil
            let update: GraphCore.Operation
            if fused {
              update = try applyAdam(x, m: m, v: v, gradient: gr, stepSize: step, decay: decay, beta1: b1, beta2: b2, epsilon: eps)
            } else {
              let newM = try m * b1 + gr * (1 - b1)
              let newV = try v * b2 + square(gr) * (1 - b2)
              var ops = [try assign(m, newM).operation, try assign(v, newV).operation]
              if let decay { ops.append(try assignSubtract(x, x * decay)) }
              ops.append(try assignSubtract(x, step * newM / (sqrt(newV) + eps)))
              update = try graph.group(ops)
            }
            let session = Session(graph: graph)
            try session.initializeVariables()
            try session.run(update)
            try session.run(update)
            results.append([try session.value(of: x), try session.value(of: m), try session.value(of: v)])
            types.formUnion(graph.operations.map(\.type))
          }
          for (a, b) in zip(results[0], results[1]) { #expect(a.isBitIdentical(to: b), "fused and unfused differ, \(d) \(shape)") }
          // A plain loop in Double (two steps).
          var xs = x0.converted(to: d).doubles, ms = m0.converted(to: d).doubles, vs = v0.converted(to: d).doubles
          let gs = grad.converted(to: d).doubles
          for _ in 0..<2 {
            for i in xs.indices {
              ms[i] = ms[i] * b1 + gs[i] * (1 - b1)
              vs[i] = vs[i] * b2 + gs[i] * gs[i] * (1 - b2)
              xs[i] -= xs[i] * lambda
              xs[i] -= eta * ms[i] / (vs[i].squareRoot() + eps)
            }
          }
          let r = d == .float64 ? 1e-14 : 2e-6
          expectClose(results[0][0], NDArray(xs, shape: Shape(shape)).converted(to: d), rtol: r, atol: r, "x \(d)")
          expectClose(results[0][1], NDArray(ms, shape: Shape(shape)).converted(to: d), rtol: r, atol: r, "m \(d)")
          expectClose(results[0][2], NDArray(vs, shape: Shape(shape)).converted(to: d), rtol: r, atol: r, "v \(d)")
        }
        return types
      }))
  for (name, kind) in [("RandomStandardNormal", 0), ("TruncatedNormal", 1), ("RandomUniform", 2)] {
    t.append(
      OpEntry(
        name: name, covers: [name], arity: 0, domain: "shape family; mean 0.5, sd 2 (uniform on [-1, 3))",
        dtypes: floats, differentiable: false, noGradientReason: "random values", secondOrder: noSecond,
        custom: CustomCheck { g, k in
          let shape = familyShape(k, &g, empty: true)
          let seed = g.next()
          var types = Set<String>()
          for d in floats {
            func make() throws -> (Session, Tensor) {
              let graph = Graph()
              let r: Tensor
              switch kind {
              case 0: r = try randomNormal(graph, shape: Shape(shape), mean: 0.5, standardDeviation: 2, seed: seed, dtype: d)
              case 1: r = try truncatedNormal(graph, shape: Shape(shape), mean: 0.5, standardDeviation: 2, seed: seed, dtype: d)
              default: r = try randomUniform(graph, shape: Shape(shape), low: -1, high: 3, seed: seed, dtype: d)
              }
              types.formUnion(graph.operations.map(\.type))
              return (Session(graph: graph), r)
            }
            let (s1, r1) = try make(), (s2, r2) = try make()
            let first = try s1.run(r1), again = try s2.run(r2), next = try s1.run(r1)
            #expect(first.shape == Shape(shape) && first.dtype == d)
            #expect(first.isBitIdentical(to: again), "one seed, one sequence")
            if first.elementCount > 1 { #expect(!first.isBitIdentical(to: next), "new values on every run") }
            for v in first.doubles {
              switch kind {
              case 1: #expect(Swift.abs(v - 0.5) <= 4 * (1 + 1e-6), "truncated at two sd: \(v)")
              case 2: #expect(v >= -1 && v <= 3, "uniform range: \(v)")
              default: #expect(v.isFinite)
              }
            }
          }
          return types
        }))
  }
  t.append(
    OpEntry(
      name: "DropoutMask", covers: ["DropoutMask", "Mul"], arity: 2, domain: "x reals; bool training flag; rate in [0, 0.9)",
      dtypes: floats, differentiable: false, noGradientReason: "random mask; dropout's gradient g·mask is checked here",
      secondOrder: noSecond,
      custom: CustomCheck { g, k in
        let shape = familyShape(k, &g, minRank: 1, empty: true)
        let rate = Double(g.choice(9)) / 10
        let x = Domain.awayFromZero.array(shape, &g), w = Domain.real(-2, 2).array(shape, &g)
        let seed = g.next()
        var types = Set<String>()
        for d in floats {
          let graph = Graph()
          let xp = graph.placeholder(d, shape: PartialShape(x.shape))
          let flag = graph.placeholder(.bool, shape: [])
          let y = try dropout(xp, rate: rate, seed: seed, training: flag)
          let grad = try gradient(of: sum(y * graph.constant(w.converted(to: d))), withRespectTo: xp)!
          let session = Session(graph: graph)
          let on = try session.run([y, grad], feeding: [xp: x.converted(to: d), flag: NDArray(scalar: true)])
          let xv = x.converted(to: d).doubles, wv = w.converted(to: d).doubles
          let keep = 1 / (1 - rate)
          for (i, v) in on[0].doubles.enumerated() {
            let m = v / xv[i]
            #expect(m == 0 || Swift.abs(m - keep) <= 1e-5 * keep, "mask \(m), rate \(rate)")
            expectClose(on[1].doubles[i], wv[i] * m, rtol: 1e-5, atol: 1e-6, "gradient g·mask")
          }
          let off = try session.run(y, feeding: [xp: x.converted(to: d), flag: NDArray(scalar: false)])
          #expect(off == x.converted(to: d), "identity when not training")
          types.formUnion(graph.operations.map(\.type))
        }
        return types
      }))
  return t
}
