import ArrayCore

/// One kind of graph operation, declared once with everything that defines it: its shape rule,
/// its kernel and its gradient.
///
/// There is no default ``gradient(of:upstream:)``: a primitive that cannot be differentiated
/// says so explicitly by returning `nil` for each input (TF1's `NotDifferentiable`). Gradients
/// are built from ordinary graph operations, so they can be run, drawn and differentiated again.
package protocol Primitive: Sendable {
  /// The operation type's name, TensorFlow style (`Add`, `MatMul`), used in errors and names.
  var typeName: String { get }
  /// The number of inputs the operation takes, or `nil` when it takes a variable number (the
  /// shape rule then checks the count itself, as ``Concat`` does). ``Graph`` checks it before
  /// calling the shape rule, so a rule may read `inputs[0]..<inputs[arity]` freely.
  var arity: Int? { get }
  /// The base of the operation's default name (usually the type name, lower-cased words as TF).
  var defaultName: String { get }
  /// The shape rule: the dtypes and static shapes of the outputs for these inputs.
  /// - Throws: ``ShapeError`` when the inputs are invalid; the graph adds the operation's name,
  ///   its inputs and the user's source line.
  func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo]
  /// The shape rule of a single-output primitive, without an array: the graph asks it first and
  /// calls ``outputTypes(for:)`` when it returns `nil` (the default). A primitive that implements
  /// it derives ``outputTypes(for:)`` from it (one rule).
  /// - Throws: ``ShapeError``, as ``outputTypes(for:)``.
  func outputType(for inputs: [TensorInfo]) throws -> TensorInfo?
  /// The kernel: computes the outputs from the inputs' values, writing into `outputs` (whose
  /// previous buffers may be reused).
  func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws
  /// The vector-Jacobian product: given the gradients flowing into each output (`nil` where none
  /// flows), the gradient for each input, built as graph operations; `nil` for no gradient.
  /// Results may have a broadcast shape: the caller sums them back to each input's shape.
  func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?]
  /// ``gradient(of:upstream:)`` for the inputs in `needed` only (`nil` for the others): an eager
  /// tape runs each gradient operation as it is built, so the walker asks only for the inputs
  /// whose gradient it uses (PyTorch's `needs_input_grad`). The default is
  /// ``gradient(of:upstream:)``, every input's; a primitive that implements this derives
  /// ``gradient(of:upstream:)`` from it (one definition).
  func gradient(of op: Operation, upstream: [Tensor?], needed: InputMask) throws -> [Tensor?]

  /// Whether the outputs may share memory with the inputs or with session state (views such as
  /// reshapes, variable reads). The session drops such outputs after their last use in a run,
  /// instead of keeping them as buffers to reuse, so that the memory they share can be updated
  /// in place. `false` by default.
  var outputsMayAlias: Bool { get }
  /// What the primitive computes when every value it touches holds one element, for the
  /// session's scalar fast path (``ScalarForm``); `nil` (the default) opts out.
  var scalarForm: ScalarForm? { get }
  /// The scalar form for inputs of these static types (``scalarForm`` unless the form depends
  /// on the shapes, as un-broadcasting's does).
  func scalarForm(for inputs: [TensorInfo]) -> ScalarForm?
  /// Whether `other` is this primitive with the same settings (so that the same inputs give the
  /// same outputs and the same gradient operations): how the backward cache recognizes a tape
  /// it has seen (see `BackwardCache`). The default compares the primitive's type and then its
  /// stored values: with `==` for an `Equatable` primitive, byte for byte for a plain one (no
  /// references), and answers `false` otherwise (never a false `true`: a primitive that cannot
  /// tell is never cached).
  func isSame(as other: any Primitive) -> Bool
  /// Whether every primitive of this type is the same (it stores nothing that changes what it
  /// computes): ``isSame(as:)`` then reduces to comparing types.
  var isIdentifiedByType: Bool { get }
}

extension Primitive {
  package func isSame(as other: any Primitive) -> Bool { Self.same(self, other) }
  /// Whether the type stores nothing.
  package var isIdentifiedByType: Bool { MemoryLayout<Self>.size == 0 }

  /// ``isSame(as:)``'s comparison, with `other`'s type opened: equal types first (a metadata
  /// comparison), then the values (``sameValue(_:_:)``).
  static func same<Other: Primitive>(_ primitive: Self, _ other: Other) -> Bool {
    guard Other.self == Self.self else { return false }
    return sameValue(primitive, unsafeBitCast(other, to: Self.self))
  }

  /// The type name.
  package var defaultName: String { typeName }
  /// `false`: the kernel writes its own buffers.
  package var outputsMayAlias: Bool { false }
  /// `nil`: the rule is ``outputTypes(for:)``.
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? { nil }
  /// No scalar form by default.
  package var scalarForm: ScalarForm? { nil }
  /// Every input's gradient (``gradient(of:upstream:)``), whatever `needed` says.
  package func gradient(of op: Operation, upstream: [Tensor?], needed: InputMask) throws -> [Tensor?] {
    try gradient(of: op, upstream: upstream)
  }
  /// ``scalarForm``, whatever the shapes.
  package func scalarForm(for inputs: [TensorInfo]) -> ScalarForm? { scalarForm }
}

/// A set of an operation's inputs, by index (the inputs whose gradient a walk uses); inputs from
/// index 64 on are always members.
package struct InputMask: Sendable {
  /// Bit `i` set: input `i` is a member.
  var bits: UInt64
  /// Every input.
  package static let all = InputMask(bits: ~0)
  /// Whether input `i` is a member.
  package func contains(_ i: Int) -> Bool { i >= 64 || bits & (1 << UInt64(i)) != 0 }
}

/// The input values of an operation during execution (a view into the session's frame).
package struct Operands {
  let base: UnsafeMutablePointer<NDArray>
  let slots: UnsafePointer<Int>
  /// The number of inputs.
  package let count: Int
  /// The value of input `i`.
  package subscript(i: Int) -> NDArray { _read { yield base[slots[i]] } }
  /// The address of input `i`'s value, read in place (see ``ArrayCore/NDArray/scalarAddress(of:as:)``).
  package func address(_ i: Int) -> UnsafePointer<NDArray> { UnsafePointer(base + slots[i]) }
}

/// The output slots of an operation during execution.
package struct Results {
  let base: UnsafeMutablePointer<NDArray>
  let slots: UnsafePointer<Int>
  /// The number of outputs.
  package let count: Int
  /// Bit `i` set: nothing reads output `i` in this run (its plan neither fetches it nor feeds it
  /// to a later step), so a kernel may skip computing it (see ``isRead(_:)``).
  let unread: UInt64

  init(base: UnsafeMutablePointer<NDArray>, slots: UnsafePointer<Int>, count: Int, unread: UInt64 = 0) {
    self.base = base
    self.slots = slots
    self.count = count
    self.unread = unread
  }

  /// Whether anything reads output `i`: `false` only when the session's plan knows that nothing
  /// fetches it or reads it later, so the kernel may leave it empty (a multi-output kernel
  /// skipping work nobody uses, such as `Normalize`'s `x̂` when only its statistics are read).
  /// Eager graphs keep every value, so there it is always `true`.
  package func isRead(_ i: Int) -> Bool { i >= 64 || unread & (1 << UInt64(i)) == 0 }
  /// The value of output `i`; set it to publish a result.
  package subscript(i: Int) -> NDArray {
    get { base[slots[i]] }
    nonmutating set { base[slots[i]] = newValue }
  }
  /// The address of output `i`'s value.
  package func address(_ i: Int) -> UnsafeMutablePointer<NDArray> { base + slots[i] }
  /// Gives in-place access to output `i`'s previous value, so a kernel can reuse its memory
  /// (see ``ArrayCore/NDArray/prepare(shape:dtype:)``).
  package func update<R>(_ i: Int, _ body: (inout NDArray) throws -> R) rethrows -> R {
    try body(&base[slots[i]])
  }
}

/// A program that may hold the current values of some variables of an ``ExecutionContext``
/// (``ExecutionContext/lend(to:)``).
protocol VariableBorrower: AnyObject {
  /// Writes the values it holds into `table` (indexed by node), creating the arrays of
  /// variables that have none yet, and copying any whose storage is shared.
  func returnVariables(to table: inout [NDArray?])
}

/// What kernels may read and change besides their inputs: the session's variables and the
/// random generators of random operations.
package final class ExecutionContext: @unchecked Sendable {
  /// Variable values, indexed by the variable's node index (nil: not initialized). Only used
  /// under the owning session's lock, so exclusivity needs no run-time check. Reading or
  /// changing the table through this property first takes back the values a scalar program
  /// holds in its registers (``lend(to:)``), so every other reader sees the current values.
  var variables: [NDArray?] {
    @inline(__always) _read {
      if borrowerID != nil { reclaimVariables() }
      yield storedVariables
    }
    @inline(__always) _modify {
      if borrowerID != nil { reclaimVariables() }
      yield &storedVariables
    }
  }
  /// The table itself, which may be stale for the variables of the ``borrower``: only the
  /// borrower reads and writes it directly (``ScalarProgram``).
  @exclusivity(unchecked) var storedVariables: [NDArray?] = []
  /// The scalar program whose registers hold the current values of the variables it touches,
  /// from its run until anything else reads or writes ``variables`` (`nil`: none). A strong
  /// reference: the values live in it until they are written back.
  @exclusivity(unchecked) private(set) var borrower: (any VariableBorrower)?
  /// The borrower's identity, which its runs compare with their own (no reference counting).
  @exclusivity(unchecked) private(set) var borrowerID: ObjectIdentifier?
  @exclusivity(unchecked) var generators: [Int: SeededGenerator] = [:]
  /// The node being executed.
  @exclusivity(unchecked) var currentNode = 0
  /// Whether the step is a training step (switches dropout); set by the session options.
  /// (Unchecked exclusivity, as the fields above: an eager store's restart sets it for every
  /// dead graph.)
  @exclusivity(unchecked) package internal(set) var isTraining = true
  /// The graph whose nodes the context serves (for names in errors). Not `weak`: a weak
  /// reference gives the graph a side table, which sends every retain and release of it (each
  /// copy of a `Tensor`) down the runtime's slow path. The owner (a ``Session``, or the eager
  /// graph itself through its store) keeps the graph alive for as long as the context is used.
  @exclusivity(unchecked) unowned(unsafe) var graph: Graph?

  init() {}

  /// Leaves the current values of `program`'s variables in its registers after its run,
  /// rather than writing them into the table: its next run, if nothing else touched
  /// ``variables`` in between, neither reads them back nor checks them again.
  /// - Precondition: no other program is the borrower (``reclaimVariables()`` was called).
  func lend(to program: any VariableBorrower) {
    borrower = program
    borrowerID = ObjectIdentifier(program)
  }

  /// Writes the borrower's values back into the table (see ``lend(to:)``); nothing when there
  /// is no borrower.
  @inline(never) func reclaimVariables() {
    guard let program = borrower else { return }
    borrower = nil
    borrowerID = nil
    program.returnVariables(to: &storedVariables)
  }

  /// Forgets every variable and generator (an eager store reused for a new graph).
  func restart() {
    variables.removeAllKeepingCapacity()
    if !generators.isEmpty { generators = [:] }
    currentNode = 0
    isTraining = true
    graph = nil
  }

  /// Makes room for the variables of `count` nodes (a comparison, inlined, when there is room:
  /// every run calls this).
  @inline(__always) func reserve(nodes count: Int) {
    // The count does not change while the variables are lent: no need to take them back.
    if storedVariables.count < count { grow(nodes: count) }
  }

  /// The growing part of ``reserve(nodes:)``.
  @inline(never) private func grow(nodes count: Int) {
    // Appends in place (no temporary array: eager graphs call this for every operation).
    while variables.count < count { variables.append(nil) }
  }

  /// The value of the variable of the node being executed.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``.
  package func readVariable() throws -> NDArray {
    guard currentNode < variables.count, let v = variables[currentNode] else {
      throw SessionError.uninitializedVariable(name: graph?.nodes[currentNode].name ?? "#\(currentNode)")
    }
    return v
  }

  /// Stores a new value for the variable produced by node `node`.
  package func writeVariable(node: Int, _ value: NDArray) {
    reserve(nodes: node + 1)
    variables[node] = value
  }

  /// Reads the variable produced by node `node`.
  package func variable(node: Int) throws -> NDArray {
    guard node < variables.count, let v = variables[node] else {
      throw SessionError.uninitializedVariable(name: graph?.nodes[node].name ?? "#\(node)")
    }
    return v
  }

  /// Mutates several different variables in place together (no copy when their storage is not
  /// shared): each is moved out of the table into `body`'s buffer for the call, in the order of
  /// `nodes`, and moved back after it (also when `body` throws).
  /// - Throws: ``ShapeError`` when a node is listed twice, and
  ///   ``SessionError/uninitializedVariable(name:)``.
  package func updateVariables<R>(
    _ nodes: [Int], _ body: (UnsafeMutableBufferPointer<NDArray>) throws -> R
  ) throws -> R {
    for (i, node) in nodes.enumerated() {
      guard node >= 0, node < variables.count, variables[node] != nil else {
        throw SessionError.uninitializedVariable(name: graph?.nodes[node].name ?? "#\(node)")
      }
      for other in nodes[..<i] where other == node {
        throw ShapeError("the same variable (\(graph?.nodes[node].name ?? "#\(node)")) is updated twice in one operation")
      }
    }
    return try withUnsafeTemporaryAllocation(of: NDArray.self, capacity: nodes.count) { buffer in
      for (i, node) in nodes.enumerated() {
        (buffer.baseAddress! + i).initialize(to: NDArray())
        swap(&buffer[i], &variables[node]!)
      }
      defer {
        for (i, node) in nodes.enumerated() { swap(&buffer[i], &variables[node]!) }
        _ = buffer.deinitialize()
      }
      return try body(buffer)
    }
  }

  /// Mutates a variable in place (no copy when its storage is not shared).
  package func updateVariable<R>(node: Int, _ body: (inout NDArray) throws -> R) throws -> R {
    guard node < variables.count, variables[node] != nil else {
      throw SessionError.uninitializedVariable(name: graph?.nodes[node].name ?? "#\(node)")
    }
    return try body(&variables[node]!)
  }

  /// The random generator of the node being executed, created from `seed` on first use and
  /// advancing from run to run (TF1's op-level seed semantics).
  package func withGenerator<R>(seed: UInt64, _ body: (inout SeededGenerator) throws -> R) rethrows -> R {
    var g = generators[currentNode] ?? SeededGenerator(seed: seed)
    defer { generators[currentNode] = g }
    return try body(&g)
  }
}

/// The floating-point dtypes, for the shape rules of differentiable operations.
func requireFloat(_ info: TensorInfo, _ what: String = "input") throws(ShapeError) {
  guard info.dtype.isFloatingPoint else {
    throw ShapeError("\(what) must be float32 or float64, got \(info.dtype)")
  }
}


/// Whether two values of one type are the same: always for a type without stored values; byte
/// for byte for a plain type (no references: the bytes are the value; a difference in padding
/// or in a NaN's payload answers `false`, never a false `true`); with `==` for an `Equatable`
/// type; `false` otherwise.
func sameValue<T>(_ a: T, _ b: T) -> Bool {
  if MemoryLayout<T>.size == 0 { return true }
  if _isPOD(T.self) {
    var (a, b) = (a, b)
    return withUnsafeBytes(of: &a) { x in withUnsafeBytes(of: &b) { y in x.elementsEqual(y) } }
  }
  if let a = a as? any Equatable { return equal(a, b) }
  return false
}

/// `a == b` when `b` has `a`'s type.
private func equal<E: Equatable>(_ a: E, _ b: Any) -> Bool { (b as? E) == a }
