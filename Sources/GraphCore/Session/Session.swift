import ArrayCore


/// Runs graphs (TF1's `tf.Session`): evaluates the operations that fetches and targets need,
/// with fed values for placeholders, and holds the variables' values between runs.
///
/// ```swift
/// let session = Session(graph: graph)
/// try session.run(graph.variablesInitializer())
/// try session.run(trainStep, feeding: [x: NDArray([Float(1.02)]), y: NDArray([Float(10)])])
/// print(try session.run(a))   // [0.6...]
/// ```
///
/// The plan for each combination of fetches, fed tensors and targets is built once and cached:
/// later runs do no graph walk and reuse their intermediate buffers. For loops of millions of
/// steps, ``prepare(fetches:feeds:targets:)`` gives a ``PreparedStep`` that skips even the plan
/// lookup. A session may be used from several threads; its runs are serialized.
public final class Session: @unchecked Sendable {
  /// Settings of a session.
  public struct Options: Sendable {
    /// Stop at the first operation, in execution order, whose output holds a NaN or an
    /// infinity, and throw ``SessionError/nonFinite(op:name:location:)`` naming it. Off by
    /// default (and then free).
    public var checkNumerics: Bool
    /// Run plans whose values all hold a single element (such as the notebook's batch-1
    /// steps) on plain scalars, without creating arrays per operation. The results are
    /// bit-identical to the general path. On by default; ignored when ``checkNumerics`` is on.
    public var scalarFastPath: Bool
    /// Run chains of operations whose intermediate values nothing else reads as one kernel
    /// that computes the same values bit for bit without writing the intermediate arrays: a
    /// convolution with its bias add and ReLU, and ReLU's gradient with the max-pool gradient
    /// before it. On by default; ignored when ``checkNumerics`` is on (so that a non-finite
    /// value is named by the operation that made it).
    public var fusesKernels: Bool
    /// Time every operation each run executes and add it to ``Session/profile`` (TF1's
    /// `RunMetadata` step stats, PyTorch's profiler table). Off by default (and then free). The
    /// plans run step by step, as they do without it (fused kernels stay fused and are timed as
    /// one operation), except that the scalar fast path is skipped so each operation can be timed.
    public var profiles: Bool
    /// Creates options.
    public init(checkNumerics: Bool = false, scalarFastPath: Bool = true, fusesKernels: Bool = true, profiles: Bool = false) {
      self.checkNumerics = checkNumerics
      self.scalarFastPath = scalarFastPath
      self.fusesKernels = fusesKernels
      self.profiles = profiles
    }
  }

  /// The graph this session runs.
  public let graph: Graph
  /// The session's options.
  public let options: Options
  let context = ExecutionContext()
  /// Every plan built, by key (under ``lock``, like all of a session's run state, so
  /// exclusivity needs no run-time check).
  @exclusivity(unchecked) private var plans: [PlanKey: Plan] = [:]
  /// The most recently used plans, most recent first, checked before hashing a key (no
  /// allocation and no reference counting on a hit: ``plans`` owns every plan, so these
  /// references are unretained).
  @exclusivity(unchecked) private var recent = RecentPlans()
  let lock = Lock()
  /// With ``Options/profiles``: per node, the seconds its steps took, how many times they ran
  /// and the kernel's type name (a fused kernel's, for a fused step), since the last reset
  /// (under ``lock``).
  @exclusivity(unchecked) var profileEntries: [ProfileEntry] = []

  /// Creates a session for `graph`.
  public init(graph: Graph, options: Options = Options()) {
    self.graph = graph
    self.options = options
    context.graph = graph
  }

  /// Evaluates `fetches`, running `targets` too, with `feeds` supplying values for
  /// placeholders (or for any tensor, overriding its computation) (`sess.run(fetches,
  /// feed_dict)`). The feeds are usually a dictionary literal, `[x: xValue, y: yValue]`, which
  /// makes a ``Feeds`` value: bound by position among the plan's feeds, without hashing (a
  /// tensor written twice is a thrown error, not a trap). A `[Tensor: NDArray]` built in code is
  /// taken too (the generic overload).
  /// - Returns: One value per fetch.
  /// - Throws: ``SessionError`` for a missing or mismatched feed (naming the placeholder, the
  ///   expected and the given shape and dtype), a tensor fed twice, an uninitialized variable, a
  ///   tensor of another graph, or an operation that fails at run time.
  @discardableResult @inlinable @inline(__always)
  public func run(_ fetches: [Tensor], feeding feeds: consuming Feeds = [:], targets: [Operation] = []) throws -> [NDArray] {
    try Feeds.lend(
      feeds, elements: { count, t0, e0, t1, e1 in try runElements(fetches, count, t0, e0, t1, e1, targets) },
      borrowing: { count, t0, v0, t1, v1 in try runBorrowing(fetches, count, t0, v0, t1, v1, targets) },
      lending: { given in try runLending(fetches, given, targets) })
  }

  /// Evaluates `fetches`, running `targets` too, with feeds built in code: a `[Tensor: NDArray]`
  /// dictionary or any sequence of pairs (converted to ``Feeds``; a dictionary literal takes the
  /// ``Feeds`` overload instead).
  /// - Throws: ``SessionError`` as the ``Feeds`` overload.
  @_disfavoredOverload @discardableResult
  public func run<Pairs: Sequence>(
    _ fetches: [Tensor], feeding feeds: Pairs, targets: [Operation] = []
  ) throws -> [NDArray] where Pairs.Element == (key: Tensor, value: NDArray) {
    try run(fetches, feeding: Feeds(feeds), targets: targets)
  }

  /// Evaluates one tensor, with `feeds` (a dictionary literal) supplying values for placeholders.
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @inlinable @inline(__always)
  public func run(_ fetch: Tensor, feeding feeds: consuming Feeds = [:]) throws -> NDArray {
    try Feeds.lend(
      feeds, elements: { count, t0, e0, t1, e1 in try runElements(fetch, count, t0, e0, t1, e1) },
      borrowing: { count, t0, v0, t1, v1 in try runBorrowing(fetch, count, t0, v0, t1, v1) },
      lending: { given in try runLending(fetch, given) })
  }

  /// Evaluates one tensor, with feeds built in code (a `[Tensor: NDArray]` dictionary or any
  /// sequence of pairs).
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @_disfavoredOverload
  public func run<Pairs: Sequence>(_ fetch: Tensor, feeding feeds: Pairs) throws -> NDArray
  where Pairs.Element == (key: Tensor, value: NDArray) {
    try run(fetch, feeding: Feeds(feeds))
  }

  /// Runs one operation (a training step, an initializer) for its effects, with `feeds` (a
  /// dictionary literal) supplying values for placeholders.
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @inlinable @inline(__always)
  public func run(_ target: Operation, feeding feeds: consuming Feeds = [:]) throws {
    try Feeds.lend(
      feeds, elements: { count, t0, e0, t1, e1 in try runElements(target, count, t0, e0, t1, e1) },
      borrowing: { count, t0, v0, t1, v1 in try runBorrowing(target, count, t0, v0, t1, v1) },
      lending: { given in try runLending(target, given) })
  }

  /// Runs one operation for its effects, with feeds built in code (a `[Tensor: NDArray]`
  /// dictionary or any sequence of pairs).
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @_disfavoredOverload
  public func run<Pairs: Sequence>(_ target: Operation, feeding feeds: Pairs) throws
  where Pairs.Element == (key: Tensor, value: NDArray) {
    try run(target, feeding: Feeds(feeds))
  }

  /// Evaluates `fetches`, running `targets` too, with `feeds` a dictionary literal of Swift
  /// scalars, `[x: xs[i], y: 10]` (``ScalarFeeds``: each fed placeholder has one element).
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @discardableResult @inlinable @inline(__always)
  public func run<Scalar: Element>(
    _ fetches: [Tensor], feeding feeds: consuming ScalarFeeds<Scalar>, targets: [Operation] = []
  ) throws -> [NDArray] {
    try ScalarFeeds.lend(
      feeds, borrowing: { count, t0, s0, t1, s1 in try runBorrowing(fetches, count, t0, s0, t1, s1, Scalar.dtype, targets) },
      lending: { pairs in try runScalars(fetches, pairs, targets) })
  }

  /// Evaluates one tensor, with `feeds` a dictionary literal of Swift scalars (``ScalarFeeds``).
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @inlinable @inline(__always)
  public func run<Scalar: Element>(_ fetch: Tensor, feeding feeds: consuming ScalarFeeds<Scalar>) throws -> NDArray {
    try ScalarFeeds.lend(
      feeds, borrowing: { count, t0, s0, t1, s1 in try runBorrowing(fetch, count, t0, s0, t1, s1, Scalar.dtype) },
      lending: { pairs in try runScalars(fetch, pairs) })
  }

  /// Runs one operation (a training step) for its effects, with `feeds` a dictionary literal of
  /// Swift scalars, `[x: xs[i], y: 10]` (``ScalarFeeds``).
  /// - Throws: ``SessionError`` as ``run(_:feeding:targets:)-(_,Feeds,_)``.
  @inlinable @inline(__always)
  public func run<Scalar: Element>(_ target: Operation, feeding feeds: consuming ScalarFeeds<Scalar>) throws {
    try ScalarFeeds.lend(
      feeds, borrowing: { count, t0, s0, t1, s1 in try runBorrowing(target, count, t0, s0, t1, s1, Scalar.dtype) },
      lending: { pairs in try runScalars(target, pairs) })
  }

  /// The path of every `run(_:feeding:)` overload given three or more pairs, and of one or two
  /// that a recent plan's registers do not take (``runBorrowing(_:_:_:_:_:_:_:)``): under the
  /// lock, find the plan and put the fed values in its slots, or its scalar program's registers
  /// (``bind(_:_:_:)``: by position, no hashing), check them, ``execute(_:)`` the plan, read the
  /// results, and take the fed values out of the slots again.
  ///
  /// The overloads are `@inlinable` and take their ``Feeds`` as `consuming`, and lend this
  /// function the pairs' buffer (`withUnsafeMutableBufferPointer`), not the array: a literal
  /// written in the call then never escapes the caller, whose compiler allocates it on the
  /// stack (no heap allocation per run), and its values are moved into the plan's feed slots
  /// and back out (swapped with the slots' empty values: no reference counting, and the
  /// caller's values are not kept after the run). A `Feeds` value the caller keeps and feeds
  /// again shares its storage, which `withUnsafeMutableBufferPointer` copies first: its values
  /// are never written.
  @usableFromInline func runLending(
    _ fetches: [Tensor], _ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, _ targets: [Operation]
  ) throws -> [NDArray] {
    try runMoving(fetches, given, targets) { plan in plan.fetchSlots.map { plan.frame[$0] } }
  }

  /// ``runLending(_:_:_:)`` for one fetched tensor.
  @usableFromInline func runLending(_ fetch: Tensor, _ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>) throws -> NDArray {
    try runMoving(CollectionOfOne(fetch), given, EmptyCollection<Operation>()) { plan in plan.frame[plan.fetchSlots[0]] }
  }

  /// ``runLending(_:_:_:)`` for one target operation.
  @usableFromInline func runLending(_ target: Operation, _ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>) throws {
    try runMoving(EmptyCollection<Tensor>(), given, CollectionOfOne(target)) { _ in () }
  }

  /// One or two fed arrays of one element each, as their elements (``Feeds/lend(_:elements:borrowing:lending:)``;
  /// `count` says how many, the second repeating the first for one): under the lock, a recent
  /// plan for these fetches and targets whose scalar program has run takes them in its
  /// registers (``Plan/bindElements(_:into:graph:)``) and runs the program; any other run (the
  /// first, a plan without a scalar program, a refused value) makes each element an array
  /// again, of its dtype and rank with every size 1, and takes the arrays' path
  /// (``runBorrowing(_:_:_:_:_:_:_:)``), which builds, checks and reports in full.
  @usableFromInline func runElements(
    _ fetches: [Tensor], _ count: Int, _ t0: Tensor, _ e0: OneElement, _ t1: Tensor, _ e1: OneElement, _ targets: [Operation]
  ) throws -> [NDArray] {
    try runElementPairs(fetches, count, t0, e0, t1, e1, targets) { plan in plan.fetchSlots.map { plan.frame[$0] } }
  }

  /// ``runElements(_:_:_:_:_:_:_:)`` for one fetched tensor.
  @usableFromInline func runElements(
    _ fetch: Tensor, _ count: Int, _ t0: Tensor, _ e0: OneElement, _ t1: Tensor, _ e1: OneElement
  ) throws -> NDArray {
    try runElementPairs(CollectionOfOne(fetch), count, t0, e0, t1, e1, EmptyCollection<Operation>()) { plan in
      plan.frame[plan.fetchSlots[0]]
    }
  }

  /// ``runElements(_:_:_:_:_:_:_:)`` for one target operation.
  @usableFromInline func runElements(
    _ target: Operation, _ count: Int, _ t0: Tensor, _ e0: OneElement, _ t1: Tensor, _ e1: OneElement
  ) throws {
    try runElementPairs(EmptyCollection<Tensor>(), count, t0, e0, t1, e1, CollectionOfOne(target)) { _ in () }
  }

  @inline(__always) private func runElementPairs<F: Collection<Tensor>, T: Collection<Operation>, R>(
    _ fetches: F, _ count: Int, _ t0: Tensor, _ e0: OneElement, _ t1: Tensor, _ e1: OneElement, _ targets: T,
    _ results: (Plan) -> R
  ) throws -> R {
    let ran = try withBitCopies(count, t0, e0, t1, e1) { pairs in
      try runInRegisters(
        fetches, count, targets, binding: { plan, registers in plan.bindElements(pairs, into: registers, graph: graph) },
        { plan in
          readFeedRuns &+= 1
          return results(plan)
        })
    }
    if let ran { return ran }
    let v0 = NDArray(e0)
    return try runReading(fetches, count, t0, v0, t1, count > 1 ? NDArray(e1) : v0, targets, results)
  }

  /// ``runLending(_:_:_:)`` for one or two pairs passed as values (``Feeds/lend(_:elements:borrowing:lending:)``;
  /// `count` says how many, the second repeating the first for one).
  @usableFromInline func runBorrowing(
    _ fetches: [Tensor], _ count: Int, _ t0: Tensor, _ v0: NDArray, _ t1: Tensor, _ v1: NDArray, _ targets: [Operation]
  ) throws -> [NDArray] {
    try runReading(fetches, count, t0, v0, t1, v1, targets) { plan in plan.fetchSlots.map { plan.frame[$0] } }
  }

  /// ``runBorrowing(_:_:_:_:_:_:_:)`` for one fetched tensor.
  @usableFromInline func runBorrowing(_ fetch: Tensor, _ count: Int, _ t0: Tensor, _ v0: NDArray, _ t1: Tensor, _ v1: NDArray) throws -> NDArray {
    try runReading(CollectionOfOne(fetch), count, t0, v0, t1, v1, EmptyCollection<Operation>()) { plan in plan.frame[plan.fetchSlots[0]] }
  }

  /// ``runBorrowing(_:_:_:_:_:_:_:)`` for one target operation.
  @usableFromInline func runBorrowing(_ target: Operation, _ count: Int, _ t0: Tensor, _ v0: NDArray, _ t1: Tensor, _ v1: NDArray) throws {
    try runReading(EmptyCollection<Tensor>(), count, t0, v0, t1, v1, CollectionOfOne(target)) { _ in () }
  }

  /// ``runScalars(_:_:_:)`` for one or two pairs passed as values
  /// (``ScalarFeeds/lend(_:borrowing:lending:)``: each number's bytes in a `UInt64`, of `dtype`).
  @usableFromInline func runBorrowing(
    _ fetches: [Tensor], _ count: Int, _ t0: Tensor, _ s0: UInt64, _ t1: Tensor, _ s1: UInt64, _ dtype: DType,
    _ targets: [Operation]
  ) throws -> [NDArray] {
    try withBitCopies(count, t0, s0, t1, s1, dtype) { pairs in
      try runScalarPairs(fetches, pairs, targets) { plan in plan.fetchSlots.map { plan.frame[$0] } }
    }
  }

  /// ``runBorrowing(_:_:_:_:_:_:_:_:)`` for one fetched tensor.
  @usableFromInline func runBorrowing(
    _ fetch: Tensor, _ count: Int, _ t0: Tensor, _ s0: UInt64, _ t1: Tensor, _ s1: UInt64, _ dtype: DType
  ) throws -> NDArray {
    try withBitCopies(count, t0, s0, t1, s1, dtype) { pairs in
      try runScalarPairs(CollectionOfOne(fetch), pairs, EmptyCollection<Operation>()) { plan in plan.frame[plan.fetchSlots[0]] }
    }
  }

  /// ``runBorrowing(_:_:_:_:_:_:_:_:)`` for one target operation.
  @usableFromInline func runBorrowing(
    _ target: Operation, _ count: Int, _ t0: Tensor, _ s0: UInt64, _ t1: Tensor, _ s1: UInt64, _ dtype: DType
  ) throws {
    try withBitCopies(count, t0, s0, t1, s1, dtype) { pairs in
      try runScalarPairs(EmptyCollection<Tensor>(), pairs, CollectionOfOne(target)) { _ in () }
    }
  }

  /// Calls `body` with the first `count` of two (tensor, value) pairs in a buffer on the stack:
  /// bit copies of the caller's values, which it holds for the call, read and never destroyed
  /// (no reference counting).
  @inline(__always) private func withBitCopies<Value, R>(
    _ count: Int, _ t0: Tensor, _ v0: Value, _ t1: Tensor, _ v1: Value,
    _ body: (UnsafeMutableBufferPointer<(Tensor, Value)>) throws -> R
  ) rethrows -> R {
    try withUnsafeTemporaryAllocation(of: (Tensor, Value).self, capacity: 2) { pairs in
      let base = UnsafeMutableRawPointer(pairs.baseAddress!)
      let stride = MemoryLayout<(Tensor, Value)>.stride
      storeBits(of: t0, at: base)
      storeBits(of: v0, at: base + Self.valueOffset(Value.self))
      storeBits(of: t1, at: base + stride)
      storeBits(of: v1, at: base + stride + Self.valueOffset(Value.self))
      return try body(UnsafeMutableBufferPointer(rebasing: pairs[..<count]))
    }
  }

  /// ``withBitCopies(_:_:_:_:_:_:)`` for numbers, as ``ScalarPairs`` of `dtype` (each number's
  /// bytes at the start of its `UInt64`).
  @inline(__always) private func withBitCopies<R>(
    _ count: Int, _ t0: Tensor, _ s0: UInt64, _ t1: Tensor, _ s1: UInt64, _ dtype: DType, _ body: (ScalarPairs) throws -> R
  ) rethrows -> R {
    try withBitCopies(count, t0, s0, t1, s1) { pairs in
      try body(
        ScalarPairs(
          base: UnsafeRawPointer(pairs.baseAddress), count: count, stride: MemoryLayout<(Tensor, UInt64)>.stride,
          valueOffset: Self.valueOffset(UInt64.self), dtype: dtype))
    }
  }

  /// Where the value of a `(Tensor, Value)` pair starts: a tuple is laid out as a struct of its
  /// elements in order, so the last one ends the size.
  @inline(__always) private static func valueOffset<Value>(_: Value.Type) -> Int {
    MemoryLayout<(Tensor, Value)>.size - MemoryLayout<Value>.size
  }

  /// One or two borrowed pairs that no recent plan's registers take as elements (tried first,
  /// ``runElements(_:_:_:_:_:_:_:)``): copied into a buffer the run owns and moved into the
  /// plan as ``runLending(_:_:_:)`` moves them.
  @inline(__always) private func runReading<F: Collection<Tensor>, T: Collection<Operation>, R>(
    _ fetches: F, _ count: Int, _ t0: Tensor, _ v0: NDArray, _ t1: Tensor, _ v1: NDArray, _ targets: T,
    _ results: (Plan) -> R
  ) throws -> R {
    try withBitCopies(count, t0, v0, t1, v1) { read in
      try withUnsafeTemporaryAllocation(of: (Tensor, NDArray).self, capacity: count) { owned in
        _ = owned.initialize(fromContentsOf: read)  // copies, which the frame's slots may hold
        defer { owned.deinitialize() }
        return try runMoving(fetches, owned, targets, results)
      }
    }
  }

  /// Under the lock, runs the scalar program of a recent plan for these fetches and targets,
  /// with as many feeds, whose registers `binds` has filled (the plan's program has run, so
  /// they exist); `nil`, having run nothing, when no plan takes the feeds or its program cannot
  /// run (the caller then takes a path that builds, binds, checks and reports in full).
  @inline(__always) private func runInRegisters<F: Collection<Tensor>, T: Collection<Operation>, R>(
    _ fetches: F, _ feedCount: Int, _ targets: T, binding binds: (Plan, UnsafeMutableRawPointer) -> Bool,
    _ results: (Plan) -> R
  ) throws -> R? {
    try lock.withLock {
      guard usesScalarPrograms && !options.checkNumerics else { return nil }
      for i in 0..<recent.count where sameRun(recent.entries + i, fetches, feedCount, targets) {
        let bound = recent.entries[i].plan._withUnsafeGuaranteedRef { plan in
          guard let registers = plan.scalarHandle?.registers else { return false }
          return binds(plan, registers)
        }
        if bound {
          return try recent.moveForward(i)._withUnsafeGuaranteedRef { plan in
            try executeScalar(plan.scalarHandle.unsafelyUnwrapped, of: plan) ? results(plan) : nil
          }
        }
      }
      return nil
    }
  }

  /// The lent pairs' values moved into the plan (its scalar program's registers, or its
  /// frame's feed slots and back out), under the lock.
  @inline(__always) private func runMoving<F: Collection<Tensor>, T: Collection<Operation>, R>(
    _ fetches: F, _ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, _ targets: T, _ results: (Plan) -> R
  ) throws -> R {
    lock.lock()
    defer { lock.unlock() }
    movedFeedRuns &+= 1
    let (bound, inRegisters) = try bind(fetches, given, targets)
    return try bound._withUnsafeGuaranteedRef { plan in
      if inRegisters {
        if try executeScalar(plan.scalarHandle.unsafelyUnwrapped, of: plan) { return results(plan) }
        // A variable's value no longer fits the program: bound again, in the frame.
        guard try plan.bindFeeds(given, graph: graph) else {
          preconditionFailure("Session: a plan that took these feeds in its registers does not take them")
        }
      }
      defer { plan.unbindFeeds(given) }
      try execute(plan)
      return results(plan)
    }
  }

  /// The one path of every scalar-fed run (``ScalarFeeds``): under the lock, a recent plan
  /// for these fetches and targets whose scalar program has run takes the numbers in its
  /// registers (``Plan/bindScalars(_:into:graph:)``) and runs the program; any other run (the
  /// first, a plan without a scalar program, a refused value) makes each number an array of its
  /// placeholder's dtype and shape and takes the ``Feeds`` path, which builds, checks and
  /// reports as for arrays.
  @usableFromInline func runScalars(_ fetches: [Tensor], _ pairs: ScalarPairs, _ targets: [Operation]) throws -> [NDArray] {
    try runScalarPairs(fetches, pairs, targets) { plan in plan.fetchSlots.map { plan.frame[$0] } }
  }

  /// ``runScalars(_:_:_:)`` for one fetched tensor.
  @usableFromInline func runScalars(_ fetch: Tensor, _ pairs: ScalarPairs) throws -> NDArray {
    try runScalarPairs(CollectionOfOne(fetch), pairs, EmptyCollection<Operation>()) { plan in plan.frame[plan.fetchSlots[0]] }
  }

  /// ``runScalars(_:_:_:)`` for one target operation.
  @usableFromInline func runScalars(_ target: Operation, _ pairs: ScalarPairs) throws {
    try runScalarPairs(EmptyCollection<Tensor>(), pairs, CollectionOfOne(target)) { _ in () }
  }

  @inline(__always) private func runScalarPairs<F: Collection<Tensor>, T: Collection<Operation>, R>(
    _ fetches: F, _ pairs: ScalarPairs, _ targets: T, _ results: (Plan) -> R
  ) throws -> R {
    let ran = try runInRegisters(
      fetches, pairs.count, targets, binding: { plan, registers in plan.bindScalars(pairs, into: registers, graph: graph) },
      results)
    if let ran { return ran }
    var feeds = try arrays(for: pairs)
    defer { feeds.destroyPairs() }
    return try feeds.pairs.withUnsafeMutableBufferPointer { given in try runMoving(fetches, given, targets, results) }
  }

  /// The scalars of `pairs` as ``Feeds``: each an array of its tensor's dtype and static shape.
  /// - Throws: ``SessionError/feedMismatch(name:expected:got:)`` for a tensor of this graph
  ///   whose shape is not static with one element, or whose dtype cannot hold its value exactly.
  func arrays(for pairs: ScalarPairs) throws -> Feeds {
    var feeds = Feeds()
    feeds.pairs.reserveCapacity(pairs.count)
    for i in 0..<pairs.count {
      let tensor = pairs.tensor(i).pointee
      guard tensor.graph === graph, tensor.exists else {
        // Refused, by name, when the run binds it.
        feeds.pairs.append((tensor, NDArray(scalar: pairs.value(i), of: pairs.dtype, shape: [], dtype: pairs.dtype)!))
        continue
      }
      let info = TensorInfo(dtype: tensor.dtype, shape: tensor.shape)
      guard let shape = info.shape.concrete, shape.elementCount == 1,
        let value = NDArray(scalar: pairs.value(i), of: pairs.dtype, shape: shape, dtype: info.dtype)
      else { throw Plan.scalarMismatch(tensor.name, info, pairs.value(i), pairs.dtype) }
      feeds.pairs.append((tensor, value))
    }
    return feeds
  }

  /// Runs the graph's variables initializer (every variable created so far gets its initial
  /// value). The initializer is built once and reused until a variable is added, so calling this
  /// again (to start over) adds no operations to the graph.
  public func initializeVariables() throws {
    let graph = graph
    if let reusable = graph.reusableInitializer, reusable.variables == graph.initialValues.count {
      try run(Operation(graph: graph, id: reusable.node))
      return
    }
    let initializer = try graph.variablesInitializer()
    graph.reusableInitializer = (graph.initialValues.count, initializer.id)
    try run(initializer)
  }

  /// The current value of a variable.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``, ``SessionError/foreignTensor(name:)``
  ///   for a variable of another graph, or ``GraphError/notAVariable(op:tensor:location:)``.
  public func value(of variable: Tensor) throws -> NDArray {
    let node = try ownVariableNode(variable, "value(of:)")
    return try lock.withLock { try context.variable(node: node) }
  }

  /// Sets a variable's value directly (as restoring a checkpoint does).
  /// - Throws: ``SessionError/feedMismatch(name:expected:got:)`` when the dtype or shape differs
  ///   from the variable's declared ones, ``SessionError/foreignTensor(name:)`` for a variable of
  ///   another graph, ``GraphError/notAVariable(op:tensor:location:)``.
  public func setValue(_ value: NDArray, for variable: Tensor) throws {
    let node = try ownVariableNode(variable, "setValue(_:for:)")
    guard value.dtype == variable.dtype, variable.shape.accepts(value.shape) else {
      throw SessionError.feedMismatch(
        name: variable.name, expected: "\(variable.dtype) \(variable.shape)", got: "\(value.dtype) \(value.shape)")
    }
    lock.withLock { context.writeVariable(node: node, value) }
  }

  /// Prepares a run with fixed fetches, fed tensors (in this order) and targets: TF1's
  /// `Session.make_callable`. The returned step skips the plan lookup and feed hashing; with
  /// fixed shapes it allocates nothing per call when used through
  /// ``PreparedStep/setFeed(_:to:)``, ``PreparedStep/run()`` and ``PreparedStep/fetch(_:)``.
  /// - Throws: ``SessionError`` when a needed placeholder is not among `feeds`.
  public func prepare(fetches: [Tensor] = [], feeds: [Tensor] = [], targets: [Operation] = []) throws -> PreparedStep {
    try lock.withLock {
      for t in fetches + feeds { try checkOwn(t) }
      for t in targets where t.graph !== graph { throw SessionError.foreignTensor(name: t.name) }
      let refs = feeds.map { ValueRef(node: $0.node, output: $0.output) }
      for i in refs.indices where refs[..<i].contains(refs[i]) { throw Plan.fedTwice(feeds[i].name) }
      let key = PlanKey(fetches: fetches.map { ValueRef(node: $0.node, output: $0.output) }, feeds: refs, targets: targets.map(\.id))
      let plan = try Plan(graph: graph, fetches: key.fetches, feeds: refs, targets: key.targets, fusesKernels: fusesKernels)
      return PreparedStep(session: self, plan: plan, key: key, checksNumerics: options.checkNumerics)
    }
  }

  /// The node of `variable`, checked to be a variable of this session's graph.
  func ownVariableNode(_ variable: Tensor, _ op: String) throws -> Int {
    try checkOwn(variable)
    return try variableNode(variable, in: graph, op, nil)
  }

  /// Checks that `tensor` is an existing output of this session's graph.
  /// - Throws: ``SessionError/foreignTensor(name:)``, or ``GraphError`` for an output that does
  ///   not exist (``Operation/output`` of an operation without outputs).
  func checkOwn(_ tensor: Tensor) throws {
    guard tensor.graph === graph else { throw SessionError.foreignTensor(name: tensor.name) }
    try graph.check(tensor, op: "Session")
  }

  // MARK: Running a plan

  /// Finds the plan for these fetches, fed tensors and targets and moves the fed values into it
  /// (``Plan/bindScalarFeeds(_:into:graph:)`` or ``Plan/bindFeeds(_:graph:)``). A plan among
  /// the most recent ones is found without hashing or allocating (fetches and targets compared
  /// in order, each fed tensor found by position among the plan's feeds); otherwise the plan is
  /// looked up by key, or built, and cached.
  /// - Throws: ``SessionError/unexpectedFeed(name:reason:)`` for a tensor fed twice, and the
  ///   errors of a feed that does not fit its placeholder or of building the plan (`given`
  ///   unchanged then).
  /// - Returns: The plan, and whether the fed values went into its scalar program's registers
  ///   (``Plan/bindScalarFeeds(_:into:graph:)``: a plan that ran its scalar program before, fed
  ///   one-element values) rather than into its frame.
  func bind<F: Collection<Tensor>, T: Collection<Operation>>(
    _ fetches: F, _ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, _ targets: T
  ) throws -> (plan: Unmanaged<Plan>, inRegisters: Bool) {
    let feedCount = given.count
    let scalar = usesScalarPrograms && !options.checkNumerics
    for i in 0..<recent.count where sameRun(recent.entries + i, fetches, feedCount, targets) {
      let inRegisters = try recent.entries[i].plan._withUnsafeGuaranteedRef { plan -> Bool? in
        if scalar, let registers = plan.scalarHandle?.registers, plan.bindScalarFeeds(given, into: registers, graph: graph) {
          return true
        }
        return try plan.bindFeeds(given, graph: graph) ? false : nil
      }
      if let inRegisters { return (recent.moveForward(i), inRegisters) }
    }
    for t in fetches { try checkOwn(t) }
    for t in targets where t.graph !== graph { throw SessionError.foreignTensor(name: t.name) }
    var fedRefs: [ValueRef] = []
    for (t, _) in given {
      try checkOwn(t)
      fedRefs.append(ValueRef(node: t.node, output: t.output))
    }
    fedRefs.sort { ($0.node, $0.output) < ($1.node, $1.output) }
    for i in fedRefs.indices.dropFirst() where fedRefs[i] == fedRefs[i - 1] {
      throw Plan.fedTwice(Tensor(graph: graph, node: fedRefs[i].node, output: fedRefs[i].output).name)
    }
    let key = PlanKey(
      fetches: fetches.map { ValueRef(node: $0.node, output: $0.output) }, feeds: fedRefs,
      targets: targets.map(\.id))
    let plan: Plan
    if let cached = plans[key] {
      plan = cached
    } else {
      plan = try Plan(graph: graph, fetches: key.fetches, feeds: fedRefs, targets: key.targets, fusesKernels: fusesKernels)
      plans[key] = plan  // owned here for the session's life: `recent` may hold it unretained
    }
    recent.insertFirst(RecentPlan(key: key, plan: plan))
    guard try plan.bindFeeds(given, graph: graph) else {
      preconditionFailure("Session: a plan built for these feeds does not take them")
    }
    return (Unmanaged.passUnretained(plan), false)
  }

  /// Whether `entry` has these fetches and targets, in order, and this many feeds (compared in
  /// place: node and output numbers, and the graph by identity).
  @inline(__always) private func sameRun<F: Collection<Tensor>, T: Collection<Operation>>(
    _ entry: UnsafeMutablePointer<RecentPlan>, _ fetches: F, _ feedCount: Int, _ targets: T
  ) -> Bool {
    guard entry.pointee.feedCount == feedCount, entry.pointee.fetches.count == fetches.count,
      entry.pointee.targets.count == targets.count
    else { return false }
    var i = 0
    for t in fetches {
      guard t.graph === graph, entry.pointee.fetches[i].node == t.node, entry.pointee.fetches[i].output == t.output else { return false }
      i += 1
    }
    i = 0
    for t in targets {
      guard t.graph === graph, entry.pointee.targets[i] == t.id else { return false }
      i += 1
    }
    return true
  }

  /// Executes a bound plan: the one way every run, prepared or not, computes. Its scalar
  /// program when the options allow and the plan fits (see ``ScalarProgram``), else the steps
  /// one by one, checking every output for NaN and infinity when `checksNumerics` (the
  /// options' ``Options/checkNumerics``, or a prepared step's own, see
  /// ``PreparedStep/checkingNumerics()``). The caller holds the lock.
  /// - Returns: Whether the scalar program ran.
  @discardableResult @inline(__always)
  func execute(_ plan: Plan, checksNumerics: Bool) throws -> Bool {
    context.reserve(nodes: plan.nodeCount)
    if !checksNumerics && usesScalarPrograms {
      plan.lowerToScalars(graph: graph)
      if let program = plan.scalarHandle, try program.run(frame: plan.frame, context: context) {
        scalarRuns &+= 1
        return true
      }
    }
    try executeSteps(plan, checksNumerics: checksNumerics)
    return false
  }

  /// Runs `plan`'s scalar program `program` with its feeds already in its registers (a
  /// prepared step's, see ``PreparedStep/run()``); `false`, having run nothing, when it cannot
  /// run (the caller then puts the feeds in the frame and runs ``execute(_:checksNumerics:)``).
  /// The caller holds the lock.
  @inline(__always) func executeScalar(_ program: UnownedScalarProgram, of plan: Plan) throws -> Bool {
    context.reserve(nodes: plan.nodeCount)
    guard try program.run(frame: plan.frame, context: context, feedsLoaded: true) else { return false }
    scalarRuns &+= 1
    return true
  }

  /// Executes a bound plan of a run (not a prepared step's), checked as the options say.
  @inline(__always) func execute(_ plan: Plan) throws {
    try execute(plan, checksNumerics: options.checkNumerics)
  }

  /// Whether runs that do not check numerics take a plan's scalar program when it fits
  /// (``Options/scalarFastPath``, off while profiling).
  var usesScalarPrograms: Bool { options.scalarFastPath && !options.profiles }

  /// Whether plans fuse kernels (``Options/fusesKernels``, off under ``Options/checkNumerics``).
  var fusesKernels: Bool { options.fusesKernels && !options.checkNumerics }

  /// How many runs took the scalar fast path (for tests that must know it ran).
  @exclusivity(unchecked) var scalarRuns = 0

  /// How many runs moved their feeds' values in and out of the plan's slots (feeds the run
  /// owned; for tests that must know it happened).
  @exclusivity(unchecked) var movedFeedRuns = 0

  /// How many runs read one or two fed arrays where the caller holds them, into a scalar
  /// program's registers (``Feeds/lend(_:elements:borrowing:lending:)``; for tests).
  @exclusivity(unchecked) var readFeedRuns = 0

  /// Executes the plan's steps one by one through the primitives' kernels, checking each
  /// output for NaN and infinity when `check`.
  func executeSteps(_ plan: Plan, checksNumerics check: Bool) throws {
    let frame = plan.frame
    let profiling = options.profiles
    try plan.steps.withUnsafeBufferPointer { steps in
      try plan.slotLists.withUnsafeBufferPointer { lists in
        let base = lists.baseAddress!
        for s in steps.indices {
          let step = steps.baseAddress! + s
          context.currentNode = step.pointee.node
          let inputs = Operands(base: frame, slots: base + step.pointee.inputStart, count: step.pointee.inputCount)
          let outputs = Results(
            base: frame, slots: base + step.pointee.outputStart, count: step.pointee.outputCount,
            unread: step.pointee.unreadOutputs)
          let start = profiling ? ContinuousClock.now : nil
          do {
            if let fused = step.pointee.fused {
              try fused.evaluate(inputs, outputs, context)
            } else {
              try step.pointee.primitive.evaluate(inputs, outputs, context)
            }
          } catch let error as ShapeError {
            let node = graph.nodes[step.pointee.node]
            throw SessionError.executionFailed(
              op: step.pointee.fused?.typeName ?? step.pointee.primitive.typeName, name: node.name, reason: error.message,
              location: node.location)
          }
          if let start { recordProfile(step.pointee, seconds: (ContinuousClock.now - start).seconds) }
          if check {
            for i in 0..<step.pointee.outputCount where !isFinite(outputs[i]) {
              let node = graph.nodes[step.pointee.node]
              throw SessionError.nonFinite(op: step.pointee.primitive.typeName, name: node.name, location: node.location)
            }
          }
          let release = step.pointee.releaseStart
          for r in 0..<step.pointee.releaseCount { frame[base[release + r]] = NDArray() }
        }
      }
    }
  }
}

/// A session's most recently used plans, most recent first, at most ``capacity``: a buffer
/// of its own rather than an array property, which each lookup would retain and release (two
/// atomic operations per `Session.run`).
struct RecentPlans: ~Copyable {
  static let capacity = 4
  let entries = UnsafeMutablePointer<RecentPlan>.allocate(capacity: RecentPlans.capacity)
  private(set) var count = 0

  /// Moves entry `i` one place toward the front (a plan used again soon stays found first),
  /// and returns its plan.
  mutating func moveForward(_ i: Int) -> Unmanaged<Plan> {
    guard i > 0 else { return entries[0].plan }
    swap(&entries[i], &entries[i - 1])
    return entries[i - 1].plan
  }

  /// Puts `entry` first, dropping the least recently used one when full.
  mutating func insertFirst(_ entry: consuming RecentPlan) {
    if count == Self.capacity {
      count -= 1
      (entries + count).deinitialize(count: 1)
    }
    (entries + 1).moveInitialize(from: entries, count: count)
    (entries).initialize(to: entry)
    count += 1
  }

  deinit {
    entries.deinitialize(count: count)
    entries.deallocate()
  }
}

/// One of a session's most recent plans: what identifies its run, and the plan, unretained
/// (the session's plan cache owns it for the session's life).
struct RecentPlan {
  var fetches: [ValueRef]
  var targets: [Int]
  var feedCount: Int
  var plan: Unmanaged<Plan>

  init(key: PlanKey, plan: Plan) {
    fetches = key.fetches
    targets = key.targets
    feedCount = key.feeds.count
    self.plan = Unmanaged.passUnretained(plan)
  }
}

/// A run prepared once with fixed fetches, fed tensors and targets (TF1's `make_callable`),
/// for loops that run millions of steps.
///
/// ```swift
/// let step = try session.prepare(fetches: [loss], feeds: [x, y], targets: [train])
/// let lossValue = try step([xValue, yValue])[0]
/// ```
///
/// The allocation-free form sets each feed, runs, then reads the fetches:
/// `try step.setFeed(0, to: xValue); try step.run(); step.fetch(0)`.
///
/// A step belongs to one thread at a time (hand it over, do not share it); the session it runs
/// in may be shared, and the step's runs are serialized with the session's other runs.
public final class PreparedStep: @unchecked Sendable {
  let session: Session
  let plan: Plan
  /// The fetches, feeds and targets the plan was built for.
  private let key: PlanKey
  /// Whether each run checks every output for NaN and infinity (the session's
  /// ``Session/Options/checkNumerics``, or this step's, see ``checkingNumerics()``).
  let checksNumerics: Bool
  /// This run checked for NaN and infinity, once made (only under the session's lock).
  @exclusivity(unchecked) private var checked: PreparedStep?
  /// Whether every feed has been set once (feeds stay set between runs; only touched under
  /// the session's lock).
  @exclusivity(unchecked) private var allFed = false
  /// The scalar program's registers while they, not the frame's feed slots, hold every feed's
  /// current value (`nil` otherwise): from a run that took the scalar program (which loads
  /// the feeds into its registers) until a call that writes the frame's feed slots or a run
  /// that cannot take it. Meanwhile ``setFeed(_:to:)`` checks each value and copies its one
  /// element into its register, and ``run()`` runs the program without reading the frame.
  @usableFromInline @exclusivity(unchecked) private(set) var feedRegisters: UnsafeMutableRawPointer?
  /// Per feed, where a Swift scalar or a one-element array of its dtype goes in the registers
  /// (``feedRegisters``), for the inlined paths of ``setFeed(_:to:)-(_,Scalar)`` and
  /// ``setFeed(_:to:)-(_,NDArray)``: the register's offset in bytes, or `-1` for a feed that
  /// does not take a scalar (a shape without exactly one element), and the feed's rank.
  @usableFromInline let scalarSlots: UnsafeMutablePointer<ScalarFeedSlot>
  /// The number of ``scalarSlots`` (the feed count).
  @usableFromInline let scalarSlotCount: Int
  /// Per fetch, for ``run(matchedInputs:captured:)``: a result it returned before, kept so that
  /// a later run can write into its memory once the caller has dropped it (`nil`: none kept).
  @exclusivity(unchecked) private var spareResults: [NDArray?]
  /// Per fetch: whether its slot is computed by the step (not fed), so it may take a spare.
  private let computedFetches: [Bool]
  /// The plan's feed slots and fetch slots, in order (constants: read without exclusivity checks).
  let feedSlots: [Int]
  let fetchSlots: [Int]

  init(session: Session, plan: Plan, key: PlanKey, checksNumerics: Bool) {
    self.session = session
    self.plan = plan
    self.key = key
    self.checksNumerics = checksNumerics
    spareResults = Array(repeating: nil, count: plan.fetchSlots.count)
    computedFetches = plan.fetchSlots.map { slot in !plan.feeds.contains { $0.slot == slot } }
    feedSlots = plan.feeds.map(\.slot)
    fetchSlots = plan.fetchSlots
    scalarSlotCount = plan.feeds.count
    scalarSlots = .allocate(capacity: Swift.max(plan.feeds.count, 1))
    for i in plan.feeds.indices { (scalarSlots + i).initialize(to: plan.feedChecks.scalarSlot(i)) }
  }

  deinit { scalarSlots.deallocate() }

  /// The number of fed tensors, in the order given to ``Session/prepare(fetches:feeds:targets:)``.
  public var feedCount: Int { plan.feeds.count }
  /// The number of fetched tensors.
  public var fetchCount: Int { plan.fetchSlots.count }

  /// Sets feed `index` (checked against its placeholder's dtype and shape).
  /// - Throws: ``SessionError/feedMismatch(name:expected:got:)``, or
  ///   ``SessionError/unexpectedFeed(name:reason:)`` for an index out of range.
  @inlinable @inline(__always) public func setFeed(_ index: Int, to value: NDArray) throws {
    // Inlined into the caller, as the scalar feed is: while the registers hold the feeds, the
    // one element of a value its one-element feed accepts is copied into its register here,
    // read where the caller holds it (a sample taken from the caller's array of arrays is then
    // neither retained nor released); anything else takes the out-of-line path.
    if let registers = feedRegisters, UInt(bitPattern: index) < UInt(bitPattern: scalarSlotCount) {
      let slot = scalarSlots[index]
      if slot.offset >= 0, let element = withUnsafePointer(to: value, { NDArray.oneElement(of: $0) }),
        element.dtype == slot.dtype, element.rank == slot.rank
      {
        NDArray.storeElementBits(element.bits, byteCount: slot.dtype.byteSize, to: registers + slot.offset)
        return
      }
    }
    try setFeed(index, outOfLine: value)
  }

  /// ``setFeed(_:to:)-(_,NDArray)`` for what its inlined path does not take: checks `value`
  /// and copies it into the register or the frame's feed slot, or throws.
  @usableFromInline func setFeed(_ index: Int, outOfLine value: NDArray) throws {
    let plan = plan
    let registers = feedRegisters
    let fed = withUnsafePointer(to: value) { value in
      // Without the session's lock: the plan, and so its frame and its scalar program, is
      // this step's alone (only its runs read them, under the lock), and the step belongs to
      // one thread at a time.
      if let registers { return plan.feedChecks.copy(ifAccepting: value, at: index, into: registers) }
      guard let byteCount = plan.feedChecks.byteCount(ifAccepting: value, at: index) else { return false }
      NDArray.assignCopyingSmall(
        from: value, to: plan.frame + plan.feedChecks.slot(index), byteCount: byteCount, byteLimit: Self.copiedFeedBytes)
      return true
    }
    if !fed { throw feedError(index, value) }
  }

  /// Sets feed `index` to a Swift scalar (`Float`, `Double`, `Int32` or `Bool`), as TF1 feeds
  /// a Python number: the feed's placeholder must have a static shape of one element (`[]`,
  /// `[1]`...), and the value is converted to its dtype (rounded to `float32` or `float64`;
  /// to `int32` or `bool` only exactly). The allocation-free way to feed one sample at a time:
  /// `try step.setFeed(0, to: xs[i])` with `xs` a `[Float]`.
  /// - Throws: ``SessionError/feedMismatch(name:expected:got:)`` for a placeholder of another
  ///   shape, or a value its dtype cannot hold exactly; ``SessionError/unexpectedFeed(name:reason:)``
  ///   for an index out of range.
  @inlinable @inline(__always) public func setFeed<Scalar: Element>(_ index: Int, to value: Scalar) throws {
    // Inlined into the caller: while the registers hold the feeds, a number of its feed's own
    // dtype is stored in its register here (what the out-of-line path would do, without the
    // call); anything else takes that path.
    if let registers = feedRegisters, UInt(bitPattern: index) < UInt(bitPattern: scalarSlotCount) {
      let slot = scalarSlots[index]
      if slot.offset >= 0 && slot.dtype == Scalar.dtype {
        (registers + slot.offset).storeBytes(of: value, as: Scalar.self)
        return
      }
    }
    try withUnsafePointer(to: value) { try setFeed(index, scalarAt: UnsafeRawPointer($0), of: Scalar.dtype) }
  }

  /// ``setFeed(_:to:)-(_,Scalar)`` for what its inlined path does not take, on the scalar of
  /// dtype `source` at `value`: a number of another dtype than its feed's, converted into the
  /// register; outside the registers mode, into the frame's feed slot (in place when its array is
  /// this step's alone); or a thrown error.
  @usableFromInline func setFeed(_ index: Int, scalarAt value: UnsafeRawPointer, of source: DType) throws {
    let plan = plan
    if let registers = feedRegisters {
      if plan.feedChecks.store(scalar: value, of: source, at: index, into: registers) { return }
    } else if plan.feedChecks.takesScalar(at: index) {
      let slot = plan.frame + plan.feedChecks.slot(index)
      // Into the fed array's own memory when the slot holds a value this feed accepts (its dtype
      // and static shape, read in place: nothing allocated, as for an array fed each step) that
      // nothing else holds; else a new array of the placeholder's shape.
      if plan.feedChecks.byteCount(ifAccepting: slot, at: index) != nil,
        let stored = NDArray.storeInPlace(scalar: value, of: source, into: slot)
      {
        if stored { return }
      } else if let shape = plan.feeds[index].info.shape.concrete,
        let array = NDArray(scalar: value, of: source, shape: shape, dtype: plan.feedChecks.dtype(index))
      {
        slot.pointee = array
        return
      }
    }
    throw scalarFeedError(index, value, source)
  }

  /// The error for a scalar ``setFeed(_:to:)-(_,Scalar)`` refuses.
  @inline(never) private func scalarFeedError(_ index: Int, _ value: UnsafeRawPointer, _ source: DType) -> SessionError {
    plan.feeds.indices.contains(index)
      ? Plan.scalarMismatch(plan.feeds[index].name, plan.feeds[index].info, value, source) : indexError(index)
  }

  /// The error for a value ``setFeed(_:to:)`` refuses.
  @inline(never) private func feedError(_ index: Int, _ value: NDArray) -> SessionError {
    plan.feeds.indices.contains(index) ? plan.feedMismatch(at: index, value) : indexError(index)
  }

  /// The error for a feed index out of range.
  private func indexError(_ index: Int) -> SessionError {
    SessionError.unexpectedFeed(name: "#\(index)", reason: "the step has \(plan.feeds.count) feeds")
  }

  /// The largest feed, in bytes, that ``setFeed(_:to:)`` copies into the step's own memory
  /// rather than sharing the caller's array (see ``ArrayCore/NDArray/assignCopyingSmall(_:byteLimit:)``).
  static let copiedFeedBytes = 256

  /// Runs the step with the feeds last set.
  /// - Throws: ``SessionError/missingFeeds(_:)`` when a feed was never set, or any run-time error.
  public func run() throws {
    let session = session
    session.lock.lock()
    defer { session.lock.unlock() }
    if let registers = feedRegisters {
      if try executeInRegisters(registers) { return }
    } else if !allFed {
      try checkAllFed()
    }
    try executeFromFrame()
  }

  /// Checks that every feed has been set once (then remembered in ``allFed``). Out of line: the
  /// first runs' work, kept off the path of every later one.
  @inline(never) private func checkAllFed() throws {
    for feed in plan.feeds where plan.frame[feed.slot].isEmptyPlaceholder {
      throw SessionError.missingFeeds([feed.name])
    }
    allFed = true
  }

  /// Runs the scalar program on the feeds in its `registers` (``feedRegisters``); `false`, when
  /// it cannot run (a variable's value no longer fits it), having written the feeds into the
  /// frame and left register mode: the caller then runs ``executeFromFrame()``.
  @inline(__always) private func executeInRegisters(_ registers: UnsafeMutableRawPointer) throws -> Bool {
    if try session.executeScalar(plan.scalarHandle.unsafelyUnwrapped, of: plan) { return true }
    plan.storeFeeds(from: registers)
    feedThroughFrame()
    return false
  }

  /// Runs the plan on the feeds in the frame; when that took the scalar program (which loads
  /// every feed into its registers), later feeds go to the registers.
  @inline(__always) private func executeFromFrame() throws {
    if try session.execute(plan, checksNumerics: checksNumerics) { feedRegisters = plan.scalarHandle?.registers }
  }

  /// Leaves the registers mode of ``feedRegisters`` before a call writes the frame's feed
  /// slots (all of them; under the session's lock).
  @inline(__always) private func feedThroughFrame() {
    feedRegisters = nil
  }

  /// The value of fetch `index` from the last run.
  /// - Precondition: `0 <= index < fetchCount` (a trap naming the index and the count: this
  ///   accessor is on the allocation-free hot path and does not throw; `callAsFunction` returns
  ///   every fetch as an array instead).
  public func fetch(_ index: Int) -> NDArray {
    precondition(
      index >= 0 && index < plan.fetchSlots.count,
      "PreparedStep.fetch: index \(index) is not in 0..<\(plan.fetchSlots.count) (the step's fetchCount)")
    return session.lock.withLock { plan.frame[plan.fetchSlots[index]] }
  }

  /// Sets every feed (in order), runs, and returns the fetches.
  /// - Throws: ``SessionError`` as ``setFeed(_:to:)`` and ``run()``.
  @discardableResult
  public func callAsFunction(_ feeds: [NDArray]) throws -> [NDArray] {
    try checkFeeds(feeds)
    return try session.lock.withLock {
      feedThroughFrame()
      for (feed, value) in zip(plan.feeds, feeds) { plan.frame[feed.slot] = value }
      try session.execute(plan, checksNumerics: checksNumerics)
      return plan.fetchSlots.map { plan.frame[$0] }
    }
  }
}

extension PreparedStep {
  /// Checks one value per feed, in order, against its placeholder's dtype and shape.
  /// - Throws: ``SessionError/unexpectedFeed(name:reason:)`` for the wrong count, and what
  ///   ``setFeed(_:to:)`` throws for a value.
  private func checkFeeds(_ feeds: [NDArray]) throws {
    guard feeds.count == plan.feeds.count else {
      throw SessionError.unexpectedFeed(name: "(\(feeds.count) values)", reason: "the step takes \(plan.feeds.count) feeds")
    }
    // Each value read in place (`feeds[i]` would copy it: a retain and a release of its arrays).
    let plan = plan
    let refused = feeds.withUnsafeBufferPointer { values in
      values.indices.first { plan.feedChecks.byteCount(ifAccepting: values.baseAddress! + $0, at: $0) == nil }
    }
    if let i = refused { throw plan.feedMismatch(at: i, feeds[i]) }
  }

  /// Runs with `feeds` (in order, checked as ``callAsFunction(_:)`` checks them) while the
  /// variables `variables` hold `values`: each value is moved into its variable before the run
  /// and moved back out after it, also when the run throws, all under one hold of the session's
  /// lock (an eager optimizer's update: the parameters the caller holds are updated in place,
  /// without a copy, a lookup or a lock per parameter).
  /// - Precondition: `variables` are distinct variables of the step's graph, as many as `values`,
  ///   whose dtypes and shapes the caller has checked.
  package func run(feeds: [NDArray], lending values: inout [NDArray], to variables: [Tensor]) throws {
    if !checksNumerics && EagerScope.checksNumerics {
      return try checkingNumerics().run(feeds: feeds, lending: &values, to: variables)
    }
    try checkFeeds(feeds)
    let session = session
    session.lock.lock()
    defer { session.lock.unlock() }
    let context = session.context
    for i in variables.indices {
      context.writeVariable(node: variables[i].node, EagerRecycler.moved(&values[i], leaving: NDArray()))
    }
    defer {
      for i in variables.indices {
        let node = variables[i].node
        if node < context.variables.count, let value = context.variables[node] {
          context.variables[node] = nil
          values[i] = value
        }
      }
    }
    feedThroughFrame()
    for (feed, value) in zip(plan.feeds, feeds) { plan.frame[feed.slot] = value }
    try session.execute(plan, checksNumerics: checksNumerics)
  }

  /// This step as a run that checks every operation's outputs for NaN and infinity and throws
  /// ``SessionError/nonFinite(op:name:location:)`` naming the first: its own plan, with no fused
  /// kernels and no scalar program, in the same session (so the same variables and random
  /// generators), made on first use, then kept. What eager code's runs of the step use while
  /// ``withNumericChecks(_:_:)`` is on (TF2's `enable_check_numerics` checks the operations
  /// inside a `tf.function` too).
  /// - Throws: what building the plan throws (as ``Session/prepare(fetches:feeds:targets:)``).
  private func checkingNumerics() throws -> PreparedStep {
    return try session.lock.withLock {
      if let checked { return checked }
      let plan = try Plan(graph: session.graph, fetches: key.fetches, feeds: key.feeds, targets: key.targets, fusesKernels: false)
      let step = PreparedStep(session: session, plan: plan, key: key, checksNumerics: true)
      checked = step
      return step
    }
  }
}

extension PreparedStep {
  /// Runs with `inputs` as the first feeds, already known to have their placeholders' dtypes
  /// and exact shapes (a ``CompiledFunction``'s signature), and the current values of the
  /// `captured` variables as the feeds after them (checked); appends the fetches to `results`.
  /// No intermediate feed array, and no lock: the caller runs this step alone (a
  /// ``CompiledFunction`` holds its own lock, and the step's session is reachable only through
  /// it).
  func run(matchedInputs inputs: [NDArray], captured: [Tensor], into results: inout [NDArray]) throws {
    if !checksNumerics && EagerScope.checksNumerics {
      return try checkingNumerics().run(matchedInputs: inputs, captured: captured, into: &results)
    }
    let plan = plan
    guard inputs.count + captured.count == feedSlots.count else {
      throw SessionError.unexpectedFeed(
        name: "(\(inputs.count + captured.count) values)", reason: "the step takes \(feedSlots.count) feeds")
    }
    let frame = plan.frame
    // After a run that took the scalar program, the values go straight into its registers, as
    // ``setFeed(_:to:)`` puts them (the frame's feed slots are then stale).
    if let registers = feedRegisters, try copyIntoRegisters(inputs, captured, registers) {
      swapInSpareResults()
      if try !executeInRegisters(registers) { try executeFromFrame() }
    } else {
      feedThroughFrame()
      // Read in place (a `let` array of integers: no exclusivity check, no reference counting).
      feedSlots.withUnsafeBufferPointer { slots in
        inputs.withUnsafeBufferPointer { given in
          for i in given.indices {
            NDArray.assignCopyingSmall(from: given.baseAddress! + i, to: frame + slots[i], byteLimit: Self.copiedFeedBytes)
          }
        }
      }
      for j in captured.indices {
        let value = try captured[j].value
        try plan.checkFeed(at: inputs.count + j, value)
        (frame + feedSlots[inputs.count + j]).pointee.assignCopyingSmall(value, byteLimit: Self.copiedFeedBytes)
      }
      swapInSpareResults()
      try executeFromFrame()
    }
    results.reserveCapacity(fetchSlots.count)
    for i in fetchSlots.indices { results.append(frame[fetchSlots[i]]) }
  }

  /// Copies each input's element (its dtype and shape matched, see
  /// ``run(matchedInputs:captured:into:)``), then each captured variable's (checked, as
  /// ``Plan/FeedChecks/copy(ifAccepting:at:into:)`` checks), into its feed's register; `false`
  /// when a variable's value does not fit (the caller then writes every feed into the frame).
  /// - Throws: ``SessionError/uninitializedVariable(name:)`` for a captured variable without a
  ///   value.
  private func copyIntoRegisters(_ inputs: [NDArray], _ captured: [Tensor], _ registers: UnsafeMutableRawPointer) throws -> Bool {
    let plan = plan
    inputs.withUnsafeBufferPointer { given in
      for i in given.indices { plan.feedChecks.copy(accepted: given.baseAddress! + i, at: i, into: registers) }
    }
    for j in captured.indices {
      let value = try captured[j].value
      guard withUnsafePointer(to: value, { plan.feedChecks.copy(ifAccepting: $0, at: inputs.count + j, into: registers) }) else {
        return false
      }
    }
    return true
  }
}

extension PreparedStep {
  /// Runs with feed `i` copied from `feed(i)`, read in place (no retain of the value; copied
  /// into the step's own memory up to ``copiedFeedBytes``, shared above), each already known to
  /// have its placeholder's dtype and exact shape; appends the fetches to `results`. No lock:
  /// the caller has the step to itself (the eager backward cache, which takes the step out of
  /// its cache while it runs).
  func run(feedingFrom feed: (Int) -> UnsafePointer<NDArray>, into results: inout [NDArray]) throws {
    let frame = plan.frame
    feedThroughFrame()
    feedSlots.withUnsafeBufferPointer { slots in
      for i in slots.indices {
        NDArray.assignCopyingSmall(from: feed(i), to: frame + slots[i], byteLimit: Self.copiedFeedBytes)
      }
    }
    swapInSpareResults()
    try session.execute(plan, checksNumerics: checksNumerics)
    results.reserveCapacity(fetchSlots.count)
    for i in fetchSlots.indices { results.append(frame[fetchSlots[i]]) }
  }

  /// Empties the feed slots holding a caller's array rather than a copy of it (larger than
  /// ``copiedFeedBytes``), so that a step kept between calls does not keep the caller's
  /// values alive. The caller has the step to itself.
  func releaseSharedFeeds() {
    let frame = plan.frame
    for slot in feedSlots where frame[slot].shape.elementCount &* frame[slot].dtype.byteSize > Self.copiedFeedBytes {
      frame[slot] = NDArray()
    }
  }

  /// The largest result memory, in bytes, that ``run(matchedInputs:captured:into:)``
  /// double-buffers (the storage's capacity, which a reused buffer may make larger than the
  /// value).
  static let spareResultBytes = 4096

  /// Double-buffers the small results a ``CompiledFunction`` returns: a returned result is held
  /// by the caller when the next call runs (it is often passed back in, as a training loop's
  /// parameters are), so its kernel could not write into its memory and allocated anew at every
  /// call. Before a run, each computed fetch slot whose small value is still held elsewhere
  /// (``ArrayCore/NDArray/isSharedAndSmall(at:upTo:)``, read in place)
  /// takes the result kept from an earlier call if nothing else holds that one any more (so no
  /// value a caller holds changes), and its own value is kept in exchange; otherwise its value is
  /// kept and the slot starts empty (the kernel allocates, as it had to anyway). Every kernel
  /// writes its outputs in full at each run, so a slot's previous value only lends its memory.
  /// Called with the step's exclusive access.
  func swapInSpareResults() {
    let frame = plan.frame
    let limit = Self.spareResultBytes
    // Read and written in place: no accessor calls, no exclusivity checks.
    computedFetches.withUnsafeBufferPointer { computed in
      spareResults.withUnsafeMutableBufferPointer { spares in
        for i in computed.indices where computed[i] {
          let value = frame + fetchSlots[i]
          guard NDArray.isSharedAndSmall(at: value, upTo: limit) else { continue }
          if spares[i]?.isReusable(upTo: limit) == true {
            swap(&value.pointee, &spares[i]!)
          } else {
            spares[i] = value.pointee
            value.pointee = NDArray()
          }
        }
      }
    }
  }
}

extension Plan {
  /// Puts each fed value in its feed slot, found by position among the plan's feeds (compared
  /// as node and output, no hashing; pair `i` is first compared with feed `i`): the run owns
  /// `given`, and each value is swapped with its slot's empty value (no reference counting;
  /// ``unbindFeeds(_:count:)`` swaps them back). Returns false, with every slot and `given` as they
  /// were, when a fed tensor is not one of the plan's feeds (or is of another graph): the plan
  /// does not fit. The caller has checked that the counts are equal, and holds the session's
  /// lock. Each value is checked against its placeholder's dtype and shape as it is bound; on a
  /// mismatch the error names the first mismatched feed in the plan's order (so it does not
  /// depend on the feeds' order), and the slots are restored.
  /// - Throws: ``SessionError/unexpectedFeed(name:reason:)`` for a tensor fed twice (equal
  ///   counts and no tensor fed twice make every plan feed bound exactly once), or
  ///   ``SessionError/feedMismatch(name:expected:got:)``.
  func bindFeeds(_ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, graph: Graph) throws -> Bool {
    var mismatch = false
    var twice = -1
    // The pairs and the plan's feed table are read in place: nothing is copied (nor retained).
    var fits = true
    // Which plan feeds are bound: a bit each for the first 64, a flag in `boundBeyond` for more.
    var bound: UInt64 = 0
    var boundBeyond: [Bool] = []
    for i in given.indices {
      let pair = given.baseAddress! + i
      guard pair.pointee.0.graph === graph,
        let j = feedChecks.position(node: pair.pointee.0.node, output: pair.pointee.0.output, hint: i)
      else {
        unbindFeeds(given, count: i)
        fits = false
        break
      }
      if j < 64 {
        if bound & (1 &<< UInt64(j)) != 0 { twice = j }
        bound |= 1 &<< UInt64(j)
      } else {
        if boundBeyond.isEmpty { boundBeyond = Array(repeating: false, count: feedChecks.count - 64) }
        if boundBeyond[j - 64] { twice = j }
        boundBeyond[j - 64] = true
      }
      if withUnsafeMutablePointer(to: &pair.pointee.1, { feedChecks.byteCount(ifAccepting: $0, at: j) }) == nil {
        mismatch = true
      }
      swap(&(frame + feedChecks.slot(j)).pointee, &pair.pointee.1)
    }
    if twice >= 0 {
      if fits { unbindFeeds(given) }  // (a plan that does not fit has restored them)
      throw Self.fedTwice(feeds[twice].name)
    }
    if fits && mismatch {
      defer { unbindFeeds(given) }
      for i in feeds.indices { try checkFeed(at: i, frame[feeds[i].slot]) }
    }
    return fits
  }

  /// Binds the fed values of a plan whose scalar program has run (and so exists): each value,
  /// found by position among the plan's feeds as ``bindFeeds(_:graph:)`` finds it and
  /// checked against its placeholder, has its one element copied into the program's register
  /// of its slot (the accepted value has the placeholder's static shape and dtype, the
  /// program's). Neither the frame nor `given` is written. Returns false, having written only
  /// feed registers (which every run writes before reading), when a tensor is not one of the
  /// plan's feeds, is fed twice or does not fit: the caller then binds through
  /// ``bindFeeds(_:graph:)``, which finds the same and throws or returns false. The
  /// caller has checked that the counts are equal, and holds the session's lock.
  func bindScalarFeeds(_ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, into registers: UnsafeMutableRawPointer, graph: Graph) -> Bool {
    bindInRegisters(given.count, graph: graph, tensor: { Self.tensor(of: given, $0) }) { i, j in
      withUnsafeMutablePointer(to: &given[i].1) { feedChecks.copy(ifAccepting: $0, at: j, into: registers) }
    }
  }

  /// The loop every binding into a scalar program's registers shares: pair `i`'s tensor
  /// (`tensor(i)`, read in place) found by position among the plan's feeds (first compared
  /// with feed `i`), each feed bound at most once, and `store(i, j)` putting pair `i`'s value
  /// in feed `j`'s register (`false` when the feed does not take it). `false`, at the first
  /// pair that is not a feed of this plan and graph, is fed twice or is not taken.
  @inline(__always) private func bindInRegisters(
    _ count: Int, graph: Graph, tensor: (Int) -> UnsafePointer<Tensor>, store: (Int, Int) -> Bool
  ) -> Bool {
    guard count <= 64 else { return false }
    var bound: UInt64 = 0
    for i in 0..<count {
      let t = tensor(i)
      guard t.pointee.graph === graph,
        let j = feedChecks.position(node: t.pointee.node, output: t.pointee.output, hint: i),
        bound & (1 &<< UInt64(j)) == 0,
        store(i, j)
      else { return false }
      bound |= 1 &<< UInt64(j)
    }
    return true
  }

  /// The tensor of pair `i` of `pairs`, in place (a tuple is laid out as a struct of its
  /// elements in order: the tensor starts the pair).
  @inline(__always) private static func tensor<Value>(of pairs: UnsafeMutableBufferPointer<(Tensor, Value)>, _ i: Int) -> UnsafePointer<Tensor> {
    UnsafeRawPointer(pairs.baseAddress! + i).assumingMemoryBound(to: Tensor.self)
  }

  /// Stores the elements of `given` (fed arrays of one element each, ``ArrayCore/OneElement``)
  /// in the registers of the plan's scalar program (which has run, and so exists): each pair
  /// found by position among the plan's feeds as ``bindFeeds(_:graph:)`` finds it, and taken
  /// when its placeholder would accept the array (its dtype, and its rank with every size 1:
  /// ``FeedChecks/store(element:at:into:)``). Returns false, having written only feed
  /// registers (which every run writes before reading), when a tensor is not one of the
  /// plan's feeds, is fed twice, or its array is not accepted: the caller then takes the
  /// arrays' path, which finds the same and throws or builds another plan. The caller has
  /// checked that the counts are equal, and holds the session's lock.
  func bindElements(_ given: UnsafeMutableBufferPointer<(Tensor, OneElement)>, into registers: UnsafeMutableRawPointer, graph: Graph) -> Bool {
    bindInRegisters(given.count, graph: graph, tensor: { Self.tensor(of: given, $0) }) { i, j in
      feedChecks.store(element: given[i].1, at: j, into: registers)
    }
  }

  /// Stores the scalars of `pairs` in the registers of the plan's scalar program (which has
  /// run, and so exists): each pair found by position among the plan's feeds as
  /// ``bindFeeds(_:graph:)`` finds it, its number converted to the feed's dtype
  /// (``FeedChecks/store(scalar:of:at:into:)``). Returns false, having written only feed
  /// registers (which every run writes before reading), when a tensor is not one of the plan's
  /// feeds, is fed twice, or does not take its number: the caller then takes the arrays' path,
  /// which finds the same and throws or builds another plan. The caller has checked that the
  /// counts are equal, and holds the session's lock.
  func bindScalars(_ pairs: ScalarPairs, into registers: UnsafeMutableRawPointer, graph: Graph) -> Bool {
    bindInRegisters(pairs.count, graph: graph, tensor: pairs.tensor) { i, j in
      feedChecks.store(scalar: pairs.value(i), of: pairs.dtype, at: j, into: registers)
    }
  }

  /// Takes the fed values out of the feed slots after a run (or a failed binding): swaps the
  /// first `count` pairs' values back (all when `nil`), last bound first, so `given` and the
  /// slots are exactly as before ``bindFeeds(_:graph:)`` (a tensor fed twice included).
  func unbindFeeds(_ given: UnsafeMutableBufferPointer<(Tensor, NDArray)>, count: Int? = nil) {
    var i = count ?? given.count
    while i > 0 {
      i -= 1
      let pair = given.baseAddress! + i
      // Bound before, so found.
      let j = feedChecks.position(node: pair.pointee.0.node, output: pair.pointee.0.output, hint: i)!
      swap(&(frame + feedChecks.slot(j)).pointee, &pair.pointee.1)
    }
  }

  /// Puts every feed's value from `registers` (a scalar program's, see
  /// ``PreparedStep/setFeed(_:to:)``) in its frame slot, as a new array of the placeholder's
  /// dtype and static shape (the rare path: a run that cannot take its scalar program).
  func storeFeeds(from registers: UnsafeMutableRawPointer) {
    for (i, feed) in feeds.enumerated() {
      // Static, as every feed of a plan with a scalar program is.
      guard let shape = feed.info.shape.concrete else { continue }
      frame[feed.slot] = NDArray(copyingBytes: feedChecks.register(i, in: registers), shape: shape, dtype: feed.info.dtype)
    }
  }

  /// The error for tensor `name` fed twice in one run.
  @inline(never) static func fedTwice(_ name: String) -> SessionError {
    SessionError.unexpectedFeed(name: name, reason: "it is fed twice in one run (a repeated key in the feeds)")
  }

  /// Checks `value` against feed `i`'s placeholder (read in place, not copied).
  @inline(__always) func checkFeed(at i: Int, _ value: NDArray) throws {
    guard withUnsafePointer(to: value, { feedChecks.byteCount(ifAccepting: $0, at: i) }) != nil else {
      throw feedMismatch(at: i, value)
    }
  }

  /// The error for a scalar fed to `name` (of `info`'s dtype and shape) that it does not take:
  /// a placeholder without a static shape of one element, or a value its dtype cannot hold
  /// exactly.
  @inline(never) static func scalarMismatch(
    _ name: String, _ info: TensorInfo, _ value: UnsafeRawPointer, _ source: DType
  ) -> SessionError {
    let number =
      switch source {
      case .float32: "\(value.load(as: Float.self))"
      case .float64: "\(value.load(as: Double.self))"
      case .int32: "\(value.load(as: Int32.self))"
      case .bool: "\(value.load(as: Bool.self))"
      }
    let takesOne = info.shape.concrete?.elementCount == 1
    return SessionError.feedMismatch(
      name: name, expected: "\(info.dtype) \(info.shape)",
      got: takesOne
        ? "the \(source) scalar \(number), which \(info.dtype) cannot hold exactly"
        : "a \(source) scalar (a scalar feeds a placeholder of one element only)")
  }

  @inline(never) func feedMismatch(at i: Int, _ value: NDArray) -> SessionError {
    let feed = feeds[i]
    return SessionError.feedMismatch(
      name: feed.name, expected: "\(feed.info.dtype) \(feed.info.shape)", got: "\(value.dtype) \(value.shape)")
  }
}

func isFinite(_ a: NDArray) -> Bool {
  switch a.dtype {
  case .float32: a.withUnsafeBufferPointer(as: Float.self) { $0.allSatisfy(\.isFinite) }
  case .float64: a.withUnsafeBufferPointer(as: Double.self) { $0.allSatisfy(\.isFinite) }
  default: true
  }
}

/// Copies the bits of `value`, which the caller holds, to `address`: a copy that is read and
/// never destroyed (no reference counting).
@inline(__always) private func storeBits<T>(of value: borrowing T, at address: UnsafeMutableRawPointer) {
  withUnsafePointer(to: value) { address.copyMemory(from: $0, byteCount: MemoryLayout<T>.size) }
}
