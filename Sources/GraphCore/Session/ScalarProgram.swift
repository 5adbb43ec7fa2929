import ArrayCore
import RealModule

/// How a primitive computes when every tensor it touches holds a single element: the form the
/// session's scalar fast path runs (see ``ScalarProgram``). Primitives declare it beside their
/// kernel through ``Primitive/scalarForm``; `nil` means the fast path does not apply.
public enum ScalarForm: Sendable {
  /// An elementwise function of one input.
  case unary(Unary.Function)
  /// An elementwise function of two inputs.
  case binary(Binary.Function)
  /// The stable sigmoid cross-entropy `max(x, 0) - x·z + log(1 + e^(-|x|))`.
  case sigmoidCrossEntropy
  /// The output is the first input (views, identity, broadcasting or summing one element).
  case passThrough
  /// A sum of one element: `0 + x` (as the reduction kernels compute it).
  case sumOfOne
  /// Un-broadcasting one element: the input itself when its shape equals the output's, else
  /// `0 + x` (as ``SumToShapeOf`` computes it).
  case sumToShape
  /// A constant output.
  case constant(Double)
  /// Reads the variable of this node.
  case readVariable
  /// `v ← x` for the variable of node `variable`.
  case assign(variable: Int)
  /// `v ← v + x` or `v ← v - x` in place.
  case assignUpdate(variable: Int, subtract: Bool)
  /// Nothing (a group of control dependencies).
  case noOp
}

extension Primitive {
  /// No scalar form by default.
  public var scalarForm: ScalarForm? { nil }
}

/// A plan lowered to a register machine over plain scalars, used when every value of the plan
/// has exactly one element and one float dtype (the notebook's recipes: batch 1, shape `[1]`).
/// It computes exactly what the kernels compute (the same IEEE operations in the same order),
/// without creating or checking arrays per operation.
///
/// Each variable the plan touches gets a register of its own: a run loads the variables it reads
/// before the first instruction, the instructions read and update those registers (so a read
/// after an update sees the update, as in the general path), and the variables written are
/// stored back, in place, after the last. Fed values are read from the frame first; fetched
/// values are written to their frame slots last. Nothing is allocated in steady state, and the
/// stored properties are constants, so a run pays no exclusivity checks on them.
final class ScalarProgram<T: FloatElement> {
  enum Instruction {
    case unary(Unary.Function, dst: Int, x: Int)
    case binary(Binary.Function, dst: Int, x: Int, y: Int)
    case sigmoidCrossEntropy(dst: Int, x: Int, z: Int)
    case copy(dst: Int, x: Int)
    case sumOfOne(dst: Int, x: Int)
    /// `r[dst] ← r[dst] + x` or `r[dst] ← r[dst] + (-1·x)` (as ``AssignUpdate`` computes it).
    case update(dst: Int, x: Int, subtract: Bool)

    /// The register written and the registers read.
    var operands: (dst: Int, reads: [Int]) {
      switch self {
      case let .unary(_, dst, x), let .copy(dst, x), let .sumOfOne(dst, x): (dst, [x])
      case let .binary(_, dst, x, y): (dst, [x, y])
      case let .sigmoidCrossEntropy(dst, x, z): (dst, [x, z])
      case let .update(dst, x, _): (dst, [dst, x])
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

  let code: [Instruction]
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

  /// Lowers `plan`, or returns `nil` when some step or value does not fit.
  init?(plan: Plan, graph: Graph) {
    let nodes = graph.nodes
    let dtype = T.dtype
    func fits(_ info: TensorInfo) -> Shape? {
      guard info.dtype == dtype, let s = info.shape.concrete, s.elementCount == 1 else { return nil }
      return s
    }
    for feed in plan.feeds where fits(feed.info) == nil { return nil }
    var code: [Instruction] = []
    var constants: [(register: Int, value: T)] = []
    var variables: [VariableUse] = []
    var variableIndex: [Int: Int] = [:]
    var declaredShapes: [Shape] = []
    /// The register of variable `node` (with its declared shape), noting whether its stored
    /// value is needed; `nil` when it is not a one-element variable.
    func variable(_ node: Int, loads: Bool) -> Int? {
      if let i = variableIndex[node] { return variables[i].register }
      guard let shape = (nodes[node].primitive as? VariablePrimitive)?.shape, shape.elementCount == 1 else { return nil }
      variableIndex[node] = variables.count
      variables.append(
        VariableUse(node: node, register: plan.slotCount + variables.count, loads: loads, shape: declaredShapes.count))
      declaredShapes.append(shape)
      return variables[variables.count - 1].register
    }
    // Lowering simplifies as it goes: a copy of a value that never changes during the run is
    // an alias (no instruction), and an operation on constants is computed once, here, with
    // the same scalar function the run would use (so the results stay bit-identical).
    var alias: [Int: Int] = [:]  // slot -> the register that holds its value
    var known: [Int: T] = [:]  // register -> its constant value
    func reg(_ slot: Int) -> Int { alias[slot] ?? slot }
    func fold(_ dst: Int, _ value: T) {
      known[dst] = value
      constants.append((dst, value))
    }
    let variableRegisters = plan.slotCount...
    func copy(_ dst: Int, _ x: Int) {
      if variableRegisters.contains(x) { code.append(.copy(dst: dst, x: x)) } else { alias[dst] = x }
    }
    var slotShape: [Int: Shape] = [:]
    for step in plan.steps {
      let node = nodes[step.node]
      guard let form = step.primitive.scalarForm else { return nil }
      var outs: [Int] = []
      for o in 0..<step.outputCount {
        guard let s = fits(node.outputs[o]) else { return nil }
        let slot = plan.slotLists[step.outputStart + o]
        outs.append(slot)
        slotShape[slot] = s
      }
      let ins = (0..<step.inputCount).map { reg(plan.slotLists[step.inputStart + $0]) }
      switch form {
      case .unary(let f):
        if let x = known[ins[0]] { fold(outs[0], f.apply(x)) } else { code.append(.unary(f, dst: outs[0], x: ins[0])) }
      case .binary(let f):
        if let x = known[ins[0]], let y = known[ins[1]] {
          fold(outs[0], f.apply(x, y))
        } else {
          code.append(.binary(f, dst: outs[0], x: ins[0], y: ins[1]))
        }
      case .sigmoidCrossEntropy:
        if let x = known[ins[0]], let z = known[ins[1]] {
          fold(outs[0], SigmoidCrossEntropy.loss(x, z))
        } else {
          code.append(.sigmoidCrossEntropy(dst: outs[0], x: ins[0], z: ins[1]))
        }
      case .passThrough: copy(outs[0], ins[0])
      case .sumOfOne:
        if let x = known[ins[0]] { fold(outs[0], 0 + x) } else { code.append(.sumOfOne(dst: outs[0], x: ins[0])) }
      case .sumToShape:
        let input = node.inputs[0]
        if nodes[input.node].outputs[input.output].shape == node.outputs[0].shape {
          copy(outs[0], ins[0])
        } else if let x = known[ins[0]] {
          fold(outs[0], 0 + x)
        } else {
          code.append(.sumOfOne(dst: outs[0], x: ins[0]))
        }
      case .constant(let v): fold(outs[0], T(v))
      case .readVariable:
        // A copy, not an alias: the variable may be updated later in the run.
        guard let r = variable(step.node, loads: true) else { return nil }
        code.append(.copy(dst: outs[0], x: r))
      case .assign(let v):
        guard let r = variable(v, loads: false) else { return nil }
        variables[variableIndex[v]!].stores = true
        code.append(.copy(dst: r, x: ins[0]))
        if let o = outs.first { copy(o, ins[0]) }
      case .assignUpdate(let v, let subtract):
        guard let r = variable(v, loads: true) else { return nil }
        code.append(.update(dst: r, x: ins[0], subtract: subtract))
        variables[variableIndex[v]!].stores = true
      case .noOp: break
      }
    }
    // Dead code: keep what writes a variable and what a fetch or a kept instruction reads.
    let fetchRegisters = plan.fetchSlots.map(reg)
    var live = Set(fetchRegisters)
    var kept: [Instruction] = []
    for instruction in code.reversed() {
      let (dst, reads) = instruction.operands
      guard live.contains(dst) || variableRegisters.contains(dst) else { continue }
      kept.append(instruction)
      live.formUnion(reads)
    }
    code = kept.reversed()
    var shapes: [Shape] = []
    for slot in plan.fetchSlots {
      guard let s = slotShape[slot] ?? plan.feeds.first(where: { $0.slot == slot }).flatMap({ fits($0.info) }) else { return nil }
      shapes.append(s)
    }
    for i in variables.indices { variables[i].shape += shapes.count }
    self.code = code
    self.variables = variables
    self.fetchSlots = plan.fetchSlots
    self.fetchRegisters = fetchRegisters
    self.shapes = shapes + declaredShapes
    feedSlots = plan.feeds.map(\.slot)
    count = Swift.max(plan.slotCount + variables.count, 1)
    registers = .allocate(capacity: count)
    registers.initialize(repeating: 0, count: count)
    for (register, value) in constants { registers[register] = value }
  }

  deinit { registers.deallocate() }

  /// Runs the program: reads the fed values from the frame, updates variables in `context`,
  /// and writes the fetched values into their frame slots. The caller has sized
  /// `context.variables` to the graph.
  /// - Returns: `false`, having changed nothing, when a variable's stored value does not have
  ///   this program's dtype and one element (the caller then runs the general path).
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws -> Bool {
    let r = registers
    for slot in feedSlots {
      guard let p = NDArray.scalarAddress(of: frame + slot, as: T.self) else { return false }
      r[slot] = p.pointee
    }
    let fits = try context.variables.withUnsafeMutableBufferPointer { vars in
      try variables.withUnsafeBufferPointer { uses in
        for use in uses where use.loads {
          guard vars[use.node] != nil else {
            throw SessionError.uninitializedVariable(name: context.graph?.nodes[use.node].name ?? "#\(use.node)")
          }
          guard let p = withUnsafeMutablePointer(to: &vars[use.node]!, { NDArray.scalarAddress(of: $0, as: T.self) })
          else { return false }
          r[use.register] = p.pointee
        }
        execute()
        for use in uses where use.stores {
          let value = r[use.register]
          if vars[use.node] != nil,
            let p = withUnsafeMutablePointer(to: &vars[use.node]!, { NDArray.uniqueScalarAddress(of: $0, as: T.self) })
          {
            p.pointee = value
          } else {
            // An initializer's first run: the variable does not exist yet.
            vars[use.node] = NDArray([value], shape: shapes[use.shape])
          }
        }
        return true
      }
    }
    guard fits else { return false }
    for (i, slot) in fetchSlots.enumerated() {
      let value = r[fetchRegisters[i]]
      if let p = NDArray.uniqueScalarAddress(of: frame + slot, as: T.self) {
        p.pointee = value
      } else {
        frame[slot] = NDArray([value], shape: shapes[i])
      }
    }
    return true
  }

  /// Runs the instructions over the registers.
  private func execute() {
    let r = registers
    code.withUnsafeBufferPointer { code in
      for instruction in code {
        switch instruction {
        case let .unary(f, dst, x): r[dst] = f.apply(r[x])
        case let .binary(f, dst, x, y): r[dst] = f.apply(r[x], r[y])
        case let .sigmoidCrossEntropy(dst, x, z): r[dst] = SigmoidCrossEntropy.loss(r[x], r[z])
        case let .copy(dst, x): r[dst] = r[x]
        case let .sumOfOne(dst, x): r[dst] = 0 + r[x]
        case let .update(dst, x, subtract): r[dst] += subtract ? -1 * r[x] : r[x]
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
  /// ``ScalarProgram/run(frame:context:)``).
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws -> Bool {
    switch self {
    case .float32(let p): try p.run(frame: frame, context: context)
    case .float64(let p): try p.run(frame: frame, context: context)
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

  /// Runs the program; `false` when the general path must run instead.
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws -> Bool {
    switch self {
    case .float32(let p): try p._withUnsafeGuaranteedRef { try $0.run(frame: frame, context: context) }
    case .float64(let p): try p._withUnsafeGuaranteedRef { try $0.run(frame: frame, context: context) }
    }
  }
}
