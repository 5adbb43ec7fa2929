import ArrayCore
import Synchronization

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
/// later runs do no graph walk and reuse their intermediate buffers. A session may be used
/// from several threads; runs are serialized.
public final class Session: @unchecked Sendable {
  /// Settings of a session.
  public struct Options: Sendable {
    /// Stop at the first operation, in execution order, whose output holds a NaN or an
    /// infinity, and throw ``SessionError/nonFinite(op:name:location:)`` naming it. Off by
    /// default (and then free).
    public var checkNumerics: Bool
    /// Creates options.
    public init(checkNumerics: Bool = false) { self.checkNumerics = checkNumerics }
  }

  /// The graph this session runs.
  public let graph: Graph
  /// The session's options.
  public let options: Options
  let context = ExecutionContext()
  private var plans: [PlanKey: Plan] = [:]
  private let lock = Mutex(())

  /// Creates a session for `graph`.
  public init(graph: Graph, options: Options = Options()) {
    self.graph = graph
    self.options = options
    context.graph = graph
  }

  /// Evaluates `fetches`, running `targets` too, with `feeds` supplying values for
  /// placeholders (or for any tensor, overriding its computation) (`sess.run(fetches,
  /// feed_dict)`).
  /// - Returns: One value per fetch.
  /// - Throws: ``SessionError`` for a missing or mismatched feed (naming the placeholder, the
  ///   expected and the given shape and dtype), an uninitialized variable, a tensor of another
  ///   graph, or an operation that fails at run time.
  @discardableResult
  public func run(
    _ fetches: [Tensor], feeding feeds: [Tensor: NDArray] = [:], targets: [Operation] = []
  ) throws -> [NDArray] {
    try lock.withLock { _ in try runLocked(fetches, feeds, targets) }
  }

  /// Evaluates one tensor.
  public func run(_ fetch: Tensor, feeding feeds: [Tensor: NDArray] = [:]) throws -> NDArray {
    try run([fetch], feeding: feeds)[0]
  }

  /// Runs one operation (a training step, an initializer) for its effects.
  public func run(_ target: Operation, feeding feeds: [Tensor: NDArray] = [:]) throws {
    try run([], feeding: feeds, targets: [target])
  }

  /// Runs the graph's variables initializer (every variable created so far gets its initial
  /// value).
  public func initializeVariables() throws {
    try run(graph.variablesInitializer())
  }

  /// The current value of a variable.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``, or ``GraphError/notAVariable(op:tensor:location:)``.
  public func value(of variable: Tensor) throws -> NDArray {
    let node = try variableNode(variable, "value(of:)", nil)
    return try lock.withLock { _ in try context.variable(node: node) }
  }

  /// Sets a variable's value directly (as restoring a checkpoint does).
  /// - Throws: ``SessionError/feedMismatch(name:expected:got:)`` when the dtype or shape differs.
  public func setValue(_ value: NDArray, for variable: Tensor) throws {
    let node = try variableNode(variable, "setValue(_:for:)", nil)
    guard value.dtype == variable.dtype, variable.shape.accepts(value.shape) else {
      throw SessionError.feedMismatch(
        name: variable.name, expected: "\(variable.dtype) \(variable.shape)", got: "\(value.dtype) \(value.shape)")
    }
    lock.withLock { _ in context.writeVariable(node: node, value) }
  }

  private func runLocked(_ fetches: [Tensor], _ feeds: [Tensor: NDArray], _ targets: [Operation]) throws -> [NDArray] {
    for t in fetches where t.graph !== graph { throw SessionError.foreignTensor(name: t.name) }
    for t in targets where t.graph !== graph { throw SessionError.foreignTensor(name: t.name) }
    var fedRefs: [ValueRef] = []
    fedRefs.reserveCapacity(feeds.count)
    for t in feeds.keys {
      guard t.graph === graph else { throw SessionError.foreignTensor(name: t.name) }
      fedRefs.append(ValueRef(node: t.node, output: t.output))
    }
    fedRefs.sort { ($0.node, $0.output) < ($1.node, $1.output) }
    let key = PlanKey(
      fetches: fetches.map { ValueRef(node: $0.node, output: $0.output) }, feeds: fedRefs,
      targets: targets.map(\.id))
    let plan: Plan
    if let cached = plans[key] {
      plan = cached
    } else {
      plan = try Plan(graph: graph, fetches: key.fetches, feeds: fedRefs, targets: key.targets)
      plans[key] = plan
    }
    return try execute(plan, feeds)
  }

  private func execute(_ plan: Plan, _ feeds: [Tensor: NDArray]) throws -> [NDArray] {
    let frame = plan.frame
    for feed in plan.feeds {
      let value = feeds[Tensor(graph: graph, node: feed.ref.node, output: feed.ref.output)]!
      guard value.dtype == feed.info.dtype, feed.info.shape.accepts(value.shape) else {
        throw SessionError.feedMismatch(
          name: feed.name, expected: "\(feed.info.dtype) \(feed.info.shape)", got: "\(value.dtype) \(value.shape)")
      }
      frame[feed.slot] = value
    }
    context.reserve(nodes: graph.nodes.count)
    let check = options.checkNumerics
    try plan.slotLists.withUnsafeBufferPointer { lists in
      let base = lists.baseAddress!
      for step in plan.steps {
        context.currentNode = step.node
        let inputs = Operands(base: frame, slots: base + step.inputStart, count: step.inputCount)
        let outputs = Results(base: frame, slots: base + step.outputStart, count: step.outputCount)
        do {
          try step.primitive.evaluate(inputs, outputs, context)
        } catch let error as ShapeError {
          let node = graph.nodes[step.node]
          throw SessionError.executionFailed(
            op: step.primitive.typeName, name: node.name, reason: error.message, location: node.location)
        }
        if check {
          for i in 0..<step.outputCount where !isFinite(outputs[i]) {
            let node = graph.nodes[step.node]
            throw SessionError.nonFinite(op: step.primitive.typeName, name: node.name, location: node.location)
          }
        }
        for r in 0..<step.releaseCount { frame[base[step.releaseStart + r]] = NDArray() }
      }
    }
    var results: [NDArray] = []
    results.reserveCapacity(plan.fetchSlots.count)
    for slot in plan.fetchSlots { results.append(frame[slot]) }
    for feed in plan.feeds { frame[feed.slot] = NDArray() }
    return results
  }
}

func isFinite(_ a: NDArray) -> Bool {
  switch a.dtype {
  case .float32: a.withUnsafeBufferPointer(as: Float.self) { $0.allSatisfy(\.isFinite) }
  case .float64: a.withUnsafeBufferPointer(as: Double.self) { $0.allSatisfy(\.isFinite) }
  default: true
  }
}
