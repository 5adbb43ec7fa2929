import ArrayCore
import CBackpropKernels
import Synchronization

// Eager execution (issue 16). An eager value is a `Tensor` of an eager graph: a graph that runs
// each operation's kernel as the operation is added and keeps the values. The builders, the
// operators, the shape rules, the kernels and the gradient definitions are the graph's own; only
// `Graph.addOperation` decides where an operation goes and evaluates it. See ARCHITECTURE.md.

/// How a graph treats the operations added to it.
package enum GraphMode: Sendable {
  /// TF1: operations describe a computation that a ``Session`` runs.
  case symbolic
  /// Eager values outside any tape: each operation on them gives a new small graph holding its
  /// inputs' values and its result, so that a value's graph never grows (a loop of `x = x + 1`
  /// keeps two values alive, not the whole history). Layers' parameters live in such a graph
  /// (``Graph/eager()``), as leaves.
  case values
  /// A tape (``GradientTape``, ``valueWithGradient(at:of:)``): records every operation on its
  /// values, so that gradients, themselves recorded operations, can be taken and taken again.
  case tape
}

/// The values of an eager graph's nodes and the state its kernels use. Only its graph holds it
/// (functions take it as a local for the length of a call), so a dead graph's store is cleared
/// and handed to the next eager graph (``EagerRecycler``).
final class EagerStore: @unchecked Sendable {
  /// Every output's value; node `n`'s output `i` is `values[records[n].firstSlot + i]`.
  @exclusivity(unchecked) var values: [NDArray] = []
  /// Per node: its first slot in `values`, whether it has values, whether it is a variable (one
  /// record, one append per operation).
  @exclusivity(unchecked) var records: [EagerRecord] = []
  /// Values of a dead graph's nodes that held their memory alone (at most ``spareLimit`` of at
  /// most ``spareBytes`` bytes each): a new output starts from one, so that its kernel writes into
  /// that memory (``ArrayCore/NDArray/prepare(shape:dtype:)``) instead of allocating. Nothing
  /// else refers to them, so no value a user holds can change.
  @exclusivity(unchecked) var spares: [NDArray] = []
  /// How many spare values a store keeps.
  static let spareLimit = 64
  /// The largest spare value kept, in bytes.
  static let spareBytes = 4096
  /// The gradient walker's arrays, empty, for the next walk on this store's graph (and, the
  /// store being handed on, on the next tape's).
  @exclusivity(unchecked) private var walkScratch = WalkScratch()
  /// Variables and random generators, as a session holds them.
  let context = ExecutionContext()
  /// Creation order among all eager graphs: among several tapes, an operation goes to the newest.
  private(set) var serial = eagerGraphCounter.add(1, ordering: .relaxed).newValue

  /// Empties the store for a new graph (keeping the arrays' capacity), with a new serial.
  func restart() {
    // Moved out, last first (a copy of each value kept would retain it and the clearing
    // release it again).
    while var value = values.popLast() {
      if spares.count < Self.spareLimit && value.isReusable(upTo: Self.spareBytes) { spares.append(consume value) }
    }
    records.removeAllKeepingCapacity()
    context.restart()
    serial = eagerGraphCounter.add(1, ordering: .relaxed).newValue
  }

  /// The gradient walker's arrays (empty), leaving none here until ``keepWalkScratch(_:)``.
  func takeWalkScratch() -> WalkScratch {
    var taken = WalkScratch()
    swap(&taken, &walkScratch)
    return taken
  }

  /// Keeps the walker's arrays, emptied (no tensor of the graph stays in them), for the next walk.
  func keepWalkScratch(_ scratch: inout WalkScratch) {
    scratch.clear()
    swap(&scratch, &walkScratch)
  }

  /// Room for `count` nodes' values without reallocating.
  func reserve(_ count: Int) {
    values.reserveCapacity(count)
    records.reserveCapacity(count)
    context.variables.reserveCapacity(count)
  }
}

/// Where an eager node's values are.
struct EagerRecord {
  /// The node's first slot in ``EagerStore/values`` (output `i` is at `firstSlot + i`).
  var firstSlot: Int
  /// Whether the node has values (a placeholder in an eager graph has none).
  var hasValue: Bool
  /// Whether the node is a variable (its value is the context's, which assignments change).
  var isVariable: Bool
  /// Whether the node is a constant made while ``withNumericChecks(_:_:)`` was on, holding NaN
  /// or infinity: the first operation that reads it throws, naming it (see
  /// ``EagerStore/checkConstant(id:_:)``).
  var isNonFinite = false
  /// Whether the node's values were drawn by a random operation (or computed from such values)
  /// while ``compile(_:)`` traced a function on this thread: captured into the trace, they would
  /// be a constant, the same sample at every call, so ``Graph/adopt(_:op:location:)`` refuses
  /// them. Uncaptured (a layer's initial values, which only create its variables) they are fine.
  var drawnWhileTracing = false
}

/// The arrays of dead eager graphs, cleared, for new eager graphs to reuse: an eager step makes a
/// tape and a graph per value it brings in, and allocating their arrays anew each time (a tape's
/// 32 nodes are a large allocation, for which glibc consolidates its free lists) cost about a
/// tenth of the step. Bounded: a few of each kind, of moderate capacity.
enum EagerRecycler {
  /// A cleared node array and store.
  struct Parts: @unchecked Sendable {
    var nodes: [Node]
    /// The graph's scratch array of a shape rule's input types.
    var inputTypes: [TensorInfo]
    /// The graph's table of tensors brought in from other graphs (``Graph/adopt(_:op:location:)``),
    /// emptied: no source graph is kept alive.
    var imports: ImportTable
    var store: EagerStore
  }
  /// The kept parts, guarded by ``lock`` (a `pthread_mutex_t`, which ThreadSanitizer sees; the
  /// standard library's futex-based `Mutex` is invisible to it on Linux, see RELIABILITY.md).
  /// (Read and written only under the lock, so the run-time exclusivity check, about 80
  /// instructions per access, is not needed.)
  @exclusivity(unchecked) nonisolated(unsafe) private static var pool: (tapes: [Parts], values: [Parts]) = ([], [])
  private static let lock = Lock()
  /// How many of each kind are kept.
  private static let limit = 4
  /// Above this node capacity, a dead graph's arrays are freed rather than kept.
  private static let largestKept = 1024

  /// `value`, moved out (left as `empty`): no reference counting, unlike a copy and a reset.
  @inline(__always) static func moved<T>(_ value: inout T, leaving empty: T) -> T {
    var taken = empty
    swap(&taken, &value)
    return taken
  }

  /// Parts for a new eager graph of `mode`, if any are kept.
  static func take(_ mode: GraphMode) -> Parts? {
    lock.withLock { mode == .tape ? pool.tapes.popLast() : pool.values.popLast() }
  }

  /// Keeps a dead graph's parts (clearing them first, outside the lock).
  static func give(
    nodes: inout [Node], inputTypes: inout [TensorInfo], imports: inout ImportTable, store: EagerStore,
    mode: GraphMode
  ) {
    guard nodes.capacity <= largestKept, imports.capacity <= largestKept else { return }
    nodes.removeAllKeepingCapacity()
    inputTypes.removeAllKeepingCapacity()
    imports.removeAll()
    store.restart()
    let parts = Parts(
      nodes: moved(&nodes, leaving: []), inputTypes: moved(&inputTypes, leaving: []),
      imports: moved(&imports, leaving: ImportTable()), store: store)
    // Moved into the pool (a closure would capture a copy: a retain and a release of each part).
    lock.lock()
    if mode == .tape {
      if pool.tapes.count < limit { pool.tapes.append(consume parts) }
    } else if pool.values.count < limit {
      pool.values.append(consume parts)
    }
    lock.unlock()
  }
}

extension PartialShape {
  /// Whether every size is known and equal to `shape`'s (no allocation).
  func isExactly(_ shape: Shape) -> Bool {
    guard dimensions.count == shape.rank else { return false }
    for i in dimensions.indices where dimensions[i] != shape.dimensions[i] { return false }
    return true
  }
}

/// One output of one node of one graph.
struct ImportKey: Hashable {
  var graph: ObjectIdentifier
  var node: Int
  var output: Int
}

/// The tensors an eager graph brought in from other graphs (``Graph/adopt(_:op:location:)``):
/// for each source output, the local one. It holds the source graphs, so that their identities
/// stay unique while the table refers to them.
///
/// A step brings in a few values (its inputs, a layer's parameters), so the entries are searched
/// in order, without hashing (a dictionary's insertion and lookup cost about 500 instructions per
/// value, a tenth of an eager step's own operation); from ``indexedCount`` entries on, a
/// dictionary indexes them.
struct ImportTable {
  private struct Entry {
    let source: Graph
    let node: Int
    let output: Int
    let local: ValueRef
  }
  private var entries: [Entry] = []
  /// Entry positions by source output, kept once there are ``indexedCount`` entries.
  private var index: [ImportKey: Int] = [:]
  /// The number of entries from which lookups go through ``index``.
  static let indexedCount = 16

  /// The room the entries have (what the recycler bounds).
  var capacity: Int { Swift.max(entries.capacity, index.capacity) }

  /// The local output standing for output `output` of node `node` of `source`, if brought in.
  func local(source: Graph, node: Int, output: Int) -> ValueRef? {
    if entries.count >= Self.indexedCount {
      return index[ImportKey(graph: ObjectIdentifier(source), node: node, output: output)].map { entries[$0].local }
    }
    for i in entries.indices where entries[i].source === source && entries[i].node == node && entries[i].output == output {
      return entries[i].local
    }
    return nil
  }

  /// Records that output `output` of node `node` of `source` is `local` here (not already recorded).
  mutating func insert(source: Graph, node: Int, output: Int, local: ValueRef) {
    entries.append(Entry(source: source, node: node, output: output, local: local))
    if entries.count == Self.indexedCount {
      for i in entries.indices {
        index[ImportKey(graph: ObjectIdentifier(entries[i].source), node: entries[i].node, output: entries[i].output)] = i
      }
    } else if entries.count > Self.indexedCount {
      index[ImportKey(graph: ObjectIdentifier(source), node: node, output: output)] = entries.count - 1
    }
  }

  /// Empties the table (releasing the source graphs), keeping its memory.
  mutating func removeAll() {
    entries.removeAllKeepingCapacity()
    if !index.isEmpty { index.removeAll(keepingCapacity: true) }
  }
}

private let eagerGraphCounter = Atomic<UInt64>(0)

/// The tape that records eager operations on the current thread (set by
/// ``GradientTape/record(_:)`` and ``valueWithGradient(at:of:)``) and the store whose variables
/// eager code reuses by name (``EagerVariables/use(_:)``).
///
/// Both are scoped to a synchronous body, so they are kept per thread (a body cannot move to
/// another thread without suspending, which a synchronous one cannot do), unretained, in C
/// thread-local slots: the scope keeps the object alive and restores the outer value when it
/// ends. A task-local value costs a runtime lookup and a generic copy of the optional at every
/// eager operation (about 220 instructions). A task started inside the body does not inherit the
/// tape, which is what a graph built from one thread needs.
enum EagerScope {
  /// The running tape, if any.
  static var tape: Graph? { object(slot: 0) }
  /// The active variable store, if any.
  static var variables: EagerVariables? { object(slot: 1) }
  /// Whether eager operations check their results for NaN and infinity (``withNumericChecks(_:_:)``).
  static var checksNumerics: Bool { bp_thread_slot(2) != nil }
  /// The ``compile(_:)`` trace being built on this thread, if any (innermost): operations on
  /// eager variables go to it, so that they read the variables at every call.
  static var trace: Graph? { object(slot: 3) }
  /// Whether ``trace`` is set: one slot load, without the retain that reading the graph costs
  /// (for the checks on every eager operation).
  static var isTracing: Bool { bp_thread_slot(3) != nil }

  /// Whether ``BackwardCache`` is off on this thread (``BackwardCache/withoutCache(_:)``).
  static var skipsBackwardCache: Bool { bp_thread_slot(4) != nil }

  /// Runs `body` with the backward cache off (`off`) or on, on this thread.
  static func withBackwardCache<R>(off: Bool, _ body: () throws -> R) rethrows -> R {
    let saved = bp_thread_slot(4)
    bp_set_thread_slot(4, off ? UnsafeMutableRawPointer(bitPattern: 1) : nil)
    defer { bp_set_thread_slot(4, saved) }
    return try body()
  }

  /// Runs `body` with eager results checked (`enabled`) or not.
  static func withNumericChecks<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let saved = bp_thread_slot(2)
    bp_set_thread_slot(2, enabled ? UnsafeMutableRawPointer(bitPattern: 1) : nil)
    defer { bp_set_thread_slot(2, saved) }
    return try body()
  }

  /// Runs `body` with `tape` as the running tape (`nil`: none).
  static func withTape<R>(_ tape: Graph?, _ body: () throws -> R) rethrows -> R {
    try withObject(tape, slot: 0, body)
  }

  /// Runs `body` with `trace` as the trace being built.
  static func withTrace<R>(_ trace: Graph, _ body: () throws -> R) rethrows -> R {
    try withObject(trace, slot: 3, body)
  }

  /// Runs `body` with `variables` as the active store.
  static func withVariables<R>(_ variables: EagerVariables?, _ body: () throws -> R) rethrows -> R {
    try withObject(variables, slot: 1, body)
  }

  private static func object<T: AnyObject>(slot: Int32) -> T? {
    guard let p = bp_thread_slot(slot) else { return nil }
    return Unmanaged<T>.fromOpaque(p).takeUnretainedValue()
  }

  private static func withObject<T: AnyObject, R>(_ object: T?, slot: Int32, _ body: () throws -> R) rethrows -> R {
    let saved = bp_thread_slot(slot)
    bp_set_thread_slot(slot, object.map { Unmanaged.passUnretained($0).toOpaque() })
    defer { bp_set_thread_slot(slot, saved) }
    return try withExtendedLifetime(object) { try body() }
  }
}

extension Graph {
  /// A graph for eager parameters and layers (TF2's variables outside a function): constants
  /// and variables created in it hold their values at once; operations on its values compute at
  /// once and are recorded by the running tape, if any (``GradientTape``,
  /// ``valueWithGradient(at:of:)``), or go to a new value otherwise, so the graph itself only
  /// holds its leaves.
  ///
  /// ```swift
  /// let parameters = Graph.eager()
  /// let layer = try Dense(graph: parameters, inputSize: 64, units: 10, seed: 1)
  /// let logits = try layer(Tensor(batch))   // computed now
  /// ```
  public static func eager() -> Graph { Graph(mode: .values) }

  /// A new graph for one eager value: the running tape when there is one, else a new values graph.
  static func leafGraph() -> Graph { EagerScope.tape ?? Graph(mode: .values) }

  /// The graph an operation on `inputs` goes to, asked of `graph` (the first input's): a
  /// symbolic graph among the inputs' (eager values are then captured as constants, as
  /// `tf.function` captures them); otherwise, while a ``compile(_:)`` trace is built on this
  /// thread, that trace when an input is an eager variable (captured by reference: computed
  /// eagerly, the result would be a constant holding the variable's value at tracing time);
  /// otherwise the running tape; otherwise the newest tape among the inputs'; otherwise a new
  /// values graph.
  static func target(for inputs: UnsafeBufferPointer<Tensor>, default graph: Graph) -> Graph {
    // The inputs are read in place (a copy of a tensor retains and releases its graph), and the
    // newest tape among them is only looked for when no tape is running.
    // Two different symbolic graphs: the first; `check` names the foreign tensor.
    for i in inputs.indices where inputs[i].graph.mode == .symbolic { return inputs[i].graph }
    if EagerScope.isTracing, let trace = EagerScope.trace {
      for i in inputs.indices where inputs[i].exists && inputs[i].isVariable { return trace }
    }
    // While the walker builds `graph`'s gradients, the running tape it read once for the walk.
    if case .some(let running) = graph.walkTape {
      if let running { return running }
    } else if let tape = EagerScope.tape {
      return tape
    }
    var newest = -1
    for i in inputs.indices where inputs[i].graph.mode == .tape {
      if newest < 0 || inputs[newest].graph.eager!.serial < inputs[i].graph.eager!.serial { newest = i }
    }
    if newest >= 0 { return inputs[newest].graph }
    if graph.mode == .values && inputs.isEmpty { return graph }
    return Graph(mode: .values)
  }

  /// `tensor` as a tensor of this graph: itself if it is one; a leaf holding its current value if
  /// it is an eager value of another graph (a constant; in a symbolic graph, a variable's value
  /// is fed at each run instead, see ``CompiledFunction``).
  /// - Throws: ``GraphError/foreignTensor(op:tensor:location:)`` for a tensor of another
  ///   symbolic graph; ``GraphError/invalidArgument(op:reason:location:)`` for an eager
  ///   placeholder, which has no value, and, in a symbolic graph, for random values drawn
  ///   eagerly while compile traces a function (see ``EagerRecord/drawnWhileTracing``).
  func adopt(_ tensor: Tensor, op: String, location: SourceLocation?) throws -> Tensor {
    let source = tensor.graph
    guard source !== self else { return tensor }
    guard let sourceStore = source.eager else {
      throw GraphError.foreignTensor(op: op, tensor: tensor.name, location: location)
    }
    if let local = imports.local(source: source, node: tensor.node, output: tensor.output) {
      return Tensor(graph: self, node: local.node, output: local.output)
    }
    let local: Tensor
    if mode == .symbolic, tensor.exists, sourceStore.records[tensor.node].drawnWhileTracing {
      throw Self.randomDrawnWhileTracing(tensor, op: op, location: location)
    }
    if mode == .symbolic, tensor.isVariable {
      // Only a trace feeds what it captures: in a graph for a Session the placeholder would
      // never be fed, and the run would fail on a feed the user never made.
      guard isTrace else {
        throw GraphError.invalidArgument(
          op: op,
          reason: "'\(tensor.name)' is an eager variable, which a graph run by a Session cannot read; trace the code with compile (it feeds the variable's value at each call), or create the variable in this graph",
          location: location)
      }
      local = placeholder(tensor.dtype, shape: tensor.shape, name: "captured")
      capturedVariables.append((local.node, tensor))
    } else {
      guard tensor.exists, sourceStore.records[tensor.node].hasValue else {
        throw GraphError.invalidArgument(
          op: op, reason: "'\(tensor.name)' has no value (a placeholder in an eager graph)", location: location)
      }
      // The source's name (in an eager graph, where names are not unique) and creation site:
      // an error about an operation on it names the user's line, not this one.
      let value = try tensor.value
      let (sourceName, sourceLocation) = source.nodes.withUnsafeBufferPointer { ($0[tensor.node].name, $0[tensor.node].location) }
      local = appendLeaf(
        ConstantPrimitive(value: value), output: TensorInfo(dtype: value.dtype, shape: PartialShape(value.shape)),
        name: mode == .symbolic ? "captured" : sourceName, location: sourceLocation)
      // A constant found to hold NaN or infinity stays marked in its copies (see `checkConstant`).
      if sourceStore.records[tensor.node].isNonFinite { eager?.records[local.node].isNonFinite = true }
      // So does a value drawn while tracing (a tape inside the traced function brings it in).
      if sourceStore.records[tensor.node].drawnWhileTracing { eager?.records[local.node].drawnWhileTracing = true }
    }
    imports.insert(source: source, node: tensor.node, output: tensor.output, local: ValueRef(node: local.node, output: local.output))
    return local
  }

  /// The tensor of this graph that `tensor` was brought in as, if it was (or `tensor` itself).
  func local(_ tensor: Tensor) -> Tensor? {
    if tensor.graph === self { return tensor }
    return imports.local(source: tensor.graph, node: tensor.node, output: tensor.output)
      .map { Tensor(graph: self, node: $0.node, output: $0.output) }
  }

  /// Brings `tensor` in as a leaf holding its value (for tapes watching a value), registered as
  /// the local copy of `tensor` so later uses of `tensor` find it.
  func watch(_ tensor: Tensor, location: SourceLocation?) throws -> Tensor {
    if let existing = local(tensor) { return existing }
    return try adopt(tensor, op: "watch", location: location)
  }

  /// Evaluates the node just appended (an eager graph computes each operation as it is added).
  /// On failure the node is removed again, so the graph stays as it was.
  /// `primitive` is the node's own (the caller's, borrowed: reading `nodes[id].primitive` here
  /// would copy the existential, since the kernel could in principle change the node array).
  func evaluateLast(_ primitive: some Primitive, inputs: UnsafeBufferPointer<Tensor>) throws {
    // The store's method, called on the stored reference: a local copy of it (`let store =
    // eager!`) costs an atomic retain and release per eager operation.
    try eager!.evaluateLast(of: self, primitive, inputs: inputs)
  }

  /// Gives the leaf just appended its value: a constant's value (`constant`), a variable's
  /// current value (`isVariable`); a placeholder has none. (The caller knows the primitive's
  /// type statically: no dynamic cast of the stored primitive.)
  func evaluateLeaf(constant: NDArray?, isVariable: Bool) {
    // The store's method, called on the stored reference (see `evaluateLast`).
    eager!.evaluateLeaf(id: nodes.count - 1, constant: constant, isVariable: isVariable)
  }

  /// An eager variable holding `initialValue`'s value.
  /// - Throws: what reading the value throws; ``SessionError/nonFinite(op:name:location:)`` when
  ///   it holds NaN or infinity while ``withNumericChecks(_:_:)`` is on.
  func eagerVariable(_ initialValue: Tensor, trainable: Bool, name: String, location: SourceLocation) throws -> Tensor {
    let value = try initialValue.value
    let primitive = VariablePrimitive(dtype: value.dtype, shape: value.shape, trainable: trainable)
    if EagerScope.checksNumerics && !isFinite(value) {
      throw SessionError.nonFinite(op: primitive.typeName, name: name, location: location)
    }
    eager!.context.writeVariable(node: nodes.count, value)
    return appendLeaf(primitive, output: TensorInfo(dtype: value.dtype, shape: PartialShape(value.shape)), name: name, location: location)
  }

  /// The error of a random value drawn in an eager graph while compile traces a function, and
  /// then captured by the trace: it would be a constant of the trace, the one sample drawn while
  /// tracing given at every call (TF2's `tf.function` draws anew at each call).
  static func randomDrawnWhileTracing(_ tensor: Tensor, op: String, location: SourceLocation?) -> GraphError {
    let (primitive, name) = tensor.graph.nodes.withUnsafeBufferPointer { ($0[tensor.node].primitive, $0[tensor.node].name) }
    let kind = primitive.typeName
    let what = Self.drawsRandomValues(primitive) ? "drawn by \(kind)" : "computed by \(kind) from random values drawn"
    return GraphError.invalidArgument(
      op: op,
      reason: "'\(name)' holds eager random values \(what) while compile traces a function; captured, they would be a "
        + "constant of the trace, the same sample at every call; draw them in the trace's graph instead, "
        + "randomNormal(x.graph, ...) (or randomUniform, truncatedNormal, dropout) with x an input of the function, "
        + "which draws anew at each call",
      location: location)
  }

  /// Whether `primitive` draws random values (see ``EagerRecord/drawnWhileTracing``): the one
  /// definition the marking of eager values and the error read.
  static func drawsRandomValues(_ primitive: any Primitive) -> Bool {
    primitive is RandomPrimitive || primitive is DropoutMask
  }

  /// The error of an eager variable changed while compile traces a function: the change would
  /// run once, while tracing, and no later call would repeat it.
  static func changedWhileTracing(_ variable: Tensor, op: String, location: SourceLocation?) -> GraphError {
    GraphError.invalidArgument(
      op: op,
      reason: "'\(variable.name)' is an eager variable changed while compile traces a function: the change would run once, "
        + "while tracing, not at each call; return the new value (or the gradients) from the function and change the "
        + "variable with the call's results",
      location: location)
  }

  /// Sets an eager variable's value (what optimizers' eager updates do).
  /// - Throws: ``GraphError`` when `variable` is not a variable of this eager graph, the
  ///   value's dtype or shape differs from the variable's, or a function is being traced on this
  ///   thread (see ``changedWhileTracing(_:op:location:)``); ``SessionError/nonFinite(op:name:location:)``
  ///   when the value holds NaN or infinity while ``withNumericChecks(_:_:)`` is on.
  func assignEagerly(_ value: NDArray, to variable: Tensor, location: SourceLocation?) throws {
    guard variable.graph === self, let store = eager, variable.isVariable else {
      throw GraphError.notAVariable(op: "assign", tensor: variable.name, location: location)
    }
    if EagerScope.trace != nil { throw Self.changedWhileTracing(variable, op: "assign", location: location) }
    guard value.dtype == variable.dtype, PartialShape(value.shape) == variable.shape else {
      throw GraphError.invalidArgument(
        op: "assign",
        reason: "'\(variable.name)' is \(variable.dtype) \(variable.shape), the value is \(value.dtype) \(value.shape)",
        location: location)
    }
    if EagerScope.checksNumerics && !isFinite(value) {
      throw SessionError.nonFinite(op: "Assign", name: variable.operation.name, location: location)
    }
    store.context.variables[variable.node] = value
  }
}

extension Tensor {
  /// Moves an eager variable's value out of its graph, leaving the variable without one until
  /// ``assign(_:file:line:)`` gives it a value again: with no other copy alive the array is then
  /// uniquely referenced, so an optimizer can update it in place instead of copying it.
  /// - Throws: ``GraphError/notAVariable(op:tensor:location:)`` when the tensor is not an eager
  ///   variable, ``SessionError/uninitializedVariable(name:)`` when it has no value,
  ///   ``GraphError/invalidArgument(op:reason:location:)`` while a function is traced on this
  ///   thread (the update would run once, while tracing).
  package func takeEagerValue(op: String, location: SourceLocation?) throws -> NDArray {
    guard let store = graph.eager, exists, isVariable else {
      throw GraphError.notAVariable(op: op, tensor: name, location: location)
    }
    if EagerScope.trace != nil { throw Graph.changedWhileTracing(self, op: op, location: location) }
    let value = try store.context.variable(node: node)
    store.context.variables[node] = nil
    return value
  }
}

extension Tensor {
  /// An eager value (TF2's `tf.constant` outside a function): operations on it compute at once.
  /// Inside ``GradientTape/record(_:)`` or ``valueWithGradient(at:of:)`` it belongs to the tape,
  /// so its uses are recorded.
  ///
  /// ```swift
  /// let x = Tensor([1, 2, 3] as NDArray)
  /// let y = try square(x) * 2     // [2, 8, 18], computed now
  /// print(try y.value)
  /// ```
  public init(_ value: NDArray, name: String = "Const", file: StaticString = #fileID, line: UInt = #line) {
    self = Graph.leafGraph().constant(value, name: name, file: file, line: line)
  }

  /// A scalar eager value of `dtype`.
  public init(_ value: Double, dtype: DType = .float32, file: StaticString = #fileID, line: UInt = #line) {
    self.init(NDArray(scalar: value, dtype: dtype), file: file, line: line)
  }

  /// The value of an eager tensor (a variable's current value).
  ///
  /// While ``compile(_:)`` traces a function on this thread, a value read there would become a
  /// constant of the trace, used by every later call however the variables change; so a tensor
  /// of the trace has none, and an eager variable's is refused (TF2's `.numpy()` inside a
  /// `tf.function` raises too). Compute with the tensor itself (the trace reads variables at
  /// every call), or return it from the function and read the call's result.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` for a tensor of a symbolic
  ///   graph (run it in a ``Session``, or trace the code with ``compile(_:)``), of a function
  ///   being traced, an eager variable read while a function is traced, or an eager placeholder.
  public var value: NDArray {
    get throws {
      guard let store = graph.eager else {
        throw GraphError.invalidArgument(
          op: "value",
          reason: graph.isTrace
            ? "'\(name)' is a tensor of a function traced by compile: it has no value of its own "
              + "(read while tracing, it would be a constant of every later call); compute with the tensor itself, "
              + "or return it from the function and read the call's result"
            : "'\(name)' is a tensor of a symbolic graph: it has no value until a Session runs it",
          location: nil)
      }
      // The store's flags, not a dynamic cast of the node's primitive (`isVariable`).
      guard exists, store.records[node].hasValue || store.records[node].isVariable else {
        throw GraphError.invalidArgument(op: "value", reason: "'\(name)' has no value (a placeholder in an eager graph)", location: nil)
      }
      if store.records[node].isVariable {
        if EagerScope.trace != nil {
          throw GraphError.invalidArgument(
            op: "value",
            reason: "'\(name)' is an eager variable read while compile traces a function: its value now would be a "
              + "constant of every later call, whatever the variable holds then; compute with the variable itself "
              + "(the trace reads it at every call), or read its value outside the function",
            location: nil)
        }
        return try store.context.variable(node: node)
      }
      return store.values[store.records[node].firstSlot + output]
    }
  }

  /// Sets an eager variable's value (TF2's `variable.assign(value)`); eager tensors that read
  /// it before keep the value they read.
  /// - Throws: ``GraphError`` when the tensor is not an eager variable, or the value's dtype or
  ///   shape differs from the variable's, or while ``compile(_:)`` traces a function on this
  ///   thread (the assignment would run once, while tracing, not at each call: return the value
  ///   from the function and assign the call's result); ``SessionError/nonFinite(op:name:location:)``
  ///   when the value holds NaN or infinity while ``withNumericChecks(_:_:)`` is on (the variable
  ///   keeps its value).
  public func assign(_ value: NDArray, file: StaticString = #fileID, line: UInt = #line) throws {
    try graph.assignEagerly(value, to: self, location: SourceLocation(file, line))
  }

  /// Whether the tensor is an eager value (see ``Graph/isEager``).
  public var isEager: Bool { graph.isEager }

  /// Whether an operation may combine this tensor with `other`: same graph, both eager (an
  /// eager operation brings values of other eager graphs in), or one eager and the other of a
  /// ``compile(_:)`` trace (which captures eager values: variables by reference, fed at each
  /// call). Layers check their inputs with it.
  public func canMeet(_ other: Tensor) -> Bool {
    graph === other.graph || (isEager && other.isEager) || (isEager && other.graph.isTrace) || (graph.isTrace && other.isEager)
  }
}

extension EagerStore {
  /// Evaluates the node just appended to `graph`, whose store this is (see
  /// `Graph.evaluateLast(_:inputs:)`); on failure the node is removed again.
  func evaluateLast(of graph: Graph, _ primitive: some Primitive, inputs: UnsafeBufferPointer<Tensor>) throws {
    let id = graph.nodes.count - 1
    let checking = EagerScope.checksNumerics
    // The node is read in place (`graph.nodes[id]`), not copied: a copy retains and releases each of
    // its arrays and its primitive, for every eager operation.
    for i in inputs.indices where !records[inputs[i].node].hasValue {
      let node = graph.nodes.removeLast()
      throw GraphError.invalidOperation(
        op: node.primitive.typeName, name: node.name, inputs: inputs.map(\.inputDescription),
        reason: "'\(inputs[i].name)' has no value (a placeholder in an eager graph)", location: node.location)
    }
    // A leaf made while checks were on, holding NaN or infinity: named as an operation's result.
    if checking {
      for i in inputs.indices where records[inputs[i].node].isNonFinite {
        graph.nodes.removeLast()
        let leaf = graph.nodes[inputs[i].node]
        throw SessionError.nonFinite(op: leaf.primitive.typeName, name: leaf.name, location: leaf.location)
      }
    }
    let first = values.count
    let inputCount = graph.nodes[id].inputs.count
    let outputCount = graph.nodes[id].outputs.count
    records.append(EagerRecord(firstSlot: first, hasValue: true, isVariable: false))
    // Each output starts from a dead graph's value when there is one (see `spares`).
    for _ in 0..<outputCount { values.append(spares.popLast() ?? NDArray()) }
    // (No `context.reserve(nodes:)`: the variable table is indexed by leaves, which reserve it,
    // and every other access checks its bounds.)
    context.currentNode = id
    do {
      try withUnsafeTemporaryAllocation(of: Int.self, capacity: inputCount + outputCount) { slots in
        for i in 0..<inputCount {
          let ref = graph.nodes[id].inputs[i]
          slots[i] = records[ref.node].firstSlot + ref.output
        }
        for o in 0..<outputCount { slots[inputCount + o] = first + o }
        try values.withUnsafeMutableBufferPointer { values in
          let base = values.baseAddress!
          try primitive.evaluate(
            Operands(base: base, slots: UnsafePointer(slots.baseAddress!), count: inputCount),
            Results(base: base, slots: UnsafePointer(slots.baseAddress! + inputCount), count: outputCount),
            context)
        }
      }
    } catch {
      let node = graph.nodes.removeLast()
      values.removeLast(outputCount)
      records.removeLast()
      let reason = (error as? ShapeError)?.message ?? "\(error)"
      throw GraphError.invalidOperation(
        op: node.primitive.typeName, name: node.name, inputs: inputs.map(\.inputDescription),
        reason: reason, location: node.location)
    }
    if checking {
      for o in 0..<outputCount where !isFinite(values[first + o]) {
        let node = graph.nodes.removeLast()
        values.removeLast(outputCount)
        records.removeLast()
        throw SessionError.nonFinite(op: node.primitive.typeName, name: node.name, location: node.location)
      }
    }
    // While compile traces a function on this thread, random values drawn here (and values
    // computed from them) are marked: the trace refuses to capture them as constants.
    if EagerScope.isTracing {
      var drawn = Graph.drawsRandomValues(primitive)
      for i in inputs.indices where records[inputs[i].node].drawnWhileTracing { drawn = true }
      if drawn { records[id].drawnWhileTracing = true }
    }
    // Shapes the rule could not know (none for concrete inputs, but kept exact regardless).
    for o in 0..<outputCount where !graph.nodes[id].outputs.shape(o, isExactly: values[first + o].shape) {
      let v = values[first + o]
      graph.nodes[id].outputs[o] = TensorInfo(dtype: v.dtype, shape: PartialShape(v.shape))
    }
  }
}

extension EagerStore {
  /// Gives leaf `id`, just appended to this store's graph, its value (see
  /// `Graph.evaluateLeaf(constant:isVariable:)`).
  func evaluateLeaf(id: Int, constant: NDArray?, isVariable: Bool) {
    let first = values.count
    let hasValue: Bool
    if let constant {
      // (The variable table is only grown for variables: a tape's constants would otherwise
      // fill it with nils that every recycling empties again.)
      values.append(constant)
      hasValue = true
    } else if isVariable {
      context.reserve(nodes: id + 1)
      values.append(context.variables[id] ?? NDArray())
      hasValue = context.variables[id] != nil
    } else {
      values.append(NDArray())
      hasValue = false
    }
    records.append(EagerRecord(firstSlot: first, hasValue: hasValue, isVariable: isVariable))
  }

  /// Checks constant leaf `id`'s `value` (called while ``withNumericChecks(_:_:)`` is on): holding NaN
  /// or infinity, the leaf is marked, so that the first operation reading it (or a copy of it
  /// brought into another graph) throws naming it: making a constant cannot throw. Values brought
  /// in from other graphs are not checked again: they were checked where they were made, if
  /// checks were on there.
  func checkConstant(id: Int, _ value: NDArray) {
    if !isFinite(value) { records[id].isNonFinite = true }
  }
}
