import class Foundation.FileManager
@testable import GraphCore
import TestSupport
import Training
import Testing

/// The scalar fast path must give bit-identical results to the general path (fused and unfused
/// plans agree exactly).
@Suite struct ScalarFastPathTests {
  func trajectories(_ dtype: DType, _ build: (Graph, Tensor, Tensor, Tensor) throws -> (Tensor, Operation)) throws -> [[NDArray]] {
    var out: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let y = g.placeholder(dtype, shape: [1], name: "y")
      let a = try g.variable(randomNormal(g, shape: [1], mean: 2, seed: 9, dtype: dtype), name: "A")
      let (loss, train) = try build(g, x, y, a)
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      let step = try s.prepare(fetches: [loss], feeds: [x, y], targets: [train])
      var rng = SeededGenerator(seed: 4)
      var values: [NDArray] = []
      for i in 0..<200 {
        let xv = NDArray(converting: [rng.normal(mean: 1, standardDeviation: 2)], shape: [1], dtype: dtype)
        let yv = NDArray(converting: [Double(rng.choice(2))], shape: [1], dtype: dtype)
        if i % 2 == 0 {
          values.append(try s.run([loss], feeding: [x: xv, y: yv], targets: [train])[0])
        } else {
          values.append(try step([xv, yv])[0])
        }
        values.append(try s.value(of: a))
      }
      // The comparison is only meaningful if the fast side really ran the scalar program.
      #expect(s.scalarRuns == (fast ? 200 : 0), "the scalar program ran \(s.scalarRuns) of 200 steps (fast: \(fast))")
      out.append(values)
    }
    return out
  }

  func expectIdentical(_ runs: [[NDArray]], _ name: String) {
    #expect(runs[0].count == runs[1].count)
    for (i, (p, q)) in zip(runs[0], runs[1]).enumerated() where !p.isBitIdentical(to: q) {
      Issue.record("\(name): value \(i) differs: fast \(p) general \(q)")
      return
    }
  }

  func sgd(_ loss: Tensor, _ a: Tensor, _ rate: Double) throws -> Operation {
    let g = try gradients(of: loss, withRespectTo: [a])[0]!
    return try loss.graph.group([try assignSubtract(a, g * rate)])
  }

  @Test(arguments: [DType.float32, .float64])
  func notebookModelsAgreeBitForBit(_ dtype: DType) throws {
    expectIdentical(try trajectories(dtype) { _, x, y, a in
      let loss = try square(x * a - y)
      return (loss, try sgd(loss, a, 0.02))
    }, "L2 regression")
    expectIdentical(try trajectories(dtype) { _, x, y, a in
      let loss = try abs(x * a - y)
      return (loss, try sgd(loss, a, 0.02))
    }, "L1 regression")
    expectIdentical(try trajectories(dtype) { _, x, y, a in
      let loss = try sigmoidCrossEntropyWithLogits(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0))
      return (loss, try sgd(loss, a, 0.05))
    }, "classification")
  }

  @Test(arguments: [DType.float32, .float64])
  func everyScalarFunctionAgrees(_ dtype: DType) throws {
    // Every unary and binary function, their gradients, sums and means, through both paths.
    expectIdentical(try trajectories(dtype) { g, x, y, a in
      let u = try [negate(x * a), square(x), abs(x - a), exp(x * 0.1), log(abs(x) + 1), sqrt(abs(a) + 0.5),
        sigmoid(x), tanh(x * a), relu(x), round(x * 3), sign(x - 0.5), sin(x * a), cos(x * a), tan(x * 0.1),
        atan(x * a), expm1(x * 0.1), log1p(abs(x * a)), reciprocal(abs(a) + 1), rsqrt(abs(x * a) + 1),
        softplus(x * a), erf(x * a), cumsum(x * a), cumsum(x * a, exclusive: true)]
      // (maximum, minimum, pow, leakyRelu and elu have gradients with comparisons, which the
      // fast path does not lower; their forward passes are checked below.)
      let b = try [x + a, x - y, x * a, x / (abs(a) + 1), atan2(x, a), hypot(x, a), mod(x * a, y + 1.5),
        sigmoidCrossEntropyWithLogits(logits: x * a, labels: y)]
      var total = try sum(u[0]) + mean(u[1], keepDims: true)
      for t in u.dropFirst(2) + b { total = try total + t }
      let loss = try sum(total)
      return (loss, try sgd(loss, a, 0.001))
    }, "all functions")
  }

  @Test func forwardOfEveryBinaryFunctionAgrees() throws {
    for dtype in [DType.float32, .float64] {
      var runs: [[NDArray]] = []
      for fast in [true, false] {
        let g = Graph()
        let x = g.placeholder(dtype, shape: [1]), y = g.placeholder(dtype, shape: [1])
        let z = try maximum(x, y) + minimum(x, y) * pow(abs(x) + 0.5, y) + floorDiv(x * 7, y) + mod(x, y)
          + leakyRelu(x) * elu(y) - atan2(x, y) * hypot(x, y)
        let s = Session(graph: g, options: .init(scalarFastPath: fast))
        var rng = SeededGenerator(seed: 8)
        runs.append(try (0..<100).map { _ in
          try s.run(z, feeding: [x: NDArray(converting: [rng.normal()], shape: [1], dtype: dtype), y: NDArray(converting: [rng.normal()], shape: [1], dtype: dtype)])
        })
        #expect(s.scalarRuns == (fast ? 100 : 0))
      }
      expectIdentical(runs, "binary forward \(dtype)")
    }
  }

  @Test func longProgramsRunAsSeveralChains() throws {
    // Several times more instructions than one chain of links holds
    // (`ScalarProgram.linksPerChain`): the run calls the chains in order.
    for dtype in [DType.float32, .float64] {
      var runs: [[NDArray]] = []
      for fast in [true, false] {
        let g = Graph()
        let x = g.placeholder(dtype, shape: [1])
        var h = x
        for i in 0..<(3 * ScalarProgram<Float>.linksPerChain + 5) { h = try i % 2 == 0 ? sin(h) + x : h * 0.999 }
        let s = Session(graph: g, options: .init(scalarFastPath: fast))
        var rng = SeededGenerator(seed: 3)
        runs.append(try (0..<5).map { _ in
          try s.run(h, feeding: [x: NDArray(converting: [rng.normal()], shape: [1], dtype: dtype)])
        })
        #expect(s.scalarRuns == (fast ? 5 : 0))
      }
      expectIdentical(runs, "long program \(dtype)")
    }
  }

  /// After a run that took the scalar program, fed values go straight into its registers
  /// (``PreparedStep/setFeed(_:to:)`` and `Session.run`'s binding) and the frame's feed slots
  /// go stale. Every way in must still see every feed's latest value: feeds set one at a time
  /// (the other keeps its value), a prepared step's array form in between (which writes the
  /// frame), a fetched feed, and a variable whose value stops fitting the program (assigned
  /// another shape), so that the run falls back to the general path, which reads the frame,
  /// and later fits again. The same calls on a session without the fast path are the oracle.
  @Test(arguments: [DType.float32, .float64])
  func feedsInRegistersKeepEveryFeedsLatestValue(_ dtype: DType) throws {
    var runs: [[NDArray]] = []
    var scalarRuns: [Int] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let y = g.placeholder(dtype, shape: [1], name: "y")
      let a = try g.variable(NDArray(converting: [1.5], shape: [1], dtype: dtype), name: "A")
      let loss = try square(x * a - y)
      let train = try sgd(loss, a, 0.01)
      let wide = try assign(a, g.constant(NDArray(converting: [0.5, 0.25], shape: [2], dtype: dtype)), validateShape: false)
      let narrow = try assign(a, g.constant(NDArray(converting: [1.25], shape: [1], dtype: dtype)), validateShape: false)
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      let step = try s.prepare(fetches: [loss, x], feeds: [x, y], targets: [train])
      var rng = SeededGenerator(seed: 11)
      var values: [NDArray] = []
      func sample() -> NDArray { NDArray(converting: [rng.normal(mean: 1, standardDeviation: 1)], shape: [1], dtype: dtype) }
      try step.setFeed(1, to: sample())
      for i in 0..<120 {
        if i == 48 { try s.run(wide.operation) }  // before the array form, then a lone setFeed
        if i == 80 { try s.run(narrow.operation) }
        switch i % 6 {
        case 0: values += try step([sample(), sample()])
        case 1:
          try step.setFeed(0, to: sample())  // y keeps the array form's value
          try step.run()
          values += [step.fetch(0), step.fetch(1)]
        case 2:
          try step.setFeed(1, to: sample())  // x keeps its value
          try step.run()
          values += [step.fetch(0), step.fetch(1)]
        case 3: values += try s.run([loss, x], feeding: [x: sample(), y: sample()], targets: [train])
        default:
          try step.setFeed(1, to: sample())
          try step.setFeed(0, to: sample())
          try step.run()
          values += [step.fetch(0), step.fetch(1)]
        }
        values.append(try s.value(of: a))
      }
      runs.append(values)
      scalarRuns.append(s.scalarRuns)
    }
    // 120 steps, the initializer and the assignment of one element, less the steps whose
    // variable had two elements (48..<80).
    #expect(scalarRuns == [120 + 1 + 1 - 32, 0], "scalar runs: \(scalarRuns)")
    expectIdentical(runs, "feeds in registers (\(dtype))")
  }

  /// A scalar program keeps the current values of its variables in its registers between its
  /// runs (``ExecutionContext/lend(to:)``) and writes them back when anything else reads or
  /// writes the session's variables. Every such use must see the current values: a second
  /// program on the same variables (which takes them over), a plan the fast path cannot run
  /// (two elements), `value(of:)`, `setValue`, a checkpoint saved and restored, the
  /// initializers run again, and a value the caller holds (copy-on-write). The same calls on a
  /// session without the fast path are the oracle, bit for bit.
  @Test(arguments: [DType.float32, .float64])
  func lentVariablesAreWrittenBackBeforeAnyOtherUse(_ dtype: DType) throws {
    let directory = try makeScratchDirectory("lent-variables")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var runs: [[NDArray]] = []
    var scalarRuns: [Int] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let a = try g.variable(NDArray(converting: [1.5], shape: [1], dtype: dtype), name: "A")
      let b = try g.variable(NDArray(converting: [-0.5], shape: [1], dtype: dtype), name: "B")
      let train = try sgd(square(x * a - 1), a, 0.05)  // reads and writes A
      let mix = try g.group([try assignAdd(b, a * x)])  // reads A, writes B
      let both = try concat([a, b], axis: 0)  // two elements: the general path
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      let p = try s.prepare(feeds: [x], targets: [train])
      let q = try s.prepare(fetches: [b], feeds: [x], targets: [mix])
      let path = directory + "/lent-\(fast).safetensors"
      var rng = SeededGenerator(seed: 5)
      var values: [NDArray] = []
      var held: [NDArray] = []
      func sample() -> NDArray { NDArray(converting: [rng.normal(mean: 1, standardDeviation: 0.5)], shape: [1], dtype: dtype) }
      for i in 0..<96 {
        try p.setFeed(0, to: sample())
        try p.run()
        switch i % 8 {
        case 0: values.append(try s.value(of: a))
        case 1: values += try q([sample()])  // a second program: takes A over from p
        case 2: values.append(try s.run(both))
        case 3: try s.setValue(NDArray(converting: [Double(i) / 32], shape: [1], dtype: dtype), for: a)
        case 4: try Checkpoint.save(session: s, to: path)
        case 5:
          _ = try Checkpoint.restore(session: s, from: path)
          values.append(try s.value(of: a))
        case 6:
          held.append(try s.value(of: a))  // shares A's storage until the next write
          try s.run(train, feeding: [x: sample()])
        default: if i % 24 == 7 { try s.initializeVariables() }
        }
      }
      values += [try s.value(of: a), try s.value(of: b)] + held
      runs.append(values)
      scalarRuns.append(s.scalarRuns)
    }
    // p's 96 runs, q's 12 and the 12 Session.run steps; then the initializer's first run and
    // its 4 reruns (their assignments fit the program too).
    #expect(scalarRuns == [96 + 12 + 12 + 5, 0], "scalar runs: \(scalarRuns)")
    expectIdentical(runs, "lent variables (\(dtype))")
  }

  /// A link takes an operand that is the previous instruction's result from the value that
  /// instruction handed on (a CPU register) instead of the register array: as the first
  /// operand, the second, both, and for a function of one value. The chain below has each
  /// case; its values must be the general path's, bit for bit, specials included.
  @Test(arguments: [DType.float32, .float64])
  func carriedOperandsAgree(_ dtype: DType) throws {
    let specials: [Double] = [-0.0, 0, .infinity, -.infinity, .nan, 0x1p-1030, 0x1p-140, 3.5, -2, 7e37]
    var runs: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let t = try x * 3
      let u = try t * t  // both operands carried
      let w = try u - x  // the first
      let z = try x - w  // the second
      let n = try -z  // one value
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      let step = try s.prepare(fetches: [n, w, u], feeds: [x])
      var values: [NDArray] = []
      for v in specials { values += try step([NDArray(converting: [v], shape: [1], dtype: dtype)]) }
      if fast {
        switch step.plan.scalarProgram {
        case .float32(let p): #expect(p.code.count == 5)
        case .float64(let p): #expect(p.code.count == 5)
        case nil: Issue.record("no scalar program")
        }
      }
      #expect(s.scalarRuns == (fast ? specials.count : 0))
      runs.append(values)
    }
    expectIdentical(runs, "carried operands (\(dtype))")
  }

  /// `x · 1` and `1 · x` lower to no instruction (``BinaryFunction/identityElement``: the
  /// product is an alias of `x`), and still give what the kernels give, bit for bit, for signed
  /// zeros, infinities, NaN and subnormals; `x · 2` keeps its instruction.
  @Test(arguments: [DType.float32, .float64])
  func multiplyingByOneLowersToNothingAndAgrees(_ dtype: DType) throws {
    let tiny = dtype == .float32 ? Double(Float.leastNonzeroMagnitude) : Double.leastNonzeroMagnitude
    let specials: [Double] = [-0.0, 0, .infinity, -.infinity, .nan, tiny, -tiny, 3.5, -2]
    var runs: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      let ones = try s.prepare(fetches: [x * 1, 1 * x], feeds: [x])
      let twice = try s.prepare(fetches: [x * 2], feeds: [x])
      var values: [NDArray] = []
      for v in specials {
        let value = NDArray(converting: [v], shape: [1], dtype: dtype)
        values += try ones([value]) + twice([value])
      }
      if fast {
        #expect(s.scalarRuns == 2 * specials.count)
        let counts = [ones, twice].map { step -> Int? in
          switch step.plan.scalarProgram {
          case .float32(let p): p.code.count
          case .float64(let p): p.code.count
          case nil: nil
          }
        }
        #expect(counts == [0, 1], "instructions of x·1 and 1·x, then of x·2")
      }
      runs.append(values)
    }
    expectIdentical(runs, "multiplying by one (\(dtype))")
  }

  @Test func fastPathStillReportsUninitializedVariables() throws {
    let g = Graph()
    let a = try g.variable(NDArray([Float(1)]), name: "A")
    let s = Session(graph: g)
    #expect(throws: SessionError.uninitializedVariable(name: "A")) { try s.run(a * 2) }
  }

  /// The fast path updates variables in place, so a value the caller holds must be copied
  /// first (copy-on-write), and a value set between runs must be the one the next run reads.
  @Test func inPlaceUpdatesRespectHeldValuesAndSetValue() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [1], name: "x")
    let a = try g.variable(NDArray([3.0]), name: "A")
    let loss = try square(x * a)
    let train = try g.group([try assignSubtract(a, gradients(of: loss, withRespectTo: [a])[0]! * 0.1)])
    let s = Session(graph: g)
    try s.initializeVariables()
    let step = try s.prepare(fetches: [loss], feeds: [x], targets: [train])
    let held = try s.value(of: a)
    let first = try step([NDArray([2.0])])[0]
    #expect(first.doubles == [36])  // (2·3)², before the update
    #expect(held.doubles == [3])  // the caller's copy is untouched
    #expect(try s.value(of: a).doubles == [3 - 0.1 * 2 * 2 * 2 * 3])  // a - 0.1·2x²a
    try s.setValue(NDArray([1.0]), for: a)
    #expect(try step([NDArray([2.0])])[0].doubles == [4])
    #expect(try s.value(of: a).doubles == [1 - 0.1 * 2 * 2 * 2 * 1])
  }

  /// A variable's value read before the variable is written keeps the value it had when read,
  /// on both paths (the fast path aliases the read to the variable's register, then copies it
  /// just before the write).
  @Test func readsBeforeAWriteKeepTheirValue() throws {
    var runs: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [1], name: "x")
      let a = try g.variable(NDArray([Float(2)]), name: "A")
      let b = try g.variable(NDArray([Float(5)]), name: "B")
      let update = try assignAdd(a, x * 3)
      let set = try assign(b, a * x)
      let z = try a + x, w = try b - x
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      var values: [NDArray] = []
      for v: Float in [1, 0.5, -2] {
        values += try s.run([z, w, a], feeding: [x: NDArray([v])], targets: [update, set.operation])
        values += [try s.value(of: a), try s.value(of: b)]
      }
      #expect(s.scalarRuns == (fast ? 4 : 0))  // the initializer (constants) and the 3 steps
      #expect(values[0].scalars(as: Float.self) == [3])  // A read before its update: 2 + 1
      #expect(values[1].scalars(as: Float.self) == [4])  // B read before its assignment: 5 - 1
      #expect(values[3].scalars(as: Float.self) == [5])  // A after: 2 + 3·1
      runs.append(values)
    }
    expectIdentical(runs, "reads before writes")
  }

  /// A training step run for its effect alone (no fetch): the fast path drops the loss's
  /// forward computation as dead code and folds the constant gradient seeds; the variable
  /// must follow the same trajectory, bit for bit, as on the general path.
  @Test(arguments: [DType.float32, .float64])
  func unfetchedLossLeavesTheSameTrajectory(_ dtype: DType) throws {
    var finals: [[NDArray]] = []
    for fast in [true, false] {
      let g = Graph()
      let x = g.placeholder(dtype, shape: [1], name: "x")
      let y = g.placeholder(dtype, shape: [1], name: "y")
      let a = try g.variable(randomNormal(g, shape: [1], mean: 10, seed: 3, dtype: dtype), name: "A")
      let loss = try mean(sigmoidCrossEntropyWithLogits(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0)))
      let train = try sgd(loss, a, 0.05)
      let s = Session(graph: g, options: .init(scalarFastPath: fast))
      try s.initializeVariables()
      let step = try s.prepare(feeds: [x, y], targets: [train])
      var rng = SeededGenerator(seed: 8)
      var values: [NDArray] = []
      for i in 0..<300 {
        try step.setFeed(0, to: NDArray(converting: [rng.normal(mean: i % 2 == 0 ? -1 : 3, standardDeviation: 1)], shape: [1], dtype: dtype))
        try step.setFeed(1, to: NDArray(converting: [Double(i % 2)], shape: [1], dtype: dtype))
        try step.run()
        if i % 10 == 0 { values.append(try s.value(of: a)) }
      }
      finals.append(values)
    }
    expectIdentical(finals, "classification, no fetch")
  }
}

/// The notebook's steps as the benchmark and the recipes build them (with the optimizer) take
/// the scalar fast path.
@Suite struct NotebookFastPathTests {
  @Test func optimizerStepsRunAsScalarPrograms() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let y = g.placeholder(.float32, shape: [1], name: "y")
    let a = try g.variable(randomNormal(g, shape: [1], seed: 43), name: "A")
    let loss = try square(x * a - y)
    let train = try GradientDescentOptimizer(learningRate: 0.02).minimize(loss)
    let s = Session(graph: g)
    try s.initializeVariables()
    let step = try s.prepare(feeds: [x, y], targets: [train])
    try step.setFeed(0, to: [1])
    try step.setFeed(1, to: [10])
    for _ in 0..<10 { try step.run() }
    #expect(s.scalarRuns == 10)
  }
}
