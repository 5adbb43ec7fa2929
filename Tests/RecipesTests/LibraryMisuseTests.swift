import ArrayCore
import Datasets
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

// RELIABILITY.md, "The library under misuse" (issue 17): one test per class of misuse of the
// Swift API. Each case must end in a thrown error (or the documented result), never a trap: a
// trap would kill the test process, so these tests passing is the proof.

@Suite struct LibraryMisuseTests {
  // MARK: 1. Integer overflow and negative sizes

  @Test func sizesThatOverflowOrAreNegativeAreThrownErrors() throws {
    // Shape.elementCount never wraps around (it used to give 0 for [2³², 2³²]).
    #expect(Shape([1 << 32, 1 << 32]).elementCount == Int.max)
    #expect(Shape([1 << 32, 0]).elementCount == 0)
    #expect(throws: ShapeError.self) { _ = try Shape([1 << 32, 1 << 32]).checkedElementCount }
    #expect(throws: ShapeError.self) { try Shape([0, Int.max]).validate() }
    #expect(!Shape([3, -1]).isValid)
    #expect(try Shape([2, 0, 3]).validate(dtype: .float32) == 0)

    // Arrays.
    expectError(["negative"]) { _ = try NDArray.zeros([-1, 3]) }
    expectError(["[4294967296, 4294967296]"]) { _ = try NDArray.ones([1 << 32, 1 << 32]) }
    expectError(["Shape.maximumByteCount"]) { _ = try NDArray(repeating: 1, shape: [Int.max], dtype: .bool) }
    expectError(["[4294967296, 4294967296]"]) { _ = try NDArray(validating: [Float](), shape: [1 << 32, 1 << 32]) }
    expectError(["4294967296"]) { _ = try NDArray([Float(1)]).reshaped(to: [1 << 32, 1 << 32]) }
    var rng = SeededGenerator(seed: 1)
    expectError(["negative"]) { _ = try rng.normalArray(shape: [-1, 3]) }
    expectError(["more elements than Int can count"]) { _ = try rng.uniformArray(shape: [1 << 32, 1 << 32]) }
    #expect(rng.permutation(-5) == [])

    // Builders.
    let g = Graph()
    let c = g.constant(try NDArray(validating: [1, 2, 3, 4] as [Float], shape: [2, 2]))
    expectError(["[Reshape]", "[9223372036854775807, 2]"]) { _ = try reshape(c, to: [Int.max, 2]) }
    expectError(["[SplitV]"]) { _ = try split(c, sizes: [Int.max, 2]) }
    expectError(["[SplitV]"]) { _ = try split(c, sizes: [Int.max, Int.max, -1]) }
    expectError(["[SplitV]"]) { _ = try split(g.constant(NDArray([Float]())), count: Int.max) }
    expectError(["[Slice]"]) { _ = try slice(c, begin: [Int.max, 0], size: [1, 1]) }
    expectError(["[Slice]"]) { _ = try slice(c, begin: [1, 0], size: [Int.max, 1]) }
    let idx = g.constant(NDArray([Int32(0), 1]))
    expectError(["[OneHot]", "more elements than Int can count"]) { _ = try oneHot(idx, depth: Int.max) }
    expectError(["[OneHot]", "Shape.maximumByteCount"]) { _ = try oneHot(idx, depth: Shape.maximumByteCount) }
    expectError(["[BroadcastTo]"]) { _ = try broadcast(c, to: [Int.max, 2]) }
    expectError(["[BroadcastTo]"]) { _ = try broadcast(g.constant(1), to: [Int.max]) }
    expectError(["[RandomStandardNormal]"]) { _ = try randomNormal(g, shape: [1 << 40, 1 << 40], seed: 1) }
    expectError(["Initializer"]) { _ = try Initializer.zeros.initialValue(g, shape: [Int.max, 2], seed: 1) }
    expectError(["Initializer"]) { _ = try Initializer.glorotUniform.initialValue(g, shape: [0, Int.max], seed: 1) }

    // A placeholder too large to exist: refused at its first use, never reshaped to [0].
    let huge = g.placeholder(.float32, shape: [1 << 40, 1 << 40], name: "huge")
    expectError(["huge", "more elements than Int can count"]) { _ = try reshape(huge, to: [-1]) }
    expectError(["huge"]) { _ = try g.variable(huge) }
    let negative = g.placeholder(.float32, shape: [-3, 2], name: "negative")
    expectError(["negative", "-3"]) { _ = try negative + negative }

    // -1 in a placeholder means unknown (TF1), so it cannot make a [-1, 3] variable.
    let p = g.placeholder(.float32, shape: [-1, 3], name: "p")
    #expect(p.shape == [nil, 3])
    expectError(["fully known shape"]) { _ = try g.variable(p) }

    // A size only known at run time is checked before the allocation.
    let indices = g.placeholder(.int32, shape: [nil], name: "indices")
    let depth = Shape.maximumByteCount / 4 / 2
    let encoded = try oneHot(indices, depth: depth)
    expectError(["[OneHot]", "Shape.maximumByteCount"]) {
      _ = try Session(graph: g).run(encoded, feeding: [indices: NDArray([Int32(0), 1, 2, 3])])
    }

    // Data sets: a batch size beyond the sample count is one batch, without overflow.
    let data = try Dataset(features: try NDArray.zeros([3, 2]), labels: NDArray([Int32(0), 1, 2]))
    for size in [Int.max, Int.max - 1, 1 << 62, 4] {
      let batches = try data.batches(size: size)
      #expect(batches.count == 1)
      #expect(batches[0].features.shape == [3, 2])
      #expect(try data.batches(size: size, includeRemainder: false).count == 0)
      #expect(try data.epoch(0, batchSize: size, seed: 1).count == 1)
    }
  }

  // MARK: 2. Arity and outputs

  /// A custom primitive declaring two inputs, whose shape rule reads both unchecked.
  struct Pair: Primitive {
    var typeName: String { "Pair" }
    var arity: Int? { 2 }
    func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [inputs[0], inputs[1]] }
    func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
      outputs[0] = inputs[0]
      outputs[1] = inputs[1]
    }
    func gradient(of op: GraphCore.Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil, nil] }
  }

  /// A custom primitive without outputs.
  struct Sink: Primitive {
    var typeName: String { "Sink" }
    var arity: Int? { 1 }
    func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
    func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {}
    func gradient(of op: GraphCore.Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
  }

  @Test func arityAndMissingOutputsAreThrownErrors() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [2], name: "x")
    expectError(["[Add]", "takes 2 inputs, got 1"]) { _ = try g.apply(Binary(Add()), [x]) }
    expectError(["[Add]", "takes 2 inputs, got 0"]) { _ = try g.apply(Binary(Add()), []) }
    expectError(["[Cast]", "takes 1 input, got 3"]) { _ = try g.apply(Cast(to: .float64), [x, x, x]) }
    expectError(["[Pair]", "takes 2 inputs, got 1"]) { _ = try g.addOperation(Pair(), inputs: [x]) }
    #expect(try g.addOperation(Pair(), inputs: [x, x]).outputCount == 2)
    expectError(["[Sink]", "no outputs"]) { _ = try g.apply(Sink(), [x]) }
    #expect(throws: (any Error).self) { _ = try concat([], axis: 0) }
    #expect(throws: (any Error).self) { _ = try stack([]) }

    // The output of an operation without outputs: refused wherever it is used.
    let v = try g.variable(NDArray([Float(1), 2]), name: "v")
    let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(sum(v * x), name: "train")
    let initialize = try g.variablesInitializer()
    for op in [train, initialize] {
      let ghost = op.output
      #expect(!ghost.exists)
      #expect(op.outputCount == 0)
      _ = (ghost.name, ghost.shape, ghost.dtype, ghost.description)  // no trap
      expectError([op.name, "no output 0"]) { _ = try ghost + x }
      expectError([op.name, "no output 0"]) { _ = try Session(graph: g).run(ghost) }
      expectError([op.name, "no output 0"]) { _ = try gradients(of: [ghost], withRespectTo: [v]) }
      expectError([op.name, "no output 0"]) { try assign(v, ghost) }
      expectError([op.name, "no output 0"]) { _ = try Session(graph: g).prepare(fetches: [ghost]) }
    }
  }

  // MARK: 3. Objects of another graph or session

  @Test func objectsOfAnotherGraphAreRejected() throws {
    func model() throws -> (Graph, Tensor, Tensor, Tensor) {
      let g = Graph()
      let v = try g.variable(NDArray([Float(1), 2]), name: "v")
      let m = try g.variable(NDArray([Float(0), 0]), name: "m")
      let s = try g.variable(NDArray([Float(0), 0]), name: "s")
      return (g, v, m, s)
    }
    let (a, vA, _, _) = try model()
    let (b, vB, mB, sB) = try model()
    let sessionA = Session(graph: a)
    try sessionA.initializeVariables()
    let sessionB = Session(graph: b)
    try sessionB.initializeVariables()

    expectError(["v:0", "another graph"]) { _ = try sessionA.value(of: vB) }
    expectError(["v:0", "another graph"]) { try sessionA.setValue(NDArray([Float(5), 5, 5]), for: vB) }
    #expect(try sessionA.value(of: vA) == NDArray([Float(1), 2]))  // unchanged

    let one = a.constant(NDArray(scalar: Float(1)))
    let gradient = a.constant(NDArray([Float(1), 1]))
    expectError(["[ApplyAdam]", "another graph"]) {
      try applyAdam(vA, m: mB, v: sB, gradient: gradient, stepSize: one, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
    }
    expectError(["another graph"]) {
      try applyAdam(vA, m: mB, v: sB, gradient: b.constant(NDArray([Float(1), 1])), stepSize: one, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
    }
    expectError(["[Assign]", "another graph"]) { try assign(vA, b.constant(NDArray([Float(1), 1]))) }
    expectError(["[Assign]", "another graph"]) { try assign(vB, gradient) }
    expectError(["[AssignAdd]", "another graph"]) { try assignAdd(vA, b.constant(Double(1))) }
    expectError(["[AssignSub]", "another graph"]) { try assignSubtract(vB, one) }
    expectError(["gradients", "another graph"]) { _ = try gradients(of: [sum(vA)], withRespectTo: [vB]) }
    expectError(["another graph"]) { _ = try GradientDescentOptimizer(learningRate: 0.1).minimize(sum(vA), variables: [vB]) }
    expectError(["another graph"]) {
      _ = try AdamOptimizer().applyGradients(
        [GradientAndVariable(gradient: gradient, variable: vB)], name: "train", location: SourceLocation(file: "t", line: 1))
    }
    expectError(["another graph"]) { _ = try a.group([b.variablesInitializer()]) }
    expectError(["another graph"]) {
      _ = try OptimizerState(graph: a, optimizerName: "Adam", location: SourceLocation(file: "t", line: 1)).slot(for: vB)
    }
    expectError(["another graph"]) { _ = try sessionA.run(vB) }
    expectError(["another graph"]) { _ = try sessionA.prepare(fetches: [vB]) }
    expectError(["another graph"]) { try sessionA.run(b.variablesInitializer()) }
    // Nothing of graph A changed.
    #expect(try sessionA.value(of: vA) == NDArray([Float(1), 2]))
    #expect(try sessionB.value(of: mB) == NDArray([Float(0), 0]))
  }

  // MARK: 4. Assignments keep the declared shape

  @Test func assignmentsKeepTheVariablesShape() throws {
    let g = Graph()
    let v = try g.variable(NDArray([Float(1), 2]), name: "v")
    let p = g.placeholder(.float32, shape: [nil], name: "p")
    let keep = try assign(v, p)
    let session = Session(graph: g)
    try session.initializeVariables()
    expectError(["[Assign]", "[5]", "[2]", "validateShape"]) {
      _ = try session.run(keep, feeding: [p: NDArray([Float](repeating: 7, count: 5))])
    }
    #expect(try session.value(of: v) == NDArray([Float(1), 2]))  // unchanged
    #expect(try session.run(keep, feeding: [p: NDArray([Float(3), 4])]) == NDArray([Float(3), 4]))
    #expect(try session.value(of: v) == NDArray([Float(3), 4]))
    // Statically known shapes are refused when building.
    expectError(["[Assign]", "does not fit"]) { try assign(v, g.constant(NDArray([Float(1), 2, 3]))) }
    // The explicit opt-out (TF1's validate_shape=False) changes the shape.
    let change = try assign(v, p, validateShape: false)
    _ = try session.run(change, feeding: [p: NDArray([Float](repeating: 7, count: 5))])
    #expect(try session.value(of: v).shape == [5])
    expectError(["[Assign]", "dtype"]) { try assign(v, g.constant(1, dtype: .float64), validateShape: false) }
  }

  // MARK: 5. Consistent checkpoints

  @Test func checkpointsAreConsistentWhileAnotherThreadTrains() throws {
    let g = Graph()
    // 64 variables; one step adds 1 to every one: in any consistent state they are all equal.
    let variables = try (0..<64).map { try g.variable(try NDArray.zeros([256]), name: "V\($0)") }
    let one = g.constant(1)
    let step = try g.group(variables.map { try assignAdd($0, one) })
    let session = Session(graph: g)
    try session.initializeVariables()
    let stop = Stopper()
    let trainer = Thread {
      while !stop.isSet { try? session.run(step) }
      stop.finished()
    }
    trainer.start()
    defer { stop.set(); stop.waitFinished() }
    let path = NSTemporaryDirectory() + "backprop-torn-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    var torn = 0
    var distinct = Set<Double>()
    for i in 0..<40 {
      let file: SafetensorsFile
      if i % 4 == 0 {
        try Checkpoint.save(session: session, to: path)
        file = try SafetensorsFile(contentsOfFile: path)
      } else {
        file = try Checkpoint.contents(of: session)
      }
      let values = try variables.map { try #require(file.tensors[$0.operation.name]) }
      if Set(values.map { $0.doubles[0] }).count > 1 { torn += 1 }
      distinct.insert(values[0].doubles[0])
      #expect(values.allSatisfy { Set($0.doubles).count == 1 })
    }
    #expect(torn == 0, "\(torn) of 40 checkpoints hold variables from different steps")
    #expect(distinct.count > 1, "the trainer did not run during the saves")
  }

  // MARK: 6. Documented limits

  @Test func hyperparameterBoundariesAreTheDocumentedOnes() throws {
    func refused(_ fragments: [String], _ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
      expectError(fragments, sourceLocation: sourceLocation, body)
    }
    // Momentum: learning rate > 0, momentum in [0, 1).
    _ = try MomentumOptimizer(learningRate: 0.1, momentum: 0)
    _ = try MomentumOptimizer(learningRate: 0.1, momentum: 1.0.nextDown)
    refused(["[Momentum]", "momentum", "< 1.0", "got 1.0"]) { _ = try MomentumOptimizer(learningRate: 0.1, momentum: 1) }
    refused(["[Momentum]", "momentum"]) { _ = try MomentumOptimizer(learningRate: 0.1, momentum: -0.1) }
    refused(["[Momentum]", "learning rate"]) { _ = try MomentumOptimizer(learningRate: 0.0, momentum: 0.5) }
    // RMSProp: decay and momentum in [0, 1), epsilon > 0.
    _ = try RMSPropOptimizer(learningRate: 0.1, decay: 0, momentum: 0, epsilon: .leastNonzeroMagnitude)
    _ = try RMSPropOptimizer(learningRate: 0.1, decay: 1.0.nextDown, momentum: 1.0.nextDown)
    refused(["[RMSProp]", "decay", "got 1.0"]) { _ = try RMSPropOptimizer(learningRate: 0.1, decay: 1) }
    refused(["[RMSProp]", "momentum", "got 1.0"]) { _ = try RMSPropOptimizer(learningRate: 0.1, momentum: 1) }
    refused(["[RMSProp]", "epsilon", "got 0.0"]) { _ = try RMSPropOptimizer(learningRate: 0.1, epsilon: 0) }
    // Adam and AdamW: betas in [0, 1), epsilon > 0, weight decay >= 0.
    _ = try AdamOptimizer(beta1: 0, beta2: 1.0.nextDown)
    refused(["[Adam]", "beta1", "got 1.0"]) { _ = try AdamOptimizer(beta1: 1) }
    refused(["[Adam]", "beta2", "got 1.0"]) { _ = try AdamOptimizer(beta2: 1) }
    refused(["[Adam]", "epsilon"]) { _ = try AdamOptimizer(epsilon: 0) }
    _ = try AdamWOptimizer(weightDecay: 0)
    refused(["[AdamW]", "weightDecay"]) { _ = try AdamWOptimizer(weightDecay: -1e-9) }
    refused(["[AdamW]", "beta1"]) { _ = try AdamWOptimizer(beta1: 1) }
    // Adagrad: initial accumulator > 0.
    _ = try AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: .leastNonzeroMagnitude)
    refused(["[Adagrad]", "initialAccumulatorValue"]) { _ = try AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: 0) }
    // The fused training op checks the same limits as the optimizer.
    let g = Graph()
    let w = try g.variable(NDArray([Float(1)]), name: "w")
    let m = try g.variable(NDArray([Float(0)]), name: "m"), s = try g.variable(NDArray([Float(0)]), name: "s")
    let one = g.constant(NDArray(scalar: Float(1)))
    for (b1, b2, eps) in [(1.0, 0.999, 1e-8), (0.9, 1.0, 1e-8), (-0.1, 0.999, 1e-8), (0.9, .nan, 1e-8), (0.9, 0.999, 0.0), (0.9, 0.999, .infinity)] {
      refused(["[ApplyAdam]"]) { try applyAdam(w, m: m, v: s, gradient: one, stepSize: one, beta1: b1, beta2: b2, epsilon: eps) }
    }
    _ = try applyAdam(w, m: m, v: s, gradient: g.constant(NDArray([Float(1)])), stepSize: one, beta1: 0, beta2: 1.0.nextDown, epsilon: .leastNonzeroMagnitude)
        // Gradient descent: learning rate finite and > 0.
    _ = try GradientDescentOptimizer(learningRate: .leastNonzeroMagnitude)
    for bad in [0, -1, Double.nan, .infinity] {
      refused(["[GradientDescent]", "learning rate"]) { _ = try GradientDescentOptimizer(learningRate: bad) }
    }
  }
}

/// A flag the trainer thread polls, and a semaphore it signals when it is done.
private final class Stopper: @unchecked Sendable {
  private let lock = NSLock()
  private var flag = false
  private let done = DispatchSemaphore(value: 0)
  var isSet: Bool { lock.withLock { flag } }
  func set() { lock.withLock { flag = true } }
  func finished() { done.signal() }
  func waitFinished() { done.wait() }
}
