import ArrayCore

// Kernel fusion in a plan: a chain of steps whose intermediate values nothing else reads runs
// as one kernel that computes, bit for bit, what the chain computes, without writing the
// intermediate arrays. The graph is not changed: every operation keeps its one definition
// (shape rule, kernel, gradient), gradients are still built from the constituents, and a plan
// built with `Session.Options(fusesKernels: false)` runs the constituents one by one (the tests
// compare both). Fusion is a property of how a plan executes, like buffer reuse.
//
// The chains (image models spend most of their non-GEMM time in passes over the largest
// activations, 11 MB per pass for the Fashion-MNIST CNN's first layer at batch 128):
// - `Conv2D → Add(bias of shape [C]) → Relu` (either of the last two may be missing): the bias
//   and the rectifier are applied to the convolution's output while it is in cache;
// - `MaxPoolGrad(y, dy) → [SumToShapeOf(·, y), an identity] → Mul(·, Sign(y))`, the gradient of
//   ReLU followed by max pooling: one pass that routes each `dy` and multiplies by `sign(y)`;
// - `Mul(t, Sign(y))`, ReLU's gradient `g · sign(y)`: one pass without the sign array;
// - `Add(Mul(x, s), c)`, `a * x + b` with one-element `s` and `c` (a learning rate, a scale and
//   shift), in any operand order: one pass with the product and the sum each rounded, as the
//   two kernels round them (issue 13's "a*x+b graph" row);
// - `[Relu](Add(Mul(x, k), c))` with `k` a row of `x` (a per-channel vector) and `c` a row or
//   an array of `x`'s shape (batch normalization's `x · k + (β − μ · k)` and the ReLU after it;
//   its gradient's `g · k + t`, also through the autodiff walker's identity `SumToShapeOf`
//   between the product and the sum), and `x` may be `Sub(x, m)` with `m` a row (the gradient
//   through the batch's statistics, `(x − μ) · k + c`): one pass instead of two to four; when
//   `c` is itself such a chain with row operands (`g · k + ((x − μ) · k₂ + c₂)`, batch
//   normalization's input gradient), both terms in one pass;
// - `SumToShapeOf(Mul(a, b), r)` summing over leading axes (a per-channel gradient `Σ g · x`):
//   one pass reading `a` and `b`, without the product array.

/// A kernel a plan runs in place of a chain of graph operations (see the file's comment).
protocol FusedKernel: Sendable {
  /// A name for errors and profiles, such as `Conv2D+Add+Relu`.
  var typeName: String { get }
  /// Computes the chain's last output from the chain's outside inputs.
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws
}

/// `Conv2D`, then `+ bias` (when `hasBias`), then `Relu` (when `relu`). Inputs: `x`, `w`, and
/// the bias when present.
struct FusedConvolution: FusedKernel {
  let geometry: WindowGeometry
  let hasBias: Bool
  let relu: Bool
  var typeName: String { "Conv2D" + (hasBias ? "+Add" : "") + (relu ? "+Relu" : "") }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], w = inputs[1]
    let bias: NDArray? = hasBias ? inputs[2] : nil
    try outputs.update(0) { try Kernels.conv2d(x, w, geometry, bias: bias, relu: relu, into: &$0) }
  }
}

/// `MaxPoolGrad(y, dy) · sign(y)` (or `sign(y) · MaxPoolGrad(y, dy)`). Inputs: `y`, `dy`.
struct FusedMaxPoolGradientSign: FusedKernel {
  let geometry: WindowGeometry
  let signFirst: Bool
  var typeName: String { "MaxPoolGrad+Sign+Mul" }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let y = inputs[0], dy = inputs[1]
    try outputs.update(0) {
      try Kernels.pool(signFirst ? .signTimesMaxGradient : .maxGradientTimesSign, y, dy, geometry, into: &$0)
    }
  }
}

/// `t · sign(y)` (or `sign(y) · t`). Inputs: `t`, `y`. When the shapes differ (the product
/// broadcasts), the two kernels run one after the other, as unfused.
struct FusedMultiplySign: FusedKernel {
  let signFirst: Bool
  var typeName: String { "Sign+Mul" }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let t = inputs[0], y = inputs[1]
    if t.shape == y.shape && t.dtype == y.dtype && t.dtype.isFloatingPoint {
      try outputs.update(0) { try Kernels.multiplyBySign(t, y, signFirst: signFirst, into: &$0) }
      return
    }
    var s = NDArray()
    try Sign().evaluate(y, into: &s)
    try outputs.update(0) { try Kernels.arithmetic(.multiply, signFirst ? s : t, signFirst ? t : s, into: &$0) }
  }
}

/// `x · s + c` with one-element `s` and `c` (either operand order in each operation). Inputs:
/// `x`, `s`, `c`. When the values at run time do not fit the one-pass kernel (an operand of
/// more than one element, or of a higher rank than `x`, which would change the shape; mixed
/// dtypes), the two kernels run one after the other, as unfused.
struct FusedScaleShift: FusedKernel {
  var typeName: String { "Mul+Add" }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], s = inputs[1], c = inputs[2]
    if x.dtype.isFloatingPoint, s.dtype == x.dtype, c.dtype == x.dtype, s.elementCount == 1, c.elementCount == 1,
      s.rank <= x.rank, c.rank <= x.rank
    {
      let scale = s.scalarValue, shift = c.scalarValue
      try outputs.update(0) { try Kernels.scaleAndShift(x, scale: scale, shift: shift, into: &$0) }
      return
    }
    var t = NDArray()
    try Kernels.arithmetic(.multiply, x, s, into: &t)
    try outputs.update(0) { try Kernels.arithmetic(.add, t, c, into: &$0) }
  }
}

/// `(x − m) · k` (`x · k` without `m`) with the separate `Sub` and `Mul` kernels: the unfused
/// path of the row-affine kernels.
private func rowProduct(_ x: NDArray, minus m: NDArray?, times k: NDArray) throws -> NDArray {
  var d = x, t = NDArray()
  if let m { try Kernels.arithmetic(.subtract, x, m, into: &d) }
  try Kernels.arithmetic(.multiply, d, k, into: &t)
  return t
}

/// `t` summed down to `reference`'s shape when a walker's `SumToShapeOf` stood there and the
/// sizes at run time make it a reduction (the unfused path; otherwise the identity).
private func summed(_ t: NDArray, like reference: NDArray?) throws -> NDArray {
  guard let reference, t.shape != reference.shape else { return t }
  var out = NDArray()
  try Kernels.sum(t, to: reference.shape, into: &out)
  return out
}

/// `x · k + c`, then ReLU when `relu`, with `k` a row of `x` and `c` a row or of `x`'s shape;
/// with `centered`, `(x − m) · k + c` for a row `m` (the gradient of batch statistics).
/// Inputs: `x`, `k`, `c`, with `throughSum` the reference of a `SumToShapeOf` between the
/// product and the sum (the autodiff walker's un-broadcasting, the identity when the reference
/// has the product's shape), then with `centered` the row `m`. When the values at run time do
/// not fit the one-pass kernel, the kernels run one after the other, as unfused.
struct FusedRowAffine: FusedKernel {
  let relu: Bool
  var throughSum = false
  var centered = false
  var typeName: String { (centered ? "Sub+" : "") + (throughSum ? "Mul+SumToShapeOf+Add" : "Mul+Add") + (relu ? "+Relu" : "") }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], k = inputs[1], c = inputs[2]
    let center: NDArray? = centered ? inputs[throughSum ? 4 : 3] : nil
    var fused = false
    if !throughSum || inputs[3].shape == x.shape {
      try outputs.update(0) { fused = try Kernels.affineRows(x, k, c, center: center, relu: relu, into: &$0) }
    }
    if fused { return }
    let t = try summed(rowProduct(x, minus: center, times: k), like: throughSum ? inputs[3] : nil)
    try outputs.update(0) {
      try Kernels.arithmetic(.add, t, c, into: &$0)
      if relu {
        let sum = $0
        try Kernels.relu(sum, into: &$0)
      }
    }
  }
}

/// `P + Q` (`Q + P` with `innerFirst`), `P = x · k` (`(x − m) · k` when `centered`, through the
/// walker's identity `SumToShapeOf` when `throughSum`) and `Q = x2 · k2 + c2` (`(x2 − m2) · k2 + c2`
/// when `innerCentered`, through the walker's identity `SumToShapeOf` when `innerThroughSum`),
/// the k, c and m rows of `x`'s shape: the gradient `g · k + t` of batch normalization's input
/// with `t` its gradient through the batch's statistics. Inputs: `x`, `k`, `x2`, `k2`, `c2`,
/// then `m` when `centered`, `m2` when `innerCentered`, the references when `throughSum` and
/// when `innerThroughSum`. When the values at run time do not fit the one-pass kernel, the
/// kernels run one after the other, as unfused.
struct FusedRowAffineSum: FusedKernel {
  let centered: Bool
  let throughSum: Bool
  let innerCentered: Bool
  let innerThroughSum: Bool
  let innerFirst: Bool
  var typeName: String {
    (centered ? "Sub+" : "") + (throughSum ? "Mul+SumToShapeOf" : "Mul") + (innerCentered ? "+Sub" : "") + "+Mul+Add"
      + (innerThroughSum ? "+SumToShapeOf" : "") + "+Add"
  }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], k = inputs[1], x2 = inputs[2], k2 = inputs[3], c2 = inputs[4]
    var next = 5
    func optional(_ present: Bool) -> NDArray? {
      guard present else { return nil }
      defer { next += 1 }
      return inputs[next]
    }
    let m = optional(centered), m2 = optional(innerCentered), reference = optional(throughSum)
    let innerReference = optional(innerThroughSum)
    var fused = false
    if (reference == nil || reference!.shape == x.shape) && (innerReference == nil || innerReference!.shape == x2.shape) {
      try outputs.update(0) {
        fused = try Kernels.affineRowsSum(x, k, center: m, plus: x2, k2, center: m2, c2, innerFirst: innerFirst, into: &$0)
      }
    }
    if fused { return }
    let p = try summed(rowProduct(x, minus: m, times: k), like: reference)
    var q = NDArray()
    try Kernels.arithmetic(.add, try rowProduct(x2, minus: m2, times: k2), c2, into: &q)
    q = try summed(q, like: innerReference)
    try outputs.update(0) { try Kernels.arithmetic(.add, innerFirst ? q : p, innerFirst ? p : q, into: &$0) }
  }
}

/// `Σ a · b` down to the shape of `r`. Inputs: `a`, `b`, `r` (only its shape is read). When the
/// values at run time do not fit the one-pass kernel, the two kernels run, as unfused.
struct FusedSumOfProducts: FusedKernel {
  var typeName: String { "Mul+SumToShapeOf" }
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let a = inputs[0], b = inputs[1], target = inputs[2].shape
    var fused = false
    try outputs.update(0) { fused = try Kernels.sumOfProducts(a, b, to: target, into: &$0) }
    if fused { return }
    var t = NDArray()
    try Kernels.arithmetic(.multiply, a, b, into: &t)
    if t.shape == target {
      outputs[0] = t
    } else {
      try outputs.update(0) { try Kernels.sum(t, to: target, into: &$0) }
    }
  }
}

extension Plan {
  /// Replaces the chains listed in the file's comment by fused steps, in `slots` (before the
  /// release lists are computed). A chain fuses only when each intermediate value is read once,
  /// by the next step of the chain, and is not fetched (reads of its shape alone, after the
  /// chain, read the chain's result instead: same shape); static shapes and dtypes must show
  /// that the fused kernel applies.
  static func fuse(_ nodes: [Node], _ slots: inout Slots) {
    let fetched = Set(slots.fetchSlots)
    var producer: [Int: Int] = [:]  // slot -> step
    for (i, outs) in slots.outputSlots.enumerated() { for s in outs { producer[s] = i } }
    var readers: [Int: Int] = [:]  // slot -> number of reads of its value
    // Reads of only the shape (the reference of `SumToShapeOf` and `BroadcastLike`, which the
    // autodiff walker adds): slot -> (step, input index). A fused chain's intermediate values
    // all have the shape of its result, so these reads are redirected to the result.
    var shapeReaders: [Int: [(step: Int, k: Int)]] = [:]
    for (i, step) in slots.steps.enumerated() {
      let shapeOnly = step.primitive is SumToShapeOf || step.primitive is BroadcastLike
      for k in 0..<step.inputCount {
        let slot = slots.slotLists[step.inputStart + k]
        if shapeOnly && k == 1 {
          shapeReaders[slot, default: []].append((i, k))
        } else {
          readers[slot, default: 0] += 1
        }
      }
    }
    var removed = Set<Int>()
    func input(_ step: Int, _ k: Int) -> Int { slots.slotLists[slots.steps[step].inputStart + k] }
    func info(_ slot: Int) -> TensorInfo? {
      guard let p = producer[slot] else { return nil }
      let step = slots.steps[p]
      let o = (0..<step.outputCount).first { slots.slotLists[step.outputStart + $0] == slot } ?? 0
      return nodes[step.node].outputs[o]
    }
    /// The step producing `slot` when its value is private to one reader and its shape is read
    /// only after step `end` (the chain's last), else nil.
    func privateProducer(_ slot: Int, before end: Int) -> Int? {
      guard let p = producer[slot], !removed.contains(p), readers[slot] == 1, !fetched.contains(slot),
        slots.steps[p].outputCount == 1, (shapeReaders[slot] ?? []).allSatisfy({ $0.step > end })
      else { return nil }
      return p
    }
    /// `slot` as `Sub(x, m)` with `x` of `shape` and `m` a row, its value private to the chain
    /// ending at step `end` and its shape read by nothing: `x`, `m` and the step.
    func centred(_ slot: Int, before end: Int, shape: PartialShape, isRow: (Int) -> Bool) -> (x: Int, center: Int, step: Int)? {
      guard let d = privateProducer(slot, before: end), binary(d) is Subtract, isRow(input(d, 1)),
        (info(input(d, 0)) ?? feedInfo(input(d, 0), slots))?.shape == shape, shapeReaders[slot] == nil
      else { return nil }
      return (input(d, 0), input(d, 1), d)
    }
    /// `slot` as `Add(Mul(x, k), c)` (the product first in the sum, either order in the
    /// product; `x` possibly `Sub(x, m)`) with `x` of `shape` and `k`, `c`, `m` rows, every
    /// intermediate value private to the chain ending before step `end`: its operands and steps.
    func innerAffine(_ slot: Int, before end: Int, shape: PartialShape, isRow: (Int) -> Bool)
      -> (x: Int, k: Int, c: Int, center: Int?, reference: Int?, chain: [Int])?
    {
      // Through the walker's SumToShapeOf whose reference has the sum's static shape (the
      // identity unless sizes unknown until run time differ; the kernel checks).
      var sum = slot, reference: Int?, through: [Int] = []
      if let t = privateProducer(slot, before: end), slots.steps[t].primitive is SumToShapeOf,
        (info(input(t, 1)) ?? feedInfo(input(t, 1), slots))?.shape == shape, info(input(t, 0))?.shape == shape,
        shapeReaders[input(t, 0)] == nil, shapeReaders[slot] == nil
      {
        reference = input(t, 1)
        sum = input(t, 0)
        through = [t]
      }
      guard let a = privateProducer(sum, before: end), binary(a) is Add, isRow(input(a, 1)),
        let p = privateProducer(input(a, 0), before: end), binary(p) is Multiply
      else { return nil }
      for q in 0..<2 where isRow(input(p, q)) {
        let x = input(p, 1 - q)
        guard (info(x) ?? feedInfo(x, slots))?.shape == shape else { continue }
        guard shapeReaders[input(a, 0)] == nil, shapeReaders[sum] == nil else { return nil }
        let c = centred(x, before: end, shape: shape, isRow: isRow)
        return (c?.x ?? x, input(p, q), input(a, 1), c?.center, reference, (c.map { [$0.step] } ?? []) + [p, a] + through)
      }
      return nil
    }
    func unary(_ step: Int) -> (any UnaryFunction)? { (slots.steps[step].primitive as? any UnaryPrimitive)?.function }
    func binary(_ step: Int) -> (any BinaryFunction)? { (slots.steps[step].primitive as? any BinaryPrimitive)?.function }
    func replace(_ last: Int, with kernel: any FusedKernel, inputs: [Int], removing chain: [Int]) {
      slots.steps[last].inputStart = slots.slotLists.count
      slots.steps[last].inputCount = inputs.count
      slots.slotLists += inputs
      slots.steps[last].fused = kernel
      removed.formUnion(chain)
      let result = slots.slotLists[slots.steps[last].outputStart]
      for r in chain {
        for reader in shapeReaders[slots.slotLists[slots.steps[r].outputStart]] ?? [] {
          slots.slotLists[slots.steps[reader.step].inputStart + reader.k] = result
        }
      }
    }

    // Whether step `i`'s result is known to hold more than one element (the product of its
    // known sizes): plans of one-element values stay unfused, for the scalar program.
    func large(_ i: Int) -> Bool {
      guard slots.steps[i].outputCount == 1, let y = info(slots.slotLists[slots.steps[i].outputStart]) else { return false }
      return y.shape.dimensions.reduce(1) { $0 * ($1 ?? 1) } > 1
    }
    // From the last step back, so that each chain is matched from its end.
    for i in slots.steps.indices.reversed() where !removed.contains(i) && large(i) {
      // Conv2D → [Add bias] → [Relu], matched from its last step.
      var relu = false, biasSlot: Int?, convStep: Int?, chain: [Int] = []
      var top = i
      if unary(i) is Relu, let p = privateProducer(input(i, 0), before: i) {
        relu = true
        top = p
      }
      if binary(top) is Add {
        for k in 0..<2 {
          guard let c = privateProducer(input(top, k), before: i), slots.steps[c].primitive is Conv2D,
            let y = info(input(top, k)), y.shape.rank == 4, let channels = y.shape.dimensions[3]
          else { continue }
          let b = input(top, 1 - k)
          guard let bias = info(b) ?? feedInfo(b, slots), bias.dtype == y.dtype,
            bias.shape.dimensions.count == 1, bias.shape.dimensions[0] == channels, b != input(top, k)
          else { continue }
          convStep = c
          biasSlot = b
          chain = relu ? [c, top] : [c]
          break
        }
      } else if relu, slots.steps[top].primitive is Conv2D {
        convStep = top
        chain = [top]
      }
      if let c = convStep, let conv = slots.steps[c].primitive as? Conv2D, relu || biasSlot != nil,
        let y = info(slots.slotLists[slots.steps[c].outputStart]), y.dtype.isFloatingPoint
      {
        let last = relu ? i : top
        let kernel = FusedConvolution(geometry: conv.geometry, hasBias: biasSlot != nil, relu: relu)
        replace(last, with: kernel, inputs: [input(c, 0), input(c, 1)] + (biasSlot.map { [$0] } ?? []), removing: chain)
        continue
      }

      // [Relu](Add(Mul(x, k), c)), operands in either order, k and c rows of x's shape.
      do {
        var add = i, relu = false
        if unary(i) is Relu, let p = privateProducer(input(i, 0), before: i) {
          add = p
          relu = true
        }
        if binary(add) is Add, let y = info(slots.slotLists[slots.steps[add].outputStart]), y.dtype.isFloatingPoint {
          // A row: of y's dtype, known sizes, more than one element, y's trailing sizes after 1s.
          func isRow(_ slot: Int) -> Bool {
            guard let t = info(slot) ?? feedInfo(slot, slots), t.dtype == y.dtype, t.shape.rank <= y.shape.rank,
              let row = t.shape.concrete, row.elementCount > 1
            else { return false }
            let dims = Array(row.dimensions.drop { $0 == 1 }), ys = y.shape.dimensions
            return !dims.isEmpty && dims.count <= ys.count && zip(dims, ys.suffix(dims.count)).allSatisfy { $0 == $1 }
          }
          var matched = false
          for k in 0..<2 where !matched {
            let c = input(add, 1 - k)
            guard var m = privateProducer(input(add, k), before: i),
              isRow(c) || (info(c) ?? feedInfo(c, slots)).map({ $0.shape == y.shape && $0.dtype == y.dtype }) == true,
              info(input(add, k))?.shape == y.shape
            else { continue }
            // A gradient's product reaches the sum through the walker's SumToShapeOf, whose
            // reference has the product's static shape (the identity unless the sizes unknown
            // until run time differ; the fused kernel checks). Then the product's and the sum's
            // shapes may differ from the result's at run time, so nothing may read them.
            var sum: Int?
            if slots.steps[m].primitive is SumToShapeOf, let r = info(input(m, 1)) ?? feedInfo(input(m, 1), slots), r.shape == y.shape,
              let p = privateProducer(input(m, 0), before: i), info(input(m, 0))?.shape == y.shape,
              shapeReaders[input(m, 0)] == nil, shapeReaders[input(add, k)] == nil
            {
              sum = m
              m = p
            }
            guard binary(m) is Multiply else { continue }
            for q in 0..<2 where !matched && isRow(input(m, q)) && (info(input(m, 1 - q)) ?? feedInfo(input(m, 1 - q), slots))?.shape == y.shape {
              // The full operand centred by a row, x − m, computed for this product alone.
              let centring = centred(input(m, 1 - q), before: i, shape: y.shape, isRow: isRow)
              let x = centring?.x ?? input(m, 1 - q), center = centring?.center, sub = centring?.step
              // c itself x2 · k2 + c2 (x2 possibly x2 − m2), rows k2, c2, m2, computed for this sum
              // alone: both terms in one pass.
              if !relu, let inner = innerAffine(c, before: i, shape: y.shape, isRow: isRow) {
                let operands =
                  [x, input(m, q), inner.x, inner.k, inner.c] + (center.map { [$0] } ?? []) + (inner.center.map { [$0] } ?? [])
                  + (sum.map { [input($0, 1)] } ?? []) + (inner.reference.map { [$0] } ?? [])
                let chain = (sub.map { [$0] } ?? []) + [m] + (sum.map { [$0] } ?? []) + inner.chain
                let kernel = FusedRowAffineSum(
                  centered: center != nil, throughSum: sum != nil, innerCentered: inner.center != nil,
                  innerThroughSum: inner.reference != nil, innerFirst: k == 1)
                replace(i, with: kernel, inputs: operands, removing: chain)
                matched = true
                continue
              }
              let operands = [x, input(m, q), c] + (sum.map { [input($0, 1)] } ?? []) + (center.map { [$0] } ?? [])
              let chain = (sub.map { [$0] } ?? []) + [m] + (sum.map { [$0] } ?? []) + (relu ? [add] : [])
              replace(i, with: FusedRowAffine(relu: relu, throughSum: sum != nil, centered: center != nil), inputs: operands, removing: chain)
              matched = true
            }
          }
          if matched { continue }
        }
      }

      // SumToShapeOf(Mul(a, b), r): a and b of the product's shape, r of another (a reduction).
      if slots.steps[i].primitive is SumToShapeOf, let m = privateProducer(input(i, 0), before: i), binary(m) is Multiply,
        shapeReaders[input(i, 0)] == nil, let p = info(input(i, 0)), p.dtype.isFloatingPoint,
        let r = info(input(i, 1)) ?? feedInfo(input(i, 1), slots), r.shape != p.shape,
        (0..<2).allSatisfy({ (info(input(m, $0)) ?? feedInfo(input(m, $0), slots))?.shape == p.shape })
      {
        replace(i, with: FusedSumOfProducts(), inputs: [input(m, 0), input(m, 1), input(i, 1)], removing: [m])
        continue
      }

      // Add(Mul(x, s), c), operands in either order, s and c of one element.
      if binary(i) is Add, let y = info(slots.slotLists[slots.steps[i].outputStart]), y.dtype.isFloatingPoint {
        func oneElement(_ slot: Int) -> Bool {
          guard let t = info(slot) ?? feedInfo(slot, slots), t.dtype == y.dtype, t.shape.rank <= y.shape.rank else { return false }
          return t.shape.dimensions.allSatisfy { $0 == 1 }
        }
        var matched = false
        for k in 0..<2 where !matched {
          let c = input(i, 1 - k)
          // The product has the sum's rank, so a one-element c leaves its shape as it is (shape
          // reads of the product are redirected to the sum).
          guard let m = privateProducer(input(i, k), before: i), binary(m) is Multiply, oneElement(c),
            info(input(i, k))?.shape.rank == y.shape.rank
          else { continue }
          for q in 0..<2 where !matched && oneElement(input(m, q)) && !oneElement(input(m, 1 - q)) {
            replace(i, with: FusedScaleShift(), inputs: [input(m, 1 - q), input(m, q), c], removing: [m])
            matched = true
          }
        }
        if matched { continue }
      }

      // Mul(t, Sign(y)) or Mul(Sign(y), t), and MaxPoolGrad(y, dy) before it.
      guard binary(i) is Multiply else { continue }
      for k in 0..<2 {
        guard let s = privateProducer(input(i, k), before: i), unary(s) is Sign else { continue }
        let y = input(s, 0), t = input(i, 1 - k)
        guard t != input(i, k) else { continue }
        var gradientStep = privateProducer(t, before: i)
        var through: [Int] = []
        if let g = gradientStep, slots.steps[g].primitive is SumToShapeOf, input(g, 1) == y {
          through = [g]  // an identity: MaxPoolGrad's result has the shape of its input y
          gradientStep = privateProducer(input(g, 0), before: i)
        }
        if let g = gradientStep, let pool = slots.steps[g].primitive as? MaxPoolGrad, input(g, 0) == y,
          info(y)?.dtype.isFloatingPoint ?? feedInfo(y, slots)?.dtype.isFloatingPoint ?? false
        {
          replace(
            i, with: FusedMaxPoolGradientSign(geometry: pool.geometry, signFirst: k == 0), inputs: [y, input(g, 1)],
            removing: [s, g] + through)
        } else if shapeReaders[input(i, k)] == nil {  // the product may broadcast: no shape to stand in
          replace(i, with: FusedMultiplySign(signFirst: k == 0), inputs: [t, y], removing: [s])
        }
        break
      }
    }
    guard !removed.isEmpty else { return }
    let kept = slots.steps.indices.filter { !removed.contains($0) }
    slots.steps = kept.map { slots.steps[$0] }
    slots.outputSlots = kept.map { slots.outputSlots[$0] }
    slots.lastUse = [:]
    for (i, step) in slots.steps.enumerated() {
      for k in 0..<step.inputCount { slots.lastUse[slots.slotLists[step.inputStart + k]] = i }
    }
  }

  /// The static type of a fed slot.
  private static func feedInfo(_ slot: Int, _ slots: Slots) -> TensorInfo? {
    slots.feeds.first { $0.slot == slot }?.info
  }
}
