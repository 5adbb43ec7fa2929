import ArrayCore
import RealModule

/// How a primitive computes when every tensor it touches holds a single element: the form the
/// session's scalar fast path runs (see ``ScalarProgram``). Primitives declare it beside their
/// kernel through ``Primitive/scalarForm``; `nil` means the fast path does not apply. The
/// arithmetic is never restated here: elementwise forms carry the function's one definition,
/// prepared once for the scalar program (``ScalarFunction``).
package enum ScalarForm: Sendable {
  /// An elementwise function of one input.
  case unary(ScalarFunction)
  /// An elementwise function of two inputs.
  case binary(ScalarFunction)
  /// A reduction of one element: `f(identity, x)`, as the reduction kernels compute it (a sum
  /// is `.reduce(ScalarFunction(Add()), identity: 0)`, so `-0` sums to `+0` on both paths).
  case reduce(ScalarFunction, identity: Double)
  /// The output is the first input (views, identity, broadcasting one element).
  case passThrough
  /// A constant output.
  case constant(Double)
  /// Reads the variable of this node.
  case readVariable
  /// `v ← x` for the variable of node `variable`.
  case assign(variable: Int)
  /// `v ← f(v, x)` in place for the variable of node `variable`.
  case update(variable: Int, ScalarFunction)
  /// Nothing (a group of control dependencies).
  case noOp
}

/// One step of a lowered scalar program, followed by the rest of the program: a run of the
/// scalar program is one call to the first link (see ``ScalarProgram``). The registers are
/// passed untyped so that the closure type is the same in every generic context (a closure
/// type mentioning a generic parameter is stored in its most general form, and every call
/// from specialized code would go through a reabstraction thunk). The second argument is the
/// value the previous link computed (``Carried``), so that a link reading it takes it from a
/// CPU register instead of reloading the register array that the previous link has just
/// written (a store-to-load round trip of about 9 cycles per link on the chain from one step's
/// variable update to the next: `Scripts/bench/forwarding.c`).
typealias ScalarLink = (UnsafeMutableRawPointer, Carried) -> Void

/// The value a link hands to the next one, in lane 0 of a vector register: a `Double`, or a
/// `Float`'s bits. One type for both dtypes, for the reason given at ``ScalarLink``.
typealias Carried = SIMD2<Double>

/// Which operands of an instruction are the previous instruction's result, taken from the
/// ``Carried`` value rather than from the registers.
struct CarriedOperands: OptionSet, Sendable {
  let rawValue: UInt8
  static let x = CarriedOperands(rawValue: 1)
  static let y = CarriedOperands(rawValue: 2)
}

/// An elementwise definition (``UnaryFunction`` or ``BinaryFunction``) prepared for the scalar
/// program: closures that make its instruction, specialized for the function's type where the
/// primitive was built (``Unary/init(_:)``, ``Binary/init(_:)``, ``AssignUpdate``, ``Sum``). The
/// arithmetic inside them is the definition's own ``UnaryFunction/apply(_:)-(Float)``, inlined,
/// so an instruction costs one call, with no switch over functions restating their maths and
/// no protocol dispatch. Built from an existential (a function decoded from a file), the
/// closures are generic code calling the same definition through its witness table: slower,
/// the same values.
package final class ScalarFunction: Sendable {
  /// `Float` instructions and constant folding.
  let float: Links<Float>
  /// `Double` instructions and constant folding.
  let double: Links<Double>
  /// The function's ``BinaryFunction/identityElement`` (`nil` for a function of one value).
  let identity: Double?

  /// The instructions of one dtype: `make(dst, x, y, carried, next)` is the link
  /// `r[dst] ← f(r[x])` (or `f(r[x], r[y])`), reading the operands in `carried` from the
  /// previous link's result instead, followed by `next` (given the result); `fold` computes the
  /// same value once, at lowering, for constant operands.
  struct Links<T>: Sendable {
    let make: @Sendable (_ dst: Int, _ x: Int, _ y: Int, _ carried: CarriedOperands, _ next: @escaping ScalarLink) -> ScalarLink
    let fold: @Sendable (T, T) -> T
  }

  /// Prepares a function of one value.
  package init<F: UnaryFunction>(_ f: F) {
    float = Links(make: { dst, x, _, carried, next in Self.unaryLink(Float.self, dst, x, carried, next, f) }, fold: { x, _ in f.apply(x) })
    double = Links(make: { dst, x, _, carried, next in Self.unaryLink(Double.self, dst, x, carried, next, f) }, fold: { x, _ in f.apply(x) })
    identity = nil
  }

  /// Prepares a function of two values.
  package init<F: BinaryFunction>(_ f: F) {
    float = Links(make: { dst, x, y, carried, next in Self.binaryLink(Float.self, dst, x, y, carried, next, f) }, fold: { x, y in f.apply(x, y) })
    double = Links(make: { dst, x, y, carried, next in Self.binaryLink(Double.self, dst, x, y, carried, next, f) }, fold: { x, y in f.apply(x, y) })
    identity = f.identityElement
  }

  /// The link `r[dst] ← f(x)`, `x` read from the registers or carried.
  @inline(__always) static func unaryLink<T: ScalarElement, F: UnaryFunction>(
    _: T.Type, _ dst: Int, _ x: Int, _ carried: CarriedOperands, _ next: @escaping ScalarLink, _ f: F
  ) -> ScalarLink {
    if carried.contains(.x) {
      return { raw, c in
        let v = T.apply(f, T(carried: c))
        raw.assumingMemoryBound(to: T.self)[dst] = v
        next(raw, v.carried)
      }
    }
    return { raw, _ in
      let r = raw.assumingMemoryBound(to: T.self)
      let v = T.apply(f, r[x])
      r[dst] = v
      next(raw, v.carried)
    }
  }

  /// The link `r[dst] ← f(x, y)`, each operand read from the registers or carried.
  @inline(__always) static func binaryLink<T: ScalarElement, F: BinaryFunction>(
    _: T.Type, _ dst: Int, _ x: Int, _ y: Int, _ carried: CarriedOperands, _ next: @escaping ScalarLink, _ f: F
  ) -> ScalarLink {
    switch (carried.contains(.x), carried.contains(.y)) {
    case (true, true):
      return { raw, c in
        let a = T(carried: c)
        let v = T.apply(f, a, a)
        raw.assumingMemoryBound(to: T.self)[dst] = v
        next(raw, v.carried)
      }
    case (true, false):
      return { raw, c in
        let r = raw.assumingMemoryBound(to: T.self)
        let v = T.apply(f, T(carried: c), r[y])
        r[dst] = v
        next(raw, v.carried)
      }
    case (false, true):
      return { raw, c in
        let r = raw.assumingMemoryBound(to: T.self)
        let v = T.apply(f, r[x], T(carried: c))
        r[dst] = v
        next(raw, v.carried)
      }
    case (false, false):
      return { raw, _ in
        let r = raw.assumingMemoryBound(to: T.self)
        let v = T.apply(f, r[x], r[y])
        r[dst] = v
        next(raw, v.carried)
      }
    }
  }
}

/// `Float` and `Double`, choosing the ``ScalarFunction`` instructions of their own dtype.
protocol ScalarElement: FloatElement {
  /// The instructions of `f` for this dtype.
  static func links(_ f: ScalarFunction) -> ScalarFunction.Links<Self>
  /// The value as a link hands it on (lane 0 of ``Carried``).
  var carried: Carried { get }
  /// The value a link was handed.
  init(carried: Carried)
  /// `f(x)` in this dtype (the definition's own ``UnaryFunction/apply(_:)-(Float)``).
  static func apply<F: UnaryFunction>(_ f: F, _ x: Self) -> Self
  /// `f(x, y)` in this dtype.
  static func apply<F: BinaryFunction>(_ f: F, _ x: Self, _ y: Self) -> Self
}

extension Float: ScalarElement {
  static func links(_ f: ScalarFunction) -> ScalarFunction.Links<Float> { f.float }
  @inline(__always) var carried: Carried { unsafeBitCast(SIMD4<Float>(repeating: self), to: Carried.self) }
  @inline(__always) init(carried: Carried) { self = unsafeBitCast(carried, to: SIMD4<Float>.self)[0] }
  @inline(__always) static func apply<F: UnaryFunction>(_ f: F, _ x: Float) -> Float { f.apply(x) }
  @inline(__always) static func apply<F: BinaryFunction>(_ f: F, _ x: Float, _ y: Float) -> Float { f.apply(x, y) }
}

extension Double: ScalarElement {
  static func links(_ f: ScalarFunction) -> ScalarFunction.Links<Double> { f.double }
  @inline(__always) var carried: Carried { Carried(repeating: self) }
  @inline(__always) init(carried: Carried) { self = carried[0] }
  @inline(__always) static func apply<F: UnaryFunction>(_ f: F, _ x: Double) -> Double { f.apply(x) }
  @inline(__always) static func apply<F: BinaryFunction>(_ f: F, _ x: Double, _ y: Double) -> Double { f.apply(x, y) }
}

/// A plan lowered to a register machine over plain scalars, used when every value of the plan
/// has exactly one element and one float dtype (the notebook's recipes: batch 1, shape `[1]`).
/// It computes exactly what the kernels compute (the same IEEE operations in the same order),
/// without creating or checking arrays per operation.
///
/// Each variable the plan touches gets a register of its own, and the instructions read and
/// update those registers (so a read after an update sees the update, as in the general path).
/// The registers keep the variables' current values between runs: a run that finds the program
/// still the context's borrower (``ExecutionContext/lend(to:)``) goes straight to the first
/// instruction; otherwise it first loads and checks the variables it reads
/// (``borrowVariables(of:)``). The values are written back, in place, when anything else reads
/// or writes the context's variables (``returnVariables(to:)``). Fed values are read from the
/// frame first; fetched values are written to their frame slots last. Nothing is allocated in
/// steady state, and the stored properties are constants, so a run pays no exclusivity checks
/// on them.
final class ScalarProgram<T: ScalarElement>: VariableBorrower {
  /// One step over the registers, as lowering and dead-code removal see it; the run executes
  /// the chain of links made from them (``chain(_:)``).
  enum Instruction {
    /// `r[dst] ← f(r[x])`.
    case unary(ScalarFunction.Links<T>, dst: Int, x: Int)
    /// `r[dst] ← f(r[x], r[y])` (an in-place update is `dst == x`).
    case binary(ScalarFunction.Links<T>, dst: Int, x: Int, y: Int)
    /// `r[dst] ← r[x]`.
    case copy(dst: Int, x: Int)

    /// The register written and the registers read.
    var operands: (dst: Int, reads: [Int]) {
      switch self {
      case let .unary(_, dst, x), let .copy(dst, x): (dst, [x])
      case let .binary(_, dst, x, y): (dst, [x, y])
      }
    }
  }

  /// A variable the program touches.
  struct VariableUse {
    var node: Int
    var register: Int
    /// Whether the run needs the stored value (it is read or updated before any assignment).
    var loads = false
    /// Whether the run writes the register back.
    var stores = false
    /// The declared shape's index in ``ScalarProgram/shapes``.
    var shape: Int
  }

  /// The instructions after dead-code removal (kept for tests and pictures; a run executes
  /// ``links``).
  let code: [Instruction]
  /// The program as chains of links, each at most ``linksPerChain`` long (a chain calls its
  /// next link from the previous one, so its length bounds the stack a run uses): the first,
  /// then the others (usually none). The first is kept out of the array: a closure stored in
  /// an array is reabstracted, and each call would go through two thunks.
  let head: ScalarLink
  let tail: [ScalarLink]
  let variables: [VariableUse]
  let registers: UnsafeMutablePointer<T>
  let count: Int
  let feedSlots: [Int]
  /// The fetched slots, and the registers that hold their values.
  let fetchSlots: [Int]
  let fetchRegisters: [Int]
  /// The static shapes of fetched values (in fetch order) then of assigned variables. Kept
  /// apart so the other arrays hold plain integers, which a run reads without reference counting.
  let shapes: [Shape]
  /// Whether a run has more than the first chain to call or values to fetch (``finishRun(frame:)``).
  let hasTailOrFetches: Bool

  /// Lowers `plan`, or returns `nil` when some step or value does not fit. Four passes:
  /// ``Lowering/lower()`` (instructions, with aliases and constant folding),
  /// ``removeDeadCode(_:fetchRegisters:isVariable:)``, ``chain(_:)`` (the instructions as
  /// closures specialized per function), then the tables a run reads.
  init?(plan: Plan, graph: Graph) {
    guard var lowering = Lowering(plan: plan, graph: graph) else { return nil }
    guard lowering.lower() else { return nil }
    let fetchRegisters = plan.fetchSlots.map(lowering.reg)
    let code = Self.removeDeadCode(lowering.code, fetchRegisters: fetchRegisters, isVariable: lowering.isVariableRegister)
    var shapes: [Shape] = []
    for slot in plan.fetchSlots {
      guard let s = lowering.slotShape[slot] ?? plan.feeds.first(where: { $0.slot == slot }).flatMap({ lowering.fits($0.info) })
      else { return nil }
      shapes.append(s)
    }
    var variables = lowering.variables
    for i in variables.indices { variables[i].shape += shapes.count }
    self.code = code
    self.variables = variables
    self.fetchSlots = plan.fetchSlots
    self.fetchRegisters = fetchRegisters
    self.shapes = shapes + lowering.declaredShapes
    feedSlots = plan.feeds.map(\.slot)
    (head, tail) = Self.chain(code)
    hasTailOrFetches = !tail.isEmpty || !plan.fetchSlots.isEmpty
    count = Swift.max(lowering.registerCount, 1)
    registers = .allocate(capacity: count)
    registers.initialize(repeating: 0, count: count)
    for (register, value) in lowering.constants { registers[register] = value }
  }

  /// The first pass: one instruction (or none) per plan step, from each primitive's
  /// ``ScalarForm``. It simplifies as it goes: a copy is an alias (no instruction; of a
  /// variable's register, until the variable is written), and an operation on constants is
  /// computed once, here, through the same entry point the run would call (so the results stay
  /// bit-identical).
  struct Lowering {
    let plan: Plan
    let nodes: [Node]
    var code: [Instruction] = []
    var constants: [(register: Int, value: T)] = []
    var variables: [VariableUse] = []
    var variableIndex: [Int: Int] = [:]
    var declaredShapes: [Shape] = []
    /// slot -> the register that holds its value.
    var alias: [Int: Int] = [:]
    /// variable register -> the slots aliased to it since it was last written (see
    /// ``copy(_:_:)``).
    var readers: [Int: [Int]] = [:]
    /// register -> its constant value.
    var known: [Int: T] = [:]
    var slotShape: [Int: Shape] = [:]
    /// Registers: the plan's slots, then one per variable (at most one per step), then
    /// constants that no slot holds (reduction identities).
    let variableBase: Int
    let constantBase: Int
    var constantRegisters = 0

    init?(plan: Plan, graph: Graph) {
      self.plan = plan
      nodes = graph.nodes
      variableBase = plan.slotCount
      constantBase = plan.slotCount + plan.steps.count
      for feed in plan.feeds where fits(feed.info) == nil { return nil }
    }

    var registerCount: Int { constantBase + constantRegisters }
    func isVariableRegister(_ r: Int) -> Bool { r >= variableBase && r < constantBase }
    func reg(_ slot: Int) -> Int { alias[slot] ?? slot }

    func fits(_ info: TensorInfo) -> Shape? {
      guard info.dtype == T.dtype, let s = info.shape.concrete, s.elementCount == 1 else { return nil }
      return s
    }

    /// The register of variable `node` (with its declared shape), noting whether its stored
    /// value is needed; `nil` when it is not a one-element variable.
    mutating func variable(_ node: Int, loads: Bool) -> Int? {
      if let i = variableIndex[node] { return variables[i].register }
      guard let shape = (nodes[node].primitive as? VariablePrimitive)?.shape, shape.elementCount == 1 else { return nil }
      variableIndex[node] = variables.count
      variables.append(VariableUse(node: node, register: variableBase + variables.count, loads: loads, shape: declaredShapes.count))
      declaredShapes.append(shape)
      return variables[variables.count - 1].register
    }

    mutating func fold(_ dst: Int, _ value: T) {
      known[dst] = value
      constants.append((dst, value))
    }

    mutating func constantRegister(_ value: T) -> Int {
      let r = constantBase + constantRegisters
      constantRegisters += 1
      fold(r, value)
      return r
    }

    /// `dst ← x` as an alias, without an instruction. When `x` is a variable's register, the
    /// alias holds until the variable is written: ``willWrite(_:)`` then copies the value the
    /// slot had into the slot itself (dead-code removal drops the copy when nothing reads it).
    mutating func copy(_ dst: Int, _ x: Int) {
      alias[dst] = x
      if isVariableRegister(x) { readers[x, default: []].append(dst) }
    }

    /// Before an instruction writes variable register `r`: the slots aliased to it get a copy
    /// of its current value.
    mutating func willWrite(_ r: Int) {
      for slot in readers.removeValue(forKey: r) ?? [] where alias[slot] == r {
        code.append(.copy(dst: slot, x: r))
        alias[slot] = nil
      }
    }

    mutating func emitUnary(_ f: ScalarFunction, dst: Int, x: Int) {
      let links = T.links(f)
      if let v = known[x] {
        fold(dst, links.fold(v, 0))
      } else {
        code.append(.unary(links, dst: dst, x: x))
      }
    }

    mutating func emitBinary(_ f: ScalarFunction, dst: Int, x: Int, y: Int) {
      let links = T.links(f)
      if let a = known[x], let b = known[y], !isVariableRegister(dst) {
        fold(dst, links.fold(a, b))
      } else if let e = f.identity.map(T.init), !isVariableRegister(dst), known[y] == e || known[x] == e {
        // `f(x, e) = x`: the operand other than the identity, as an alias.
        copy(dst, known[y] == e ? x : y)
      } else {
        code.append(.binary(links, dst: dst, x: x, y: y))
      }
    }

    /// Lowers every step; `false` when one does not fit.
    mutating func lower() -> Bool {
      for step in plan.steps {
        guard step.fused == nil else { return false }
        let node = nodes[step.node]
        let inputInfos = node.inputs.map { nodes[$0.node].outputs[$0.output] }
        guard let form = step.primitive.scalarForm(for: inputInfos) else { return false }
        var outs: [Int] = []
        for o in 0..<step.outputCount {
          guard let s = fits(node.outputs[o]) else { return false }
          let slot = plan.slotLists[step.outputStart + o]
          outs.append(slot)
          slotShape[slot] = s
        }
        let ins = (0..<step.inputCount).map { reg(plan.slotLists[step.inputStart + $0]) }
        switch form {
        case .unary(let f): emitUnary(f, dst: outs[0], x: ins[0])
        case .binary(let f): emitBinary(f, dst: outs[0], x: ins[0], y: ins[1])
        case let .reduce(f, identity): emitBinary(f, dst: outs[0], x: constantRegister(T(identity)), y: ins[0])
        case .passThrough: copy(outs[0], ins[0])
        case .constant(let v): fold(outs[0], T(v))
        case .readVariable:
          // An alias until the variable is written (then a copy: ``willWrite(_:)``).
          guard let r = variable(step.node, loads: true) else { return false }
          copy(outs[0], r)
        case .assign(let v):
          guard let r = variable(v, loads: false) else { return false }
          variables[variableIndex[v]!].stores = true
          willWrite(r)
          code.append(.copy(dst: r, x: ins[0]))
          if let o = outs.first { copy(o, ins[0]) }
        case let .update(v, f):
          guard let r = variable(v, loads: true) else { return false }
          willWrite(r)
          emitBinary(f, dst: r, x: r, y: ins[0])
          variables[variableIndex[v]!].stores = true
        case .noOp: break
        }
      }
      return true
    }
  }

  /// Keeps what writes a variable and what a fetch or a kept instruction reads.
  static func removeDeadCode(_ code: [Instruction], fetchRegisters: [Int], isVariable: (Int) -> Bool) -> [Instruction] {
    var live = Set(fetchRegisters)
    var kept: [Instruction] = []
    for instruction in code.reversed() {
      let (dst, reads) = instruction.operands
      guard live.contains(dst) || isVariable(dst) else { continue }
      kept.append(instruction)
      live.formUnion(reads)
    }
    return kept.reversed()
  }

  /// The most links one chain holds.
  static var linksPerChain: Int { 256 }

  /// The last pass: each instruction becomes a closure that computes it and calls the next
  /// one, built from the end; elementwise instructions are made by their ``ScalarFunction``,
  /// so the definition's arithmetic is inlined in its link. Long programs are cut into chains
  /// of at most ``linksPerChain`` links.
  static func chain(_ code: [Instruction]) -> (first: ScalarLink, rest: [ScalarLink]) {
    let rest = stride(from: linksPerChain, to: code.count, by: linksPerChain).map { start in
      link(code[start..<Swift.min(start + linksPerChain, code.count)])
    }
    return (link(code[0..<Swift.min(linksPerChain, code.count)]), rest)
  }

  /// One chain: the links of `code`, in order. An operand that is the previous instruction's
  /// result is taken from the value that instruction hands on (``Carried``); the first
  /// instruction of a chain reads the registers.
  static func link(_ code: ArraySlice<Instruction>) -> ScalarLink {
    var next: ScalarLink = { _, _ in }
    for i in code.indices.reversed() {
      let previous = i > code.startIndex ? code[i - 1].operands.dst : -1
      func carried(_ x: Int, _ y: Int) -> CarriedOperands {
        var c: CarriedOperands = []
        if x == previous { c.insert(.x) }
        if y == previous { c.insert(.y) }
        return c
      }
      switch code[i] {
      case let .unary(f, dst, x): next = f.make(dst, x, x, x == previous ? .x : [], next)
      case let .binary(f, dst, x, y): next = f.make(dst, x, y, carried(x, y), next)
      case let .copy(dst, x):
        if x == previous {
          next = { [next] raw, c in
            raw.assumingMemoryBound(to: T.self)[dst] = T(carried: c)
            next(raw, c)
          }
        } else {
          next = { [next] raw, _ in
            let r = raw.assumingMemoryBound(to: T.self)
            let v = r[x]
            r[dst] = v
            next(raw, v.carried)
          }
        }
      }
    }
    return next
  }

  deinit { registers.deallocate() }

  /// Runs the program: reads the fed values from the frame (unless `feedsLoaded`: the caller
  /// has written each into its register, the register numbered as its slot, see
  /// ``PreparedStep/setFeed(_:to:)``), updates the variables of `context` (in its registers,
  /// lent, see ``borrowVariables(of:)``), and writes the fetched values into their frame slots.
  /// The caller has sized `context.variables` to the graph.
  /// - Returns: `false`, having changed nothing but the fed registers (and having written back
  ///   another program's lent values), when a variable's stored value does not have this
  ///   program's dtype and one element (the caller then runs the general path).
  @inline(__always)
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext, feedsLoaded: Bool) throws -> Bool {
    if !feedsLoaded {
      guard loadFeeds(from: frame) else { return false }
    }
    return try runLoaded(frame: frame, context: context)
  }

  /// Reads each fed value from its frame slot into its register; `false` when one is not a
  /// one-element value of this dtype.
  private func loadFeeds(from frame: UnsafeMutablePointer<NDArray>) -> Bool {
    let r = registers
    for slot in feedSlots {
      guard let p = NDArray.scalarAddress(of: frame + slot, as: T.self) else { return false }
      r[slot] = p.pointee
    }
    return true
  }

  /// ``run(frame:context:feedsLoaded:)`` once the feeds are in their registers. Inlined into
  /// the run (a prepared step's, or `Session.run`'s): what every run does is checking the
  /// borrower and calling the first chain; the rest (other chains, fetched values) is out of
  /// line, and skipped when the program has none.
  @inline(__always) private func runLoaded(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws -> Bool {
    if context.borrowerID != ObjectIdentifier(self) {
      guard try borrowVariables(of: context) else { return false }
    }
    head(registers, Carried())
    if hasTailOrFetches { finishRun(frame: frame) }
    return true
  }

  /// The run's chains after the first, then the fetched values written into their frame slots
  /// (in place when the slot's array is the frame's alone).
  @inline(never) private func finishRun(frame: UnsafeMutablePointer<NDArray>) {
    for chain in tail { chain(registers, Carried()) }
    let r = registers
    for (i, slot) in fetchSlots.enumerated() {
      let value = r[fetchRegisters[i]]
      if let p = NDArray.uniqueScalarAddress(of: frame + slot, as: T.self) {
        p.pointee = value
      } else {
        frame[slot] = NDArray([value], shape: shapes[i])
      }
    }
  }

  /// Takes the values of the variables the program touches into its registers and becomes
  /// their borrower (``ExecutionContext/lend(to:)``): the table's values are written back
  /// when anything else reads or writes it (``returnVariables(to:)``), and until then the
  /// program's runs skip this. `false`, lending nothing, when a variable's value does not
  /// have this program's dtype and one element.
  /// - Throws: ``SessionError/uninitializedVariable(name:)`` for a variable read before any
  ///   value was assigned.
  @inline(never) private func borrowVariables(of context: ExecutionContext) throws -> Bool {
    context.reclaimVariables()
    let r = registers
    let fits = try context.storedVariables.withUnsafeMutableBufferPointer { vars in
      try variables.withUnsafeBufferPointer { uses in
        for use in uses where use.loads {
          guard vars[use.node] != nil else {
            throw SessionError.uninitializedVariable(name: context.graph?.nodes[use.node].name ?? "#\(use.node)")
          }
          guard let p = withUnsafeMutablePointer(to: &vars[use.node]!, { NDArray.scalarAddress(of: $0, as: T.self) })
          else { return false }
          r[use.register] = p.pointee
        }
        return true
      }
    }
    if fits { context.lend(to: self) }
    return fits
  }

  /// Writes the registers of the variables the program assigns into `table`, in place when a
  /// variable's storage is not shared.
  func returnVariables(to table: inout [NDArray?]) {
    let r = registers
    table.withUnsafeMutableBufferPointer { vars in
      for use in variables where use.stores {
        let value = r[use.register]
        if vars[use.node] != nil,
          let p = withUnsafeMutablePointer(to: &vars[use.node]!, { NDArray.uniqueScalarAddress(of: $0, as: T.self) })
        {
          p.pointee = value
        } else {
          // An initializer's first run (the variable does not exist yet), or a value shared
          // with a reader.
          vars[use.node] = NDArray([value], shape: shapes[use.shape])
        }
      }
    }
  }
}

/// A scalar program of either float dtype.
enum AnyScalarProgram {
  case float32(ScalarProgram<Float>)
  case float64(ScalarProgram<Double>)

  init?(plan: Plan, graph: Graph) {
    if let p = ScalarProgram<Float>(plan: plan, graph: graph) {
      self = .float32(p)
    } else if let p = ScalarProgram<Double>(plan: plan, graph: graph) {
      self = .float64(p)
    } else {
      return nil
    }
  }

  /// Runs the program; `false` when the general path must run instead (see
  /// ``ScalarProgram/run(frame:context:feedsLoaded:)``).
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws -> Bool {
    switch self {
    case .float32(let p): try p.run(frame: frame, context: context, feedsLoaded: false)
    case .float64(let p): try p.run(frame: frame, context: context, feedsLoaded: false)
    }
  }
}

/// A scalar program referenced without reference counting, for the hot path of a run. Valid
/// while the ``AnyScalarProgram`` it was taken from is alive (its owner keeps both).
enum UnownedScalarProgram {
  case float32(Unmanaged<ScalarProgram<Float>>)
  case float64(Unmanaged<ScalarProgram<Double>>)

  /// The unowned reference to `program`.
  init(_ program: AnyScalarProgram) {
    switch program {
    case .float32(let p): self = .float32(.passUnretained(p))
    case .float64(let p): self = .float64(.passUnretained(p))
    }
  }

  /// Runs the program, reading the feeds from the frame unless `feedsLoaded` (see
  /// ``ScalarProgram/run(frame:context:feedsLoaded:)``); `false` when the general path must run
  /// instead.
  @inline(__always)
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext, feedsLoaded: Bool = false) throws -> Bool {
    switch self {
    case .float32(let p): try p._withUnsafeGuaranteedRef { try $0.run(frame: frame, context: context, feedsLoaded: feedsLoaded) }
    case .float64(let p): try p._withUnsafeGuaranteedRef { try $0.run(frame: frame, context: context, feedsLoaded: feedsLoaded) }
    }
  }

  /// The registers, untyped: feed `i`'s value is the element numbered as its slot (4 or 8
  /// bytes: the program's dtype is every feed's).
  var registers: UnsafeMutableRawPointer {
    switch self {
    case .float32(let p): UnsafeMutableRawPointer(p._withUnsafeGuaranteedRef { $0.registers })
    case .float64(let p): UnsafeMutableRawPointer(p._withUnsafeGuaranteedRef { $0.registers })
    }
  }
}
