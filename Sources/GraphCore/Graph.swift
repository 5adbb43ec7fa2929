import ArrayCore

/// A static shape that may leave some sizes unknown until run time (`nil`), such as the batch
/// dimension of a placeholder: `[nil, 3]` prints as `[?, 3]`.
public struct PartialShape: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible {
  /// The sizes; `nil` is unknown.
  public var dimensions: [Int?]
  /// Creates a partial shape.
  public init(_ dimensions: [Int?]) {
    self.dimensions =
      switch dimensions.count {
      case 1 where dimensions[0] == 1: PartialShape.unitVector
      case 2 where dimensions[0] == 1 && dimensions[1] == 1: PartialShape.unitMatrix
      default: dimensions
      }
  }
  /// Creates a fully known partial shape from a ``Shape``.
  public init(_ shape: Shape) {
    // Scalars and short vectors (every eager constant's type is built from its value's shape)
    // share one array each instead of allocating one: arrays are copy-on-write.
    if shape.rank == 1, shape.dimensions[0] == 1 {
      self.dimensions = PartialShape.unitVector
    } else if shape.rank == 1, shape.dimensions[0] >= 0, shape.dimensions[0] < PartialShape.vectors.count {
      self = PartialShape.vectors[shape.dimensions[0]]
    } else if shape.rank == 0 {
      self.dimensions = []
    } else if shape.rank == 2, shape.dimensions[0] == 1, shape.dimensions[1] == 1 {
      self.dimensions = PartialShape.unitMatrix
    } else {
      self.dimensions = shape.dimensions.map { $0 }
    }
  }
  /// `[0]` to `[64]`.
  private static let vectors: [PartialShape] = (0...64).map { PartialShape([$0] as [Int?]) }
  /// The partial shape with a dimension of size 1 inserted at `axis` (in `0...rank`); `[1]` and
  /// `[1, 1]` come out shared, without building an array.
  func inserting(unitAxis axis: Int) -> PartialShape {
    if rank <= 1 && dimensions.allSatisfy({ $0 == 1 }) {
      return PartialShape(dimensions: rank == 0 ? PartialShape.unitVector : PartialShape.unitMatrix)
    }
    var d = dimensions
    d.insert(1, at: axis)
    return PartialShape(d)
  }
  /// Wraps `dimensions` as they are (already shared where they should be).
  private init(dimensions: [Int?]) { self.dimensions = dimensions }
  /// `[1]` and `[1, 1]` as statically initialized arrays, never freed, so that copying them
  /// costs no atomic reference counting (see ``ArrayCore/Shape/init(_:)``).
  private static let unitVector: [Int?] = [1]
  private static let unitMatrix: [Int?] = [1, 1]
  /// `let s: PartialShape = [nil, 3]`.
  public init(arrayLiteral elements: Int?...) { self.init(elements) }
  /// The number of dimensions.
  public var rank: Int { dimensions.count }
  /// The shape, when every size is known.
  public var concrete: Shape? { Shape(known: dimensions) }
  /// Whether a concrete shape fits: same rank and equal known sizes.
  public func accepts(_ shape: Shape) -> Bool {
    guard shape.rank == rank else { return false }
    for i in dimensions.indices {
      if let d = dimensions[i], d != shape.dimensions[i] { return false }
    }
    return true
  }
  /// `[?, 3]`.
  public var description: String {
    "[" + dimensions.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
  }
}

/// The static type of a graph tensor: its dtype and partial shape.
public struct TensorInfo: Sendable, Hashable {
  /// The element type.
  public var dtype: DType
  /// The shape, with unknown sizes as `nil`.
  public var shape: PartialShape
  /// Creates a tensor type.
  public init(dtype: DType, shape: PartialShape) {
    self.dtype = dtype
    self.shape = shape
  }
}

/// A reference to one output of one node, without a reference to the graph.
struct ValueRef: Hashable, Sendable {
  var node: Int
  var output: Int
}

/// One node of a graph: an operation with its primitive, inputs and output types.
struct Node: Sendable {
  var primitive: any Primitive {
    didSet { primitiveType = ObjectIdentifier(type(of: primitive)) }
  }
  /// The primitive's type, read without copying the existential (the backward cache compares
  /// tapes by it).
  private(set) var primitiveType: ObjectIdentifier
  /// Up to two inline (no array per node: an eager tape appends one per operation).
  var inputs: NodeInputs
  /// One inline (as `inputs`).
  var outputs: NodeOutputs
  var name: String
  var location: SourceLocation?
  var isGradient: Bool
  /// Operations that must run before this one although no value flows (TF1 control inputs).
  var controlInputs: [Int] = []
  /// Whether the primitive is a ``VariablePrimitive`` (known when the node is made, so that
  /// ``Tensor/isVariable`` needs no dynamic cast).
  var isVariable = false

  init<P: Primitive>(
    primitive: P, inputs: NodeInputs, outputs: NodeOutputs, name: String, location: SourceLocation?,
    isGradient: Bool, controlInputs: [Int] = [], isVariable: Bool = false
  ) {
    self.primitive = primitive
    primitiveType = ObjectIdentifier(P.self)
    self.inputs = inputs
    self.outputs = outputs
    self.name = name
    self.location = location
    self.isGradient = isGradient
    self.controlInputs = controlInputs
    self.isVariable = isVariable
  }
}

/// A computational graph (TF1's `tf.Graph`): an append-only list of operations.
///
/// Operations are created by the builder functions (``multiply(_:_:name:file:line:)``,
/// ``Graph/placeholder(_:shape:name:file:line:)``...). A graph only describes the computation;
/// a ``Session`` runs it and holds the variables' values. Build a graph from one thread.
public final class Graph: @unchecked Sendable {
  /// The operations, in creation order. A graph is built from one thread (see above), so the
  /// dynamic exclusivity check is not needed on this hot path.
  @exclusivity(unchecked) var nodes: [Node] = []
  /// Scratch space for the input types handed to a shape rule (reused by every operation).
  @exclusivity(unchecked) var inputTypes: [TensorInfo] = []
  /// The operation names and name scopes (made at the first name: eager graphs have none).
  private var namesIfAny: OperationNames?
  private var names: OperationNames {
    if let namesIfAny { return namesIfAny }
    let made = OperationNames()
    namesIfAny = made
    return made
  }
  /// The suffixes naming has tried: linear in the names made, which the tests check (a count,
  /// not a time).
  package var namingProbes: Int { namesIfAny?.probes ?? 0 }
  /// Indices of variable nodes, in creation order.
  private(set) var variableNodes: [Int] = []
  func variableNodesAppend(_ node: Int) { variableNodes.append(node) }
  var gradientDepth = 0
  var gradientLocation: SourceLocation?
  /// While the gradient walker builds an eager graph's gradients: the tape running when the walk
  /// began (``EagerScope/tape``, read once per walk instead of once per operation), `.some(nil)`
  /// when none was; `nil` otherwise.
  @exclusivity(unchecked) var walkTape: Graph?? = nil
  /// (variable node, initial value) pairs, in creation order.
  var initialValues: [(variable: Int, value: ValueRef)] = []
  /// Nodes of the operations a training step must also run (see ``updateOperations``).
  var updateNodes: [Int] = []
  /// The initializer ``Session/initializeVariables()`` made (or an imported file's `init`) and the
  /// number of variables it initializes: reused while no variable is added, so that initializing
  /// again (each trial of a search, each loaded model) adds no operations and no plan.
  var reusableInitializer: (variables: Int, node: Int)?
  /// Eager tensors of other graphs brought into this one by value (see `adopt`), by source: the
  /// local output (a `ValueRef`, not a `Tensor`, which would hold this graph strongly).
  @exclusivity(unchecked) var imports = ImportTable()
  /// Placeholders standing for eager variables captured while tracing, with the variables
  /// (fed with the variables' current values at each call of a ``CompiledFunction``).
  var capturedVariables: [(placeholder: Int, variable: Tensor)] = []
  /// Whether this graph is a ``CompiledFunction``'s trace, which captures the eager variables
  /// its operations read (a graph run by a ``Session`` has no one to feed them).
  package var isTrace = false
  /// Names of imported TensorFlow outputs that Backprop computes with operations of other
  /// names (`bn/FusedBatchNormV3:1`, a fused batch normalization's mean): what
  /// ``tensor(named:)`` finds when no operation has the name.
  var importedNames: [String: ValueRef] = [:]
  /// The values of an imported file's `Const` nodes that its operations read only as
  /// attributes (a `Reshape`'s shape), by name: not built when importing (see
  /// `GraphDefImporter.LazyConstants`), built by ``tensor(named:)`` when asked for.
  var importedConstants: [String: NDArray] = [:]
  /// The nodes of an imported TF1 graph that importing skipped (TensorFlow's gradient subgraphs,
  /// rebuilt as training updates; its Saver), by name, with what ``requiredTensor(named:)``
  /// says of them.
  var skippedTensorFlowNodes: [String: String] = [:]
  /// The step counters an imported TF1 Adam update counts with in place of TensorFlow's
  /// `beta1_power` and `beta2_power` (by the counter variable's name: those variables' names
  /// with β₁ and β₂), so that a TensorFlow checkpoint restores the count
  /// (``Checkpoint/restore(session:fromTensorFlow:)``).
  var tensorFlowStepCounters: [String: [(power: String, beta: Double)]] = [:]

  /// How the graph runs its operations: described for a session, or computed as they are added.
  package let mode: GraphMode
  /// The values of an eager graph's operations (`nil` for a symbolic graph).
  let eager: EagerStore?

  /// Creates an empty graph (TF1's `ops.reset_default_graph()` is simply a new `Graph`).
  public init() {
    mode = .symbolic
    eager = nil
  }

  /// Creates an empty graph of `mode`.
  init(mode: GraphMode) {
    self.mode = mode
    if mode == .symbolic {
      eager = nil
    } else if var parts = EagerRecycler.take(mode) {
      // A dead eager graph's cleared arrays (see `EagerRecycler`), moved in (a copy would
      // retain each array and the parts' release it again).
      nodes = EagerRecycler.moved(&parts.nodes, leaving: [])
      inputTypes = EagerRecycler.moved(&parts.inputTypes, leaving: [])
      imports = EagerRecycler.moved(&parts.imports, leaving: ImportTable())
      eager = parts.store
      parts.store.context.graph = self
    } else {
      let store = EagerStore()
      eager = store
      store.context.graph = self
      // A tape records a step's operations and gradients (tens of nodes), a value's graph its
      // inputs and one result: room for them at once, not by doubling from one.
      let capacity = mode == .tape ? 32 : 4
      nodes.reserveCapacity(capacity)
      store.reserve(capacity)
    }
  }

  deinit {
    // Only this graph holds its store (see `EagerStore`): the store and the graph's arrays,
    // emptied, go to the next eager graph.
    if let eager {
      EagerRecycler.give(
        nodes: &nodes, inputTypes: &inputTypes, imports: &imports, store: eager, mode: mode)
    }
  }

  /// Whether the graph computes each operation when it is added (eager execution: a tape or an
  /// eager value's graph) instead of describing it for a ``Session``.
  public var isEager: Bool { mode != .symbolic }

  /// The number of operations in the graph.
  public var operationCount: Int { nodes.count }

  /// All operations, in creation order.
  public var operations: [Operation] { nodes.indices.map { Operation(graph: self, id: $0) } }

  /// Every variable, in creation order.
  public var variables: [Tensor] { variableNodes.map { Tensor(graph: self, node: $0, output: 0) } }

  /// The trainable variables, in creation order: the default list that optimizers update
  /// (TF1's `tf.trainable_variables()`).
  public var trainableVariables: [Tensor] {
    variableNodes.filter { (nodes[$0].primitive as? VariablePrimitive)?.trainable ?? false }
      .map { Tensor(graph: self, node: $0, output: 0) }
  }

  /// Runs `body` with `name` pushed on the name-scope stack: operations created inside get names
  /// `name/...` (TF1's `tf.name_scope`).
  public func withNameScope<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
    // Eager tapes do not name their operations (see `operationName`).
    if mode == .tape { return try body() }
    let names = names
    names.push(name)
    defer { names.pop() }
    return try body()
  }

  /// A name not yet used in the graph: the scoped `base`, or `base_1`, `base_2`... (TF1 rules).
  func uniqueName(_ base: String) -> String { names.unique(base) }

  /// `name`, or `name_1`, `name_2`...: the first that is neither an operation's name nor a
  /// scope of one (no operation is named `name/...`), in O(1) amortized (the layers' scopes).
  package func uniqueScope(_ name: String) -> String { names.uniqueScope(name) }

  /// Adds an operation: checks the inputs belong to this graph, infers the outputs' types with
  /// the primitive's shape rule, and appends the node.
  /// - Throws: ``GraphError`` naming the operation, its inputs and `location`.
  package func addOperation(
    _ primitive: some Primitive, inputs: [Tensor], controlDependencies: [Operation] = [],
    name: String? = nil, location: SourceLocation? = nil
  ) throws -> Operation {
    let (graph, id) = try inputs.withUnsafeBufferPointer {
      try addNode(primitive, inputs: $0, controlDependencies: controlDependencies, name: name, location: location)
    }
    return Operation(graph: graph, id: id)
  }

  /// ``addOperation(_:inputs:controlDependencies:name:location:)``'s work: the graph the
  /// operation went to and its node (no ``Operation`` made, so ``apply(_:_:name:location:)``
  /// builds its tensor from the returned graph reference without another retain and release).
  ///
  /// The inputs are a buffer, not an array: ``apply(_:_:_:name:location:)`` lends its operands
  /// without retaining their graphs (see ``withLent(_:_:_:)``).
  private func addNode(
    _ primitive: some Primitive, inputs: UnsafeBufferPointer<Tensor>, controlDependencies: [Operation],
    name: String?, location: SourceLocation?
  ) throws -> (graph: Graph, id: Int) {
    if mode != .symbolic || !Graph.all(inputs, in: self) {
      // Eager values: the operation goes to the graph that records it (the running tape, or a
      // new value), and inputs from other eager graphs are brought in by value.
      let target = Graph.target(for: inputs, default: self)
      if Graph.all(inputs, in: target) {
        let id = try target.appendOperation(
          primitive, inputs: inputs, controlDependencies: controlDependencies, name: name, location: location)
        return (target, id)
      }
      let adopted = try inputs.map { try target.adopt($0, op: primitive.typeName, location: location) }
      let id = try adopted.withUnsafeBufferPointer {
        try target.appendOperation(
          primitive, inputs: $0, controlDependencies: controlDependencies, name: name, location: location)
      }
      return (target, id)
    }
    let id = try appendOperation(
      primitive, inputs: inputs, controlDependencies: controlDependencies, name: name, location: location)
    return (self, id)
  }

  /// Whether every tensor of `inputs` belongs to `graph` (read in place: no tensor copied, so
  /// no retain and release of its graph per input, as `contains(where:)`'s copies make).
  @inline(__always) static func all(_ inputs: UnsafeBufferPointer<Tensor>, in graph: Graph) -> Bool {
    for i in inputs.indices where inputs[i].graph !== graph { return false }
    return true
  }

  /// ``addOperation(_:inputs:controlDependencies:name:location:)`` once the graph is chosen.
  private func appendOperation(
    _ primitive: some Primitive, inputs: UnsafeBufferPointer<Tensor>, controlDependencies: [Operation],
    name: String?, location: SourceLocation?
  ) throws -> Int {
    // Inputs read in place (a `for x in inputs` loop copies each tensor: a retain and a release
    // of its graph); an eager input of this graph needs only `check`'s first two tests, and
    // the full check (with the type name it needs for errors) runs otherwise.
    for i in inputs.indices where !(mode != .symbolic && inputs[i].graph === self && inputs[i].exists) {
      try check(inputs[i], op: primitive.typeName, location: location)
    }
    if let arity = primitive.arity, arity != inputs.count {
      throw GraphError.invalidOperation(
        op: primitive.typeName, name: scopedPreview(name ?? primitive.defaultName), inputs: inputs.map(\.inputDescription),
        reason: "takes \(arity) input\(arity == 1 ? "" : "s"), got \(inputs.count)", location: location)
    }
    // The inputs' types in a reused array (no allocation per operation; a shape rule that keeps
    // the array gets its own copy when the next operation refills it), moved into a local for
    // the rule's call (a stored property passed as an argument is retained and released
    // around the call) and moved back after it.
    var inputTypes: [TensorInfo] = []
    swap(&inputTypes, &self.inputTypes)
    defer { swap(&inputTypes, &self.inputTypes) }
    if inputTypes.count == inputs.count {
      for i in inputs.indices { inputTypes[i] = nodes[inputs[i].node].outputs[inputs[i].output] }
    } else {
      inputTypes.removeAllKeepingCapacity()
      for i in inputs.indices { inputTypes.append(nodes[inputs[i].node].outputs[inputs[i].output]) }
    }
    let outputs: NodeOutputs
    do {
      // A single-output rule first: no array of output types to build.
      if let info = try primitive.outputType(for: inputTypes) {
        // An input's own type (elementwise rules mostly) was validated when that input was made
        // (or, in a symbolic graph, by `check` above).
        // (Compared in place, by index: `contains` copies each element, a retain and a release
        // of its shape's array.)
        var isAnInputType = false
        for i in inputTypes.indices where inputTypes[i] == info {
          isAnInputType = true
          break
        }
        if !isAnInputType {
          try Shape.validate(partial: info.shape.dimensions, dtype: info.dtype)
        }
        outputs = NodeOutputs(info)
      } else {
        let infos = try primitive.outputTypes(for: inputTypes)
        for info in infos { try Shape.validate(partial: info.shape.dimensions, dtype: info.dtype) }
        outputs = NodeOutputs(infos)
      }
    } catch let error as ShapeError {
      throw GraphError.invalidOperation(
        op: primitive.typeName, name: scopedPreview(name ?? primitive.defaultName),
        inputs: inputs.map(\.inputDescription), reason: error.message, location: location)
    }
    let controlInputs: [Int] =
      controlDependencies.isEmpty
      ? []
      : try controlDependencies.map { dep in
        try check(dep, op: primitive.typeName, location: location)
        return dep.id
      }
    // Built in the append (moved into the array, not copied from a local and destroyed).
    nodes.append(
      Node(
        primitive: primitive, inputs: NodeInputs(inputs),
        outputs: outputs, name: operationName(name ?? primitive.defaultName), location: location,
        isGradient: gradientDepth > 0, controlInputs: controlInputs,
        isVariable: inputs.isEmpty && primitive is VariablePrimitive))
    if eager != nil { try evaluateLast(primitive, inputs: inputs) }
    return nodes.count - 1
  }

  /// The name of a new operation: unique (TF1's rules) in a symbolic graph; in an eager graph,
  /// where operations are not looked up by name, the base name as given (no string work).
  @inline(__always) func operationName(_ base: String) -> String {
    mode == .symbolic ? uniqueName(base) : base
  }

  /// Adds a single-output operation and returns its output.
  package func apply(
    _ primitive: some Primitive, _ inputs: [Tensor], name: String? = nil,
    location: SourceLocation? = nil
  ) throws -> Tensor {
    let (graph, id) = try inputs.withUnsafeBufferPointer {
      try addNode(primitive, inputs: $0, controlDependencies: [], name: name, location: location)
    }
    return try Self.output(of: graph, id, primitive, location: location)
  }

  /// ``apply(_:_:name:location:)`` of one operand, lent to the graph without a retain of its graph.
  package func apply(
    _ primitive: some Primitive, _ x: Tensor, name: String? = nil, location: SourceLocation? = nil
  ) throws -> Tensor {
    let (graph, id) = try Self.withLent(x) {
      try addNode(primitive, inputs: $0, controlDependencies: [], name: name, location: location)
    }
    return try Self.output(of: graph, id, primitive, location: location)
  }

  /// ``apply(_:_:name:location:)`` of two operands, lent to the graph without retains of their
  /// graphs (an array literal `[x, y]` retains and releases both: four atomic operations per
  /// eager operation).
  package func apply(
    _ primitive: some Primitive, _ x: Tensor, _ y: Tensor, name: String? = nil, location: SourceLocation? = nil
  ) throws -> Tensor {
    let (graph, id) = try Self.withLent(x, y) {
      try addNode(primitive, inputs: $0, controlDependencies: [], name: name, location: location)
    }
    return try Self.output(of: graph, id, primitive, location: location)
  }

  /// The layout of a ``Tensor`` with an unretained graph reference.
  private struct LentTensor {
    unowned(unsafe) let graph: Graph
    let node: Int
    let output: Int
  }

  /// Runs `body` with a buffer of `x` and `y` that does not own the tensors: their bits, copied
  /// without retaining their graphs, and never released. Safe because `x` and `y` are the
  /// caller's (borrowed) arguments, alive until `body` returns, and the buffer does not outlive
  /// `body`; a tensor copied out of the buffer is a normal copy (it retains its graph).
  @inline(__always) private static func withLent<R>(
    _ x: borrowing Tensor, _ y: borrowing Tensor, _ body: (UnsafeBufferPointer<Tensor>) throws -> R
  ) throws -> R {
    try withUnsafeTemporaryAllocation(of: LentTensor.self, capacity: 2) { lent in
      lent.initialize(repeating: LentTensor(graph: x.graph, node: x.node, output: x.output))
      lent[1] = LentTensor(graph: y.graph, node: y.node, output: y.output)
      return try viewed(lent, body)
    }
  }

  /// ``withLent(_:_:_:)`` of one tensor.
  @inline(__always) private static func withLent<R>(
    _ x: borrowing Tensor, _ body: (UnsafeBufferPointer<Tensor>) throws -> R
  ) throws -> R {
    try withUnsafeTemporaryAllocation(of: LentTensor.self, capacity: 1) { lent in
      lent.initialize(repeating: LentTensor(graph: x.graph, node: x.node, output: x.output))
      return try viewed(lent, body)
    }
  }

  /// `lent` viewed as tensors (the same layout: a graph reference and two integers), never
  /// deinitialized as tensors: the lent tensors own nothing (`LentTensor` is trivial, so the
  /// temporary allocation needs no deinitialization either).
  @inline(__always) private static func viewed<R>(
    _ lent: UnsafeMutableBufferPointer<LentTensor>, _ body: (UnsafeBufferPointer<Tensor>) throws -> R
  ) throws -> R {
    // The same fields at the same offsets (checked in debug builds, which the tests run): a
    // reordering of `Tensor`'s stored properties must fail here, not read a node as a graph.
    assert(
      MemoryLayout<LentTensor>.size == MemoryLayout<Tensor>.size && MemoryLayout<LentTensor>.stride == MemoryLayout<Tensor>.stride
        && MemoryLayout<Tensor>.offset(of: \Tensor.node) == MemoryLayout<LentTensor>.offset(of: \LentTensor.node)
        && MemoryLayout<Tensor>.offset(of: \Tensor.output) == MemoryLayout<LentTensor>.offset(of: \LentTensor.output))
    return try UnsafeRawBufferPointer(lent).withMemoryRebound(to: Tensor.self) { try body($0) }
  }

  /// The output of the single-output operation `id` of `graph`, made by `apply`.
  @inline(__always) private static func output(
    of graph: Graph, _ id: Int, _ primitive: some Primitive, location: SourceLocation?
  ) throws -> Tensor {
    // The node's output count read in place (not a copy of the node).
    guard graph.nodes.withUnsafeBufferPointer({ $0[id].outputs.count }) > 0 else {
      let op = Operation(graph: graph, id: id)
      throw GraphError.invalidArgument(
        op: primitive.typeName,
        reason: "'\(op.name)' has no outputs, so apply has no tensor to return; use addOperation and run it as a target",
        location: location)
    }
    return Tensor(graph: graph, node: id, output: 0)
  }

  /// Checks that `tensor` is an existing output of an operation of this graph whose static
  /// shape is valid (``ArrayCore/Shape/validate(partial:dtype:)``): every API that takes a
  /// tensor calls this first.
  /// - Throws: ``GraphError/foreignTensor(op:tensor:location:)`` for a tensor of another graph,
  ///   ``GraphError/invalidArgument(op:reason:location:)`` for an output the operation does not
  ///   have (``Operation/output`` of an operation without outputs) or an invalid shape.
  public func check(_ tensor: Tensor, op: String, location: SourceLocation? = nil) throws {
    guard tensor.graph === self else {
      throw GraphError.foreignTensor(op: op, tensor: tensor.name, location: location)
    }
    guard tensor.exists else {
      throw GraphError.invalidArgument(
        op: op,
        reason: "'\(nodes[tensor.node].name)' (\(nodes[tensor.node].primitive.typeName)) has "
          + "\(nodes[tensor.node].outputs.count) output(s), so it has no output \(tensor.output); "
          + "an operation without outputs can only be run as a target",
        location: location)
    }
    // An eager value's shape was validated when it was computed.
    guard mode == .symbolic else { return }
    let info = nodes[tensor.node].outputs[tensor.output]
    do { try Shape.validate(partial: info.shape.dimensions, dtype: info.dtype) } catch {
      throw GraphError.invalidOperation(
        op: op, name: tensor.name, inputs: [tensor.inputDescription],
        reason: "invalid input: \(error.message)", location: location)
    }
  }

  /// Checks that `operation` belongs to this graph.
  /// - Throws: ``GraphError/foreignTensor(op:tensor:location:)``.
  public func check(_ operation: Operation, op: String, location: SourceLocation? = nil) throws {
    guard operation.graph === self else {
      throw GraphError.foreignTensor(op: op, tensor: operation.name, location: location)
    }
  }

  private func scopedPreview(_ base: String) -> String { namesIfAny?.scoped(base) ?? base }
}

/// A symbolic value in a graph: one output of one operation (TF1's `tf.Tensor`).
///
/// A tensor holds no numbers; a ``Session`` computes them. Tensors are hashable so they can key
/// feed dictionaries.
public struct Tensor: Hashable, @unchecked Sendable, CustomStringConvertible {
  /// The graph the tensor belongs to.
  public let graph: Graph
  let node: Int
  /// Which output of its operation this tensor is.
  public let output: Int

  init(graph: Graph, node: Int, output: Int) {
    self.graph = graph
    self.node = node
    self.output = output
  }

  /// The operation that produces this tensor.
  public var operation: Operation { Operation(graph: graph, id: node) }
  /// Whether the operation has this output (``Operation/output`` of an operation without
  /// outputs gives a tensor that does not exist: every builder and session refuses it).
  public var exists: Bool { output >= 0 && output < graph.nodes[node].outputs.count }
  /// The element type (`float32` for an output that does not exist, see ``exists``).
  public var dtype: DType { exists ? graph.nodes[node].outputs[output].dtype : .float32 }
  /// The static shape, unknown sizes `nil` (`[]` for an output that does not exist, see
  /// ``exists``).
  public var shape: PartialShape { exists ? graph.nodes[node].outputs[output].shape : [] }
  /// TF-style name: `<operation name>:<output index>`.
  public var name: String { "\(graph.nodes[node].name):\(output)" }
  /// Whether this tensor is a variable (the output of a variable operation).
  public var isVariable: Bool { graph.nodes[node].isVariable }

  /// The tensor's name, static shape, dtype and creation site, as error messages list inputs.
  public var inputDescription: InputDescription {
    InputDescription(name: name, shape: shape, dtype: dtype, location: graph.nodes[node].location)
  }

  /// Two tensors are equal when they are the same output of the same node of the same graph.
  public static func == (a: Tensor, b: Tensor) -> Bool {
    a.graph === b.graph && a.node == b.node && a.output == b.output
  }
  /// Hashes the node and output as one word (tensors of different graphs may collide; `==`
  /// tells them apart): feed dictionaries are built at every step, so the hash is kept short.
  public func hash(into h: inout Hasher) {
    h.combine(node &<< 8 ^ output)
  }
  /// `Tensor("mul:0", float32, [1])`.
  public var description: String { "Tensor(\"\(name)\", \(dtype), \(shape))" }
}

/// A node of a graph (TF1's `tf.Operation`): a primitive applied to input tensors.
public struct Operation: Hashable, @unchecked Sendable, CustomStringConvertible {
  /// The graph the operation belongs to.
  public let graph: Graph
  /// The operation's index in its graph (creation order).
  public let id: Int

  /// The unique name, with its name scopes (`gradients/Mul_grad/mul`).
  public var name: String { graph.nodes[id].name }
  /// The primitive's type name (`Mul`, `MatMul`).
  public var type: String { graph.nodes[id].primitive.typeName }
  /// The primitive.
  package var primitive: any Primitive { graph.nodes[id].primitive }
  /// The input tensors.
  public var inputs: [Tensor] {
    graph.nodes[id].inputs.map { Tensor(graph: graph, node: $0.node, output: $0.output) }
  }
  /// Input `i` (``inputs``[i] without building the array).
  package func input(_ i: Int) -> Tensor {
    let ref = graph.nodes[id].inputs[i]
    return Tensor(graph: graph, node: ref.node, output: ref.output)
  }
  /// The output tensors.
  public var outputs: [Tensor] {
    graph.nodes[id].outputs.indices.map { Tensor(graph: graph, node: id, output: $0) }
  }
  /// The first output (for single-output operations). For an operation without outputs (a
  /// training step, an initializer, ``NoOp``) the tensor does not exist (``Tensor/exists`` is
  /// `false`): every builder and ``Session`` given it throws an error naming the operation.
  public var output: Tensor { Tensor(graph: graph, node: id, output: 0) }
  /// The number of outputs.
  public var outputCount: Int { graph.nodes[id].outputs.count }
  /// Where the user built the operation, when known.
  public var location: SourceLocation? { graph.nodes[id].location }
  /// Whether the operation was added by ``gradients(of:withRespectTo:gradientSeeds:file:line:)``.
  public var isGradient: Bool { graph.nodes[id].isGradient }

  /// Same graph and index.
  public static func == (a: Operation, b: Operation) -> Bool { a.graph === b.graph && a.id == b.id }
  /// Hashes the graph's identity and the index.
  public func hash(into h: inout Hasher) {
    h.combine(ObjectIdentifier(graph))
    h.combine(id)
  }
  /// `Operation("train", NoOp)`.
  public var description: String { "Operation(\"\(name)\", \(type))" }
}
