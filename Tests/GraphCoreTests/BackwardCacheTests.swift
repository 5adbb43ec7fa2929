import ArrayCore
@testable import GraphCore
import Testing
import TestSupport

/// The eager backward cache (`BackwardCache`): `valueWithGradient(at:of:)` on arrays takes a
/// repeated tape's gradients from a prepared step built once, and they are the tape's own bits.
/// Serialized: the cases share call sites, whose state the tests read.
@Suite(.serialized) struct BackwardCacheTests {
  /// The gradients of `sum(build(inputs) · r)` at the inputs in `slots`, from one call site.
  static func gradients(_ c: OpCase, _ ins: [NDArray], _ slots: [Int], _ r: NDArray, _ d: DType) throws -> [NDArray] {
    try valueWithGradient(at: slots.map { ins[$0] }, file: "BackwardCacheTests", line: 1) { p in
      var it = p.makeIterator()
      let inputs = ins.indices.map { slots.contains($0) ? it.next()! : Tensor(ins[$0]) }
      return try sum(c.build(inputs, d) * Tensor(r))
    }.gradients
  }

  /// Every differentiable row of the operation table: the second call at a call site takes its
  /// gradients from the cache (its tape matches the first's), and they equal the first call's,
  /// built on the tape, bit for bit; a third call with other values of the same shapes equals a
  /// call made without the cache.
  @Test(arguments: makeOpTable().filter { $0.draw != nil && $0.differentiable }.map(\.name))
  func cachedGradientsAreTheTapesOverTheOpTable(name: String) throws {
    let entry = try #require(makeOpTable().first { $0.name == name })
    let draw = try #require(entry.draw)
    for k in 0..<2 {
      var g = SeededGenerator(seed: OpTableTests.seed(name, k))
      let c = draw(&g, k)
      for d in entry.dtypes where d.isFloatingPoint {
        let ins = converted(c.inputs, to: d)
        let slots = ins.indices.filter { ins[$0].dtype == d && ins[$0].elementCount > 0 }
        guard !slots.isEmpty, ins.allSatisfy({ $0.elementCount > 0 }) else { continue }
        let (value, _) = try runCase(c, ins, dtype: d)
        guard value.elementCount > 0, value.dtype.isFloatingPoint else { continue }
        let r = Domain.real(-1, 1).array(value.shape.dimensions, &g).converted(to: value.dtype)
        BackwardCache.removeAll()
        let built = try Self.gradients(c, ins, slots, r, d)
        let cached = try Self.gradients(c, ins, slots, r, d)
        let state = BackwardCache.statistics(file: "BackwardCacheTests", line: 1)
        // The collective rows make a new communicator at each call: another operation, never
        // taken for the cached one.
        let hits = name.hasPrefix("AllReduce") || name == "Broadcast" ? 0 : 1
        #expect(state?.hits == hits, "\(name) draw \(k) \(d): \(String(describing: state))")
        for (a, b) in zip(cached, built) {
          #expect(a.isBitIdentical(to: b), "\(name) draw \(k) \(d): cached \(a) vs built on the tape \(b)")
        }
        // Other values, same shapes (the next draw's values where its shapes match, else r).
        let r2 = Domain.real(-1, 1).array(value.shape.dimensions, &g).converted(to: value.dtype)
        let again = try Self.gradients(c, ins, slots, r2, d)
        let uncached = try BackwardCache.withoutCache { try Self.gradients(c, ins, slots, r2, d) }
        #expect(BackwardCache.statistics(file: "BackwardCacheTests", line: 1)?.hits == 2 * hits)
        for (a, b) in zip(again, uncached) {
          #expect(a.isBitIdentical(to: b), "\(name) draw \(k) \(d): cached \(a) vs uncached \(b) at new values")
        }
      }
    }
  }
}

extension BackwardCacheTests {
  /// A step of `body` at `a` through one call site (line 2 of this suite's file name), and the
  /// same step without the cache.
  static func step(_ a: NDArray, _ body: (Tensor) throws -> Tensor) throws -> (cached: NDArray, uncached: NDArray) {
    let cached = try valueWithGradient(at: [a], file: "BackwardCacheTests", line: 2) { try body($0[0]) }.gradients[0]
    let uncached = try BackwardCache.withoutCache { try valueWithGradient(at: [a]) { try body($0[0]) }.gradients[0] }
    return (cached, uncached)
  }

  static var siteTwo: (entries: Int, hits: Int, isDisabled: Bool)? {
    BackwardCache.statistics(file: "BackwardCacheTests", line: 2)
  }

  /// Settings that change between calls at one site (a reduction's axes, a permutation) make
  /// other operations: never taken for the cached ones, so each gets its own gradient.
  @Test func anOperationWithOtherSettingsIsAnotherTape() throws {
    BackwardCache.removeAll()
    let a = NDArray((0..<6).map { Float($0) - 2.5 }, shape: [2, 3])
    let w = NDArray((0..<2).map { Float($0) + 0.5 }, shape: [2, 1])
    for axis in [0, 1, 0, 1, 0, 1] {
      let (cached, uncached) = try Self.step(a) { x in
        // Axis 0 sums columns, axis 1 rows; weighted, so the two gradients differ.
        try sum(square(sum(x * Tensor(w), axes: [axis])))
      }
      #expect(cached.isBitIdentical(to: uncached), "axis \(axis): \(cached) vs \(uncached)")
    }
    #expect(Self.siteTwo?.hits == 4 && Self.siteTwo?.entries == 2)
    for permutation in [[1, 0], [0, 1], [1, 0], [0, 1]] {
      let (cached, uncached) = try Self.step(a) { x in
        try sum(square(reshape(transpose(x, permutation: permutation), to: [6])) * Tensor(NDArray((0..<6).map { Float($0) }, shape: [6])))
      }
      #expect(cached.isBitIdentical(to: uncached), "permutation \(permutation): \(cached) vs \(uncached)")
    }
    // An elementwise function's own settings (`Unary` compares its function): the slope of a
    // leaky rectifier, which its gradient builds into the cached step as a constant.
    for alpha in [0.1, 0.3, 0.1, 0.3] {
      let (cached, uncached) = try Self.step(a) { x in try sum(leakyRelu(x, alpha: alpha)) }
      #expect(cached.isBitIdentical(to: uncached), "alpha \(alpha): \(cached) vs \(uncached)")
    }
  }

  /// Values that change between calls (the inputs, constants made inside the body) are fed to
  /// the cached step: a training loop's gradients are the uncached ones at every step.
  @Test func newValuesAtEveryCallAreFed() throws {
    BackwardCache.removeAll()
    var a = NDArray([Float(0.5)])
    var rng = SeededGenerator(seed: 9)
    for step in 0..<20 {
      let x = Float(rng.normal(mean: 1, standardDeviation: 0.1))
      let scale = Float(step % 3 + 1)
      let (cached, uncached) = try Self.step(a) { p in try square(Tensor(NDArray([x])) * p - 10) * Double(scale) }
      #expect(cached.isBitIdentical(to: uncached), "step \(step): \(cached) vs \(uncached)")
      a = NDArray([a.scalars(as: Float.self)[0] - 0.02 * cached.scalars(as: Float.self)[0]])
    }
    #expect(Self.siteTwo?.hits == 19)
  }

  /// Swift control flow on values picks the operations: each branch's tape is cached apart.
  @Test func branchesOnValuesAreCachedApart() throws {
    BackwardCache.removeAll()
    for v in [Float(-2), 3, -1, 4, 2, -3] {
      let (cached, uncached) = try Self.step(NDArray([v])) { x in
        try x.value.scalars(as: Float.self)[0] > 0 ? square(x) : exp(x) * 3
      }
      #expect(cached.isBitIdentical(to: uncached), "\(v): \(cached) vs \(uncached)")
    }
    #expect(Self.siteTwo?.hits == 4 && Self.siteTwo?.entries == 2)
  }

  /// A call site whose tapes keep changing stops caching after `missLimit` misses in a row, and
  /// its gradients stay right.
  @Test func aSiteThatKeepsMissingStopsCaching() throws {
    BackwardCache.removeAll()
    for n in 1...(BackwardCache.missLimit + 4) {
      let a = NDArray((0..<n).map { Float($0) / 4 })
      let (cached, uncached) = try Self.step(a) { x in try sum(tanh(x)) }
      #expect(cached.isBitIdentical(to: uncached))
    }
    #expect(Self.siteTwo?.isDisabled == true && Self.siteTwo?.hits == 0 && Self.siteTwo?.entries == 0)
  }

  /// Under numeric checks, which name the eager operation that fails, the cache is not used.
  @Test func numericChecksBypassTheCache() throws {
    BackwardCache.removeAll()
    let a = NDArray([Float(2)])
    _ = try Self.step(a) { x in try log(x) }
    let error = #expect(throws: SessionError.self) {
      try withNumericChecks { _ = try Self.step(NDArray([Float(0)])) { x in try log(x) } }
    }
    #expect("\(error.map { "\($0)" } ?? "")".contains("Log"))
    #expect(Self.siteTwo?.hits == 0)
  }

  /// Threads stepping through one call site at once each get their own gradients (an entry
  /// is used by one thread at a time; the others build their own or wait for none).
  @Test func concurrentCallsAtOneSiteAreRight() async throws {
    BackwardCache.removeAll()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for t in 0..<4 {
        group.addTask {
          for i in 0..<200 {
            let a = NDArray([Float(t) + Float(i) / 100])
            let (cached, uncached) = try Self.step(a) { x in try square(x * 3 - 1) }
            #expect(cached.isBitIdentical(to: uncached))
          }
        }
      }
      try await group.waitForAll()
    }
    #expect((Self.siteTwo?.hits ?? 0) > 0)
    #expect((Self.siteTwo?.entries ?? 0) <= BackwardCache.entriesPerSite)
  }

  /// A large input is not kept alive by the cached step after the call.
  @Test func theCacheKeepsNoCallersArray() throws {
    BackwardCache.removeAll()
    var a = NDArray((0..<4096).map { Float($0) / 4096 })
    for _ in 0..<2 { _ = try Self.step(a) { x in try sum(square(x)) } }
    #expect(Self.siteTwo?.hits == 1)
    let unique = a.isReusable(upTo: 1 << 20)
    #expect(unique, "the caller's array is still shared with the cache")
  }
}

extension BackwardCacheTests {
  /// Gradients a caller keeps hold their numbers while later calls reuse the cached step's
  /// memory (a held result is never written again).
  @Test func heldGradientsKeepTheirNumbers() throws {
    BackwardCache.removeAll()
    var held: [(cached: NDArray, uncached: NDArray)] = []
    for i in 0..<6 {
      let a = NDArray([Float(i) * 0.25 - 0.5, Float(i) * 0.5])
      held.append(try Self.step(a) { x in try sum(square(x * x - 1)) })
    }
    #expect(Self.siteTwo?.hits == 5)
    for (i, pair) in held.enumerated() {
      #expect(pair.cached.isBitIdentical(to: pair.uncached), "call \(i): \(pair.cached) vs \(pair.uncached)")
    }
  }
}

extension BackwardCacheTests {
  /// A random program of element-wise operations, reductions, transposes and products over two
  /// parameters of shape [2, 3] and a constant, its choices drawn from `seed`: programs from
  /// different seeds differ in their operations, their settings or only their wiring.
  static func program(seed: UInt64) -> ([Tensor]) throws -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let steps = (0..<(3 + rng.choice(4))).map { _ in (rng.choice(9), rng.choice(8), rng.choice(8), rng.choice(2)) }
    let constant = NDArray((0..<6).map { Float($0) / 8 - 0.3 }, shape: [2, 3])
    return { p in
      var values = [p[0], p[1], Tensor(constant)]
      for (op, i, j, k) in steps {
        let a = values[i % values.count], b = values[j % values.count]
        switch op {
        case 0: values.append(try a + b)
        case 1: values.append(try a * b)
        case 2: values.append(try a - b)
        case 3: values.append(try tanh(a))
        case 4: values.append(try square(a) * 0.5)
        case 5: values.append(try sin(a) + b)
        case 6: values.append(try broadcast(sum(a, axes: [k], keepDims: true), to: [2, 3]) + b)
        case 7: values.append(try reshape(transpose(a), to: [2, 3]) * b)
        default: values.append(try sum(reshape(matmul(a, transpose(b)), to: [4])) * b)
        }
      }
      return try sum(values[values.count - 1] * values[values.count - 2])
    }
  }

  /// Random programs at one call site, in an order that revisits each (hits), evicts (more
  /// programs than a site keeps) and changes values at every call: every gradient equals the
  /// one built on the tape, bit for bit.
  @Test func randomProgramsAtOneSiteGiveTheTapesGradients() throws {
    BackwardCache.removeAll()
    var rng = SeededGenerator(seed: 77)
    let programs = (0..<6).map { Self.program(seed: UInt64($0)) }
    for call in 0..<60 {
      let k = call < 12 ? call % 3 : rng.choice(programs.count)
      let p = [
        NDArray((0..<6).map { _ in Float(rng.uniform(low: -1, high: 1)) }, shape: [2, 3]),
        NDArray((0..<6).map { _ in Float(rng.uniform(low: -1, high: 1)) }, shape: [2, 3]),
      ]
      let cached = try valueWithGradient(at: p, file: "BackwardCacheTests", line: 3) { try programs[k]($0) }
      let uncached = try BackwardCache.withoutCache { try valueWithGradient(at: p) { try programs[k]($0) } }
      #expect(cached.value.isBitIdentical(to: uncached.value))
      for (a, b) in zip(cached.gradients, uncached.gradients) {
        #expect(a.isBitIdentical(to: b), "call \(call), program \(k): \(a) vs \(b)")
      }
    }
    let state = BackwardCache.statistics(file: "BackwardCacheTests", line: 3)
    #expect((state?.hits ?? 0) >= 9 && state?.isDisabled == false, "\(String(describing: state))")
  }
}

extension BackwardCacheTests {
  /// The same operations wired differently (`a·b + a` against `a·b + b`) are other tapes.
  @Test func theSameOperationsWiredDifferentlyAreAnotherTape() throws {
    BackwardCache.removeAll()
    let a = NDArray([Float(2), 3]), b = NDArray([Float(-1), 5])
    for k in [0, 1, 0, 1] {
      let body: ([Tensor]) throws -> Tensor = { p in try sum(p[0] * p[1] + p[k]) }
      let cached = try valueWithGradient(at: [a, b], file: "BackwardCacheTests", line: 4, of: body).gradients
      let uncached = try BackwardCache.withoutCache { try valueWithGradient(at: [a, b], of: body).gradients }
      for (x, y) in zip(cached, uncached) { #expect(x.isBitIdentical(to: y), "k \(k): \(x) vs \(y)") }
    }
    #expect(BackwardCache.statistics(file: "BackwardCacheTests", line: 4)?.hits == 2)
  }
}
