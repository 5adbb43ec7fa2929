import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// The tenth probe (RELIABILITY.md, "The tenth probe: numerics at the edges"): float64 training
/// end to end, and the bits of a few training steps across thread counts and kernel paths.
@Suite(.serialized) struct TenthProbeTrainingTests {
  /// A float64 Dense layer trained by plain gradient descent for 4 steps follows a float64 hand
  /// loop of the same arithmetic to 1e-13 (a float32 rounding anywhere would be ~1e-8).
  @Test func float64DenseTrainingFollowsAFloat64HandLoop() throws {
    let (n, d) = (16, 3)
    var rng = SeededGenerator(seed: 41)
    let xs = (0..<(n * d)).map { _ in rng.normal(mean: 0, standardDeviation: 1) + 1 / 3 }
    let ts = (0..<n).map { _ in rng.normal(mean: 0, standardDeviation: 1) / 7 }
    let g = Graph()
    let x = g.constant(NDArray(xs, shape: [n, d]))
    let t = g.constant(NDArray(ts, shape: [n, 1]))
    let dense = try Dense(graph: g, inputSize: d, units: 1, biasInitializer: .constant(0.1), dtype: .float64, seed: 7)
    let loss = try meanSquaredError(predicted: dense(x), expected: t)
    let train = try GradientDescentOptimizer(learningRate: 0.3).minimize(loss)
    let s = Session(graph: g)
    try s.initializeVariables()
    var w = try s.value(of: dense.kernel).doubles
    var b = try s.value(of: dense.bias!).doubles[0]
    #expect(try s.value(of: dense.kernel).dtype == .float64)
    for step in 0..<4 {
      // r = Xw + b - t; ∂/∂w = (2/n) Xᵀr; ∂/∂b = (2/n) Σr.
      var r = [Double](repeating: 0, count: n)
      for i in 0..<n {
        var p = b
        for j in 0..<d { p += xs[i * d + j] * w[j] }
        r[i] = p - ts[i]
      }
      var gw = [Double](repeating: 0, count: d)
      for j in 0..<d { for i in 0..<n { gw[j] += 2 / Double(n) * r[i] * xs[i * d + j] } }
      let gb = r.reduce(0) { $0 + 2 / Double(n) * $1 }
      for j in 0..<d { w[j] -= 0.3 * gw[j] }
      b -= 0.3 * gb
      try s.run(train)
      let got = try s.value(of: dense.kernel).doubles + s.value(of: dense.bias!).doubles
      let want = w + [b]
      let err = zip(got, want).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), 1e-300) }.max()!
      #expect(err < 1e-13, "step \(step): \(got) against \(want) (relative error \(err))")
    }
  }

  /// Every optimizer run eagerly (``EagerOptimizer`` on float64 arrays) follows the NumPy
  /// float64 reference trajectories of `OptimizerReferenceTests` to 1e-12, as the graph runs do.
  @Test(arguments: referenceCases.filter { $0.clipNorm == nil })
  func eagerFloat64OptimizersFollowTheNumPyReference(_ c: ReferenceCase) throws {
    let r = OptimizerReference.self
    let x = Tensor(NDArray(r.x, shape: [3])), y = Tensor(NDArray(r.y, shape: [3]))
    let u = Tensor(NDArray(r.u, shape: [2, 1])), z = Tensor(NDArray(r.z, shape: [2, 1]))
    var parameters = [NDArray(r.w0, shape: [3]), NDArray(r.m0, shape: [2, 2])]
    func eager<O: Optimizer>(_ o: O) -> (inout [NDArray], [NDArray]) throws -> Void {
      let optimizer = EagerOptimizer(o)
      return { try optimizer.update(&$0, along: $1) }
    }
    let update = eager(try c.makeOptimizer())
    var ws: [[Double]] = [], ms: [[Double]] = []
    for _ in 0..<10 {
      let (_, grads) = try valueWithGradient(at: parameters) { p in
        try sum(square(p[0] * x - y)) + sum(square(matmul(p[1], u) - z))
      }
      try update(&parameters, grads)
      #expect(parameters[0].dtype == .float64)
      ws.append(parameters[0].doubles)
      ms.append(parameters[1].doubles)
    }
    #expect(maxRelativeError(ws, c.expected.w) <= 1e-12, "\(c.name): \(ws) against \(c.expected.w)")
    #expect(maxRelativeError(ms, c.expected.m) <= 1e-12, "\(c.name): \(ms) against \(c.expected.m)")
  }

  /// Three Adam steps of a two-layer float32 Dense model (with a large enough batch that the
  /// products split over threads): the parameters' bits after each run, per kernel path and
  /// thread count.
  static func trainedBits(isa: KernelInstructionSet, threads: Int) throws -> [UInt64] {
    try KernelSettings.withInstructionSet(isa) {
      KernelSettings.setMatmulThreads(threads)
      defer { KernelSettings.setMatmulThreads(nil) }
      let g = Graph()
      var rng = SeededGenerator(seed: 3)
      let (n, d) = (512, 96)
      let xv = (0..<(n * d)).map { _ in Float(rng.normal(mean: 0, standardDeviation: 1)) }
      let yv = (0..<n).map { _ in Int32(rng.next() % 10) }
      let x = g.constant(NDArray(xv, shape: [n, d])), y = g.constant(NDArray(yv, shape: [n]))
      let model = Sequential([
        try Dense(graph: g, inputSize: d, units: 256, activation: .relu, seed: 1),
        try Dense(graph: g, inputSize: 256, units: 10, seed: 2),
      ])
      let loss = try sparseSoftmaxCrossEntropy(logits: model(x), labels: y)
      let train = try AdamOptimizer(learningRate: 0.01).minimize(loss)
      let s = Session(graph: g)
      try s.initializeVariables()
      var bits: [UInt64] = []
      for _ in 0..<3 {
        bits += try s.run([loss], targets: [train])[0].doubles.map(\.bitPattern)
      }
      for v in model.variables { bits += try s.value(of: v).doubles.map(\.bitPattern) }
      return bits
    }
  }

  /// Within one kernel path, training gives the same bits on 1, 2 and 3 threads (the products
  /// split rows or columns, the column sums go by fixed chunks). Across paths, the portable
  /// path's products add in another order (BENCHMARKS.md, InstructionSetTests): documented to
  /// agree to rounding, not bit for bit; the AVX-512 path gives the AVX2 path's bits.
  @Test func trainingStepsHaveTheSameBitsOnAnyThreadCountWithinAPath() throws {
    var perPath: [KernelInstructionSet: [UInt64]] = [:]
    for isa in KernelSettings.availableInstructionSets {
      let runs = try [1, 2, 3].map { try Self.trainedBits(isa: isa, threads: $0) }
      for (t, run) in zip([2, 3], runs.dropFirst()) {
        let differing = zip(run, runs[0]).filter { $0 != $1 }.count
        #expect(differing == 0, "\(isa): \(differing) of \(run.count) values on \(t) threads differ from 1 thread's")
      }
      perPath[isa] = runs[0]
    }
    if let a = perPath[.avx2], let b = perPath[.avx512] {
      #expect(a == b, "the AVX-512 path's training differs from the AVX2 path's")
    }
    if let a = perPath[.portable], let b = perPath[.avx2] {
      let losses = (0..<3).map { (Double(bitPattern: a[$0]), Double(bitPattern: b[$0])) }
      for (p, q) in losses { #expect(Swift.abs(p - q) <= 1e-5 * Swift.abs(q), "portable loss \(p), AVX2 \(q)") }
      print("TenthProbe: portable and AVX2 training differ in \(zip(a, b).filter { $0 != $1 }.count) of \(a.count) values")
    }
  }

  /// The Training losses on logits of ±1e4 and ±1e30 (float32): finite, the float64 values of
  /// the stable forms (`log Σ eˣ - x_k`, `max(x, 0) - x·z + log(1 + e^-|x|)`) to float32
  /// rounding, and gradients `softmax - onehot` and `σ(x) - z` divided by the batch.
  @Test func trainingLossesAtHugeLogitsAreFiniteWithExactGradients() throws {
    let logits = NDArray([Float(1e30), -1e30, 0, 1e4, -1e4, 1e4 - 2], shape: [2, 3])
    let onehot = NDArray([Float(0), 1, 0, 0, 0, 1], shape: [2, 3])
    let classes = NDArray([Int32(1), 2], shape: [2])
    let (sparse, gs) = try valueWithGradient(at: logits) { t in try sparseSoftmaxCrossEntropy(logits: t, labels: Tensor(classes)) }
    let (dense, gd) = try valueWithGradient(at: logits) { t in try softmaxCrossEntropy(logits: t, labels: Tensor(onehot)) }
    // Row 0: 1e30 - (-1e30) = 2e30 (float32's 1e30 doubled); row 1: log(1 + e⁻²) + 2.
    let row1 = Foundation.log(1 + Foundation.exp(-2.0)) + 2
    let want = (Double(Float(1e30)) * 2 + row1) / 2
    for (name, value) in [("sparse", sparse), ("dense", dense)] {
      #expect(Swift.abs(value.doubles[0] - want) <= 1e-6 * want, "\(name): \(value.doubles)")
    }
    let p = 1 / (1 + Foundation.exp(-2.0))
    let gradient = [1, -1, 0, p, 0, -p].map { $0 / 2 }
    for g in [gs, gd] {
      #expect(zip(g.doubles, gradient).allSatisfy { Swift.abs($0 - $1) <= 1e-7 }, "\(g.doubles)")
    }
    let z = NDArray([Float(0), 1, 0.5, 1, 0, 0.5], shape: [2, 3])
    let (sigmoid, gz) = try valueWithGradient(at: logits) { t in try sigmoidCrossEntropy(logits: t, labels: Tensor(z)) }
    let x = logits.doubles, zs = z.doubles
    let perElement = zip(x, zs).map { x, z in Swift.max(x, 0) - x * z + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    let total = perElement.reduce(0, +) / 6
    #expect(Swift.abs(sigmoid.doubles[0] - total) <= 1e-6 * total, "\(sigmoid.doubles) against \(total)")
    let sigmoidGradient = zip(x, zs).map { x, z in (1 / (1 + Foundation.exp(-x)) - z) / 6 }
    #expect(zip(gz.doubles, sigmoidGradient).allSatisfy { Swift.abs($0 - $1) <= 1e-7 }, "\(gz.doubles) against \(sigmoidGradient)")
  }
}
