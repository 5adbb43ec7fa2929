@testable import GraphCore
import Testing
import Training

/// A plan's kernel fusion (Sources/GraphCore/Session/Fusion.swift) must give bit-identical
/// results to the unfused plan, which runs every operation's own kernel.
@Suite struct FusionTests {
  /// The bit patterns of a float array (NaNs compared by their bits).
  func bits(_ a: NDArray) -> [UInt64] {
    switch a.dtype {
    case .float32: a.withUnsafeBufferPointer(as: Float.self) { $0.map { UInt64($0.bitPattern) } }
    case .float64: a.withUnsafeBufferPointer(as: Double.self) { $0.map { $0.bitPattern } }
    default: []
    }
  }

  /// A small CNN (convolution + bias + ReLU + 2x2 max pool twice, the second on an odd size so
  /// that a row and a column of positions are in no window; dropout; dense; Adam), trained for
  /// a few steps with and without fusion: losses, gradients and variables agree bit for bit.
  /// Returns the fused kernels of the fused plan.
  @discardableResult
  func compareCNN(_ dtype: DType, channels: Int, filters: Int, size: Int) throws -> [String] {
    var results: [[[UInt64]]] = []
    var fusedNames: [String] = []
    for fuses in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [nil, size, size, channels], name: "x")
      let labels = g.placeholder(.int32, shape: [nil], name: "labels")
      let w1 = try g.variable(randomNormal(g, shape: [3, 3, channels, filters], standardDeviation: 0.5, seed: 1, dtype: dtype), name: "w1")
      let b1 = try g.variable(randomNormal(g, shape: [filters], standardDeviation: 0.5, seed: 2, dtype: dtype), name: "b1")
      let w2 = try g.variable(randomNormal(g, shape: [2, 2, filters, 16], standardDeviation: 0.3, seed: 3, dtype: dtype), name: "w2")
      let b2 = try g.variable(randomNormal(g, shape: [16], standardDeviation: 0.3, seed: 4, dtype: dtype), name: "b2")
      var h = try maxPool2d(relu(conv2d(x, w1) + b1), window: [2, 2])
      // The second block: the bias on the left of the sum, and an odd size for the pool.
      h = try maxPool2d(relu(b2 + conv2d(h, w2)), window: [2, 2])
      let side = ((size - 2) / 2 - 1) / 2
      h = try reshape(h, to: [-1, side * side * 16])
      h = try dropout(h, rate: 0.25, seed: 5, training: true)
      let w3 = try g.variable(randomNormal(g, shape: [side * side * 16, 10], standardDeviation: 0.2, seed: 6, dtype: dtype), name: "w3")
      let logits = try matmul(h, w3)
      let loss = try mean(sparseSoftmaxCrossEntropyWithLogits(logits: logits, labels: labels))
      let variables = [w1, b1, w2, b2, w3]
      let grads = try gradients(of: loss, withRespectTo: variables).map { $0! }
      let train = try AdamOptimizer(learningRate: 0.01).minimize(loss)
      let s = Session(graph: g, options: .init(fusesKernels: fuses))
      try s.initializeVariables()
      let step = try s.prepare(fetches: [loss] + grads, feeds: [x, labels], targets: [train])
      if fuses { fusedNames = step.plan.steps.compactMap { $0.fused?.typeName } }
      #expect(fuses || step.plan.steps.allSatisfy { $0.fused == nil })
      var rng = SeededGenerator(seed: 8)
      var trace: [[UInt64]] = []
      for _ in 0..<4 {
        let images = try rng.uniformArray(shape: [3, size, size, channels], low: -1, high: 1, dtype: dtype)
        let classes = NDArray((0..<3).map { _ in Int32(rng.choice(10)) }, shape: [3])
        for value in try step([images, classes]) { trace.append(bits(value)) }
        for v in variables { trace.append(bits(try s.value(of: v))) }
      }
      results.append(trace)
    }
    #expect(results[0] == results[1], "fused and unfused runs differ (\(dtype), \(channels) channels, \(filters) filters)")
    return fusedNames
  }

  @Test func cnnStepsAreBitIdenticalWithAndWithoutFusion() throws {
    // One input channel (the direct float kernel, K = 9) and several (the packed GEMM).
    for dtype in [DType.float32, .float64] {
      let names = try compareCNN(dtype, channels: 1, filters: 8, size: 12)
      // Two blocks; the gradients are built twice (fetched, and by the optimizer).
      #expect(names.filter { $0 == "Conv2D+Add+Relu" }.count == 2, "\(names)")
      #expect(names.filter { $0 == "MaxPoolGrad+Sign+Mul" }.count == 4, "\(names)")
      try compareCNN(dtype, channels: 3, filters: 16, size: 14)
    }
  }

  /// Special values reach the fused kernels: NaN, infinities, signed zeros, ties in the pool's
  /// windows. Both plans must give the same bits.
  @Test func specialValuesGiveTheSameBits() throws {
    for dtype in [DType.float32, .float64] {
      var outs: [[[UInt64]]] = []
      for fuses in [true, false] {
        let g = Graph()
        let x = g.placeholder(dtype, shape: [2, 6, 6, 1], name: "x")
        let dy = g.placeholder(dtype, shape: [2, 2, 2, 8], name: "dy")
        let w = try g.variable(randomNormal(g, shape: [3, 3, 1, 8], seed: 1, dtype: dtype), name: "w")
        let b = try g.variable(randomNormal(g, shape: [8], seed: 2, dtype: dtype), name: "b")
        let y = try relu(conv2d(x, w) + b)
        let p = try maxPool2d(y, window: [2, 2])
        let gy = try gradients(of: [p], withRespectTo: [y, b, w], gradientSeeds: [dy])
        let s = Session(graph: g, options: .init(fusesKernels: fuses))
        try s.initializeVariables()
        var values: [Double] = []
        for i in 0..<72 {
          let specials: [Double] = [.nan, .infinity, -.infinity, 0, -0.0, 1, 1, -1, 0.5]
          values.append(i % 5 == 0 ? specials[(i / 5) % specials.count] : Double(i % 7) - 3)
        }
        var d: [Double] = []
        for i in 0..<64 { d.append(i % 9 == 0 ? [.nan, -.infinity, -0.0][(i / 9) % 3] : Double(i % 5) - 2) }
        let got = try s.run(
          [y, p] + gy.map { $0! },
          feeding: [
            x: NDArray(converting: values, shape: [2, 6, 6, 1], dtype: dtype),
            dy: NDArray(converting: d, shape: [2, 2, 2, 8], dtype: dtype),
          ])
        outs.append(got.map(bits))
      }
      #expect(outs[0] == outs[1], "\(dtype)")
    }
  }

  /// ReLU's gradient alone (a dense layer) fuses its Sign and Mul, and agrees bit for bit.
  @Test func reluGradientOfADenseLayer() throws {
    var outs: [[[UInt64]]] = []
    for fuses in [true, false] {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [nil, 5], name: "x")
      let w = try g.variable(randomNormal(g, shape: [5, 7], seed: 1), name: "w")
      let h = try relu(matmul(x, w))
      let loss = try sum(h * h)
      let grad = try gradient(of: loss, withRespectTo: w)!
      let s = Session(graph: g, options: .init(fusesKernels: fuses))
      try s.initializeVariables()
      let step = try s.prepare(fetches: [loss, grad], feeds: [x])
      if fuses { #expect(step.plan.steps.contains { $0.fused?.typeName == "Sign+Mul" }) }
      var rng = SeededGenerator(seed: 3)
      let xv = try rng.uniformArray(shape: [4, 5], low: -1, high: 1, dtype: .float32)
      outs.append(try step([xv]).map(bits))
    }
    #expect(outs[0] == outs[1])
  }

  /// A fetched intermediate value is computed, so its chain is not fused; checked numerics turn
  /// fusion off (each non-finite value is named by the operation that made it).
  @Test func fetchedIntermediatesAndCheckedNumericsAreNotFused() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1, 4, 4, 1], name: "x")
    let w = try g.variable(randomNormal(g, shape: [3, 3, 1, 8], seed: 1), name: "w")
    let b = try g.variable(.zeros, shape: [8], name: "b")
    let c = try conv2d(x, w)
    let y = try relu(c + b)
    let s = Session(graph: g)
    try s.initializeVariables()
    #expect(try s.prepare(fetches: [y], feeds: [x]).plan.steps.contains { $0.fused != nil })
    #expect(try s.prepare(fetches: [y, c], feeds: [x]).plan.steps.allSatisfy { $0.fused == nil })
    let checked = Session(graph: g, options: .init(checkNumerics: true))
    try checked.initializeVariables()
    #expect(try checked.prepare(fetches: [y], feeds: [x]).plan.steps.allSatisfy { $0.fused == nil })
  }
}

/// `a * x + b` with one-element `a` and `b` (the bench's "a*x+b graph" row, a scale and shift)
/// fuses into one pass whose bits are the two kernels' (each operation rounded, no FMA), in
/// every operand order; a fetched product, or a scale of more than one element, keeps the two.
@Suite struct ScaleShiftFusionTests {
  /// Runs `build(x, a, b)` (nil: `x * a + b` with the product fetched too) with and without
  /// fusion's plan; returns the fetched values' bits and the fused kernels' names.
  func run(_ fuses: Bool, _ dtype: DType, _ build: ((Tensor, Tensor, Tensor) throws -> Tensor)?)
    throws -> (bits: [[UInt64]], fused: [String])
  {
    let g = Graph()
    let x = g.placeholder(dtype, shape: [nil, 7], name: "x")
    let a = g.placeholder(dtype, shape: [], name: "a")
    let b = g.placeholder(dtype, shape: [1], name: "b")
    let product = try x * a
    let y = try build.map { try $0(x, a, b) } ?? (product + b)
    let s = Session(graph: g, options: .init(fusesKernels: fuses))
    let fetches = build == nil ? [y, product] : [y]
    let step = try s.prepare(fetches: fetches, feeds: [x, a, b])
    var rng = SeededGenerator(seed: 4)
    var values = try rng.uniformArray(shape: [3, 7], low: -3, high: 3, dtype: .float64).doubles
    values[0] = .nan
    values[1] = .infinity
    values[2] = -0.0
    let xv = NDArray(converting: values, shape: [3, 7], dtype: dtype)
    let out = try step([xv, NDArray(scalar: 1.1, dtype: dtype), NDArray(converting: [-0.3], shape: [1], dtype: dtype)])
    return (out.map { $0.doubles.map(\.bitPattern) }, step.plan.steps.compactMap { $0.fused?.typeName })
  }

  @Test func everyOperandOrderFusesWithTheSameBits() throws {
    let forms: [(String, (Tensor, Tensor, Tensor) throws -> Tensor)] = [
      ("a*x+b", { x, a, b in try a * x + b }), ("x*a+b", { x, a, b in try x * a + b }),
      ("b+a*x", { x, a, b in try b + a * x }), ("b+x*a", { x, a, b in try b + x * a }),
    ]
    for dtype in [DType.float32, .float64] {
      for (name, form) in forms {
        let fused = try run(true, dtype, form), plain = try run(false, dtype, form)
        #expect(fused.fused == ["Mul+Add"], "\(name) \(dtype)")
        #expect(plain.fused.isEmpty)
        #expect(fused.bits == plain.bits, "\(name) \(dtype)")
      }
    }
  }

  @Test func aFetchedProductOrAWideScaleIsNotFused() throws {
    let fetched = try run(true, .float32, nil)
    #expect(fetched.fused.isEmpty)
    let wide = try run(true, .float32, { x, _, b in try x * x + b })
    #expect(wide.fused.isEmpty)
  }

  /// Each element's bits, as a float64 (exact for both float dtypes).
  func bits(_ a: NDArray) -> [UInt64] { a.doubles.map(\.bitPattern) }

  /// Per-channel scale and shift (`x · k + c`, batch normalization's form) with and without the
  /// ReLU after it, every operand order, `c` a row or a whole array: fused into one pass with the
  /// bits of the separate kernels, including NaN, infinities and signed zeros.
  @Test func rowScaleAndShiftFusesWithTheSameBits() throws {
    let forms: [(String, Bool, (Tensor, Tensor, Tensor) throws -> Tensor)] = [
      ("x*k+c", false, { x, k, c in try x * k + c }), ("c+k*x", false, { x, k, c in try c + k * x }),
      ("relu(x*k+c)", true, { x, k, c in try relu(x * k + c) }), ("relu(c+x*k)", true, { x, k, c in try relu(c + x * k) }),
    ]
    for dtype in [DType.float32, .float64] {
      for wholeShift in [false, true] {
        for (name, hasRelu, form) in forms {
          var outputs: [[UInt64]] = []
          for fuses in [true, false] {
            let g = Graph()
            let x = g.placeholder(dtype, shape: [nil, 3, 4], name: "x")
            let k = g.placeholder(dtype, shape: [4], name: "k")
            let c = g.placeholder(dtype, shape: wholeShift ? [nil, 3, 4] : [1, 4], name: "c")
            let y = try form(x, k, c)
            let s = Session(graph: g, options: .init(fusesKernels: fuses))
            let step = try s.prepare(fetches: [y], feeds: [x, k, c])
            let fusedNames = step.plan.steps.compactMap { $0.fused?.typeName }
            #expect(fusedNames == (fuses ? [hasRelu ? "Mul+Add+Relu" : "Mul+Add"] : []), "\(name) \(dtype) \(fusedNames)")
            var values = (0..<24).map { Double($0) - 11.5 }
            values[0] = .nan
            values[1] = .infinity
            values[2] = -0.0
            let xv = NDArray(converting: values, shape: [2, 3, 4], dtype: dtype)
            let kv = NDArray(converting: [0.5, -2, 0, 1.25], shape: [4], dtype: dtype)
            let cv = wholeShift
              ? NDArray(converting: (0..<24).map { Double($0 % 5) - 2.25 }, shape: [2, 3, 4], dtype: dtype)
              : NDArray(converting: [-0.0, 1, 3.5, -7], shape: [1, 4], dtype: dtype)
            outputs.append(bits(try step([xv, kv, cv])[0]))
          }
          #expect(outputs[0] == outputs[1], "\(name) \(dtype) whole shift: \(wholeShift)")
        }
      }
    }
  }

  /// The gradient forms of batch normalization written out: `(x − m) · k + c` and
  /// `g · k + ((x − m) · k₂ + c₂)` (either order of the outer sum, with and without the centre)
  /// with row operands fuse into one pass each, with the bits of the separate kernels, including
  /// NaN, infinities and signed zeros.
  @Test func centredAndSummedRowAffineFormsFuseWithTheSameBits() throws {
    typealias Form = (String, String, (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) throws -> Tensor)
    let forms: [Form] = [
      ("(x-m)*k+c", "Sub+Mul+Add", { x, _, m, k, _, c, _ in try (x - m) * k + c }),
      ("g*k+((x-m)*k2+c2)", "Mul+Sub+Mul+Add+Add", { x, g, m, k, k2, c, _ in try g * k + ((x - m) * k2 + c) }),
      ("((x-m)*k2+c2)+g*k", "Mul+Sub+Mul+Add+Add", { x, g, m, k, k2, c, _ in try ((x - m) * k2 + c) + g * k }),
      ("(g-m)*k+(x*k2+c2)", "Sub+Mul+Mul+Add+Add", { x, g, m, k, k2, c, _ in try (g - m) * k + (x * k2 + c) }),
      ("g*k+(x*k2+c2)", "Mul+Mul+Add+Add", { x, g, _, k, k2, c, _ in try g * k + (x * k2 + c) }),
    ]
    for dtype in [DType.float32, .float64] {
      for (name, fusedName, form) in forms {
        var outputs: [[UInt64]] = []
        for fuses in [true, false] {
          let g = Graph()
          let x = g.placeholder(dtype, shape: [nil, 3, 4], name: "x"), gr = g.placeholder(dtype, shape: [nil, 3, 4], name: "g")
          let rows = (0..<4).map { g.placeholder(dtype, shape: [1, 1, 4], name: "r\($0)") }
          let y = try form(x, gr, rows[0], rows[1], rows[2], rows[3], x)
          let s = Session(graph: g, options: .init(fusesKernels: fuses))
          let step = try s.prepare(fetches: [y], feeds: [x, gr] + rows)
          let fusedNames = step.plan.steps.compactMap { $0.fused?.typeName }
          #expect(fusedNames == (fuses ? [fusedName] : []), "\(name) \(dtype) \(fusedNames)")
          var values = (0..<24).map { Double($0) * 0.75 - 8.5 }
          values[0] = .nan
          values[1] = .infinity
          values[2] = -0.0
          let xv = NDArray(converting: values, shape: [2, 3, 4], dtype: dtype)
          let gv = NDArray(converting: values.reversed(), shape: [2, 3, 4], dtype: dtype)
          let rv = [[0.5, -2, 0, 1.25], [-0.0, 1, 3.5, -7], [2, -0.5, .infinity, 0.25], [1, -0.0, -3, 0.5]].map {
            NDArray(converting: $0, shape: [1, 1, 4], dtype: dtype)
          }
          outputs.append(bits(try step([xv, gv] + rv)[0]))
        }
        #expect(outputs[0] == outputs[1], "\(name) \(dtype)")
      }
    }
  }

  /// `SumToShapeOf(x · k, r) + c` with `r` of the product's static shape fuses; when the sizes
  /// unknown until run time make the sum a reduction after all, the fused step computes it as the
  /// separate kernels do.
  @Test func aSumToShapeOfBetweenProductAndSumFusesAndStillReduces() throws {
    for fedRows in [3, 1] {
      var outputs: [[UInt64]] = []
      for fuses in [true, false] {
        let g = Graph()
        let x = g.placeholder(.float32, shape: [nil, 4], name: "x")
        let r = g.placeholder(.float32, shape: [nil, 4], name: "r")
        let k = g.placeholder(.float32, shape: [4], name: "k")
        let c = g.placeholder(.float32, shape: [4], name: "c")
        let y = try sumToShapeOf(x * k, r) + c
        let step = try Session(graph: g, options: .init(fusesKernels: fuses)).prepare(fetches: [y], feeds: [x, r, k, c])
        #expect(step.plan.steps.compactMap { $0.fused?.typeName } == (fuses ? ["Mul+SumToShapeOf+Add"] : []))
        let xv = NDArray((0..<12).map { Float($0) * 0.37 - 2 }, shape: [3, 4])
        let out = try step([xv, try NDArray.zeros([fedRows, 4]), NDArray([Float(0.5), -1, 3, 0.25]), NDArray([Float(1), 2, -3, 0])])[0]
        #expect(out.shape == [fedRows, 4])
        outputs.append(bits(out))
      }
      #expect(outputs[0] == outputs[1], "reference of \(fedRows) rows")
    }
  }

  /// A CNN with batch normalization (the layer in training mode) trained with and without
  /// fusion: the same bits; the layer's scale, shift and ReLU run as one kernel, and so does the
  /// input's gradient with its part through the batch's statistics, `g · k + ((x − μ) · k₂ + c₂)`.
  @Test func batchNormalizedStepsAreBitIdenticalWithAndWithoutFusion() throws {
    var results: [[[UInt64]]] = []
    for fuses in [true, false] {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [nil, 6, 6, 2], name: "x")
      let labels = g.placeholder(.int32, shape: [nil], name: "labels")
      let phase = try TrainingPhase(graph: g, default: true)
      let w = try g.variable(randomNormal(g, shape: [3, 3, 2, 4], standardDeviation: 0.5, seed: 1), name: "w")
      let bn = try BatchNorm(graph: g, channels: 4, phase: phase)
      let h = try reshape(relu(bn(conv2d(x, w))), to: [-1, 64])
      let w2 = try g.variable(randomNormal(g, shape: [64, 10], standardDeviation: 0.2, seed: 2), name: "w2")
      let loss = try mean(sparseSoftmaxCrossEntropyWithLogits(logits: matmul(h, w2), labels: labels))
      let train = try AdamOptimizer(learningRate: 0.01).minimize(loss)
      let s = Session(graph: g, options: .init(fusesKernels: fuses))
      try s.initializeVariables()
      let step = try s.prepare(fetches: [loss], feeds: [x, labels], targets: [train])
      if fuses {
        let names = step.plan.steps.compactMap { $0.fused?.typeName }
        // The input's gradient, g · k + ((x − μ) · k₂ + c₂), through the walker's identity
        // SumToShapeOf on both sides: one kernel.
        #expect(
          names.contains("Mul+Add+Relu") && names.contains("Mul+SumToShapeOf")
            && names.contains("Mul+SumToShapeOf+Sub+Mul+Add+SumToShapeOf+Add"), "\(names)")
        // The training step reads only Normalize's statistics (its gradient is written with x):
        // the kernel skips x̂.
        let normalize = try #require(step.plan.steps.first { $0.primitive is Normalize })
        #expect(normalize.unreadOutputs == 0b001)
      }
      var rng = SeededGenerator(seed: 3)
      var trace: [[UInt64]] = []
      for _ in 0..<3 {
        let images = try rng.uniformArray(shape: [5, 6, 6, 2], low: -1, high: 1, dtype: .float32)
        let classes = NDArray((0..<5).map { _ in Int32(rng.choice(10)) }, shape: [5])
        for value in try step([images, classes]) { trace.append(bits(value)) }
        for v in [w, w2] + bn.variables { trace.append(bits(try s.value(of: v))) }
      }
      results.append(trace)
    }
    #expect(results[0] == results[1])
  }
}
