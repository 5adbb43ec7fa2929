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
/// without creating or checking arrays per operation. Fetched values and variables are still
/// `NDArray`s, written in place.
final class ScalarProgram<T: FloatElement> {
  enum Instruction {
    case unary(Unary.Function, dst: Int, x: Int)
    case binary(Binary.Function, dst: Int, x: Int, y: Int)
    case sigmoidCrossEntropy(dst: Int, x: Int, z: Int)
    case copy(dst: Int, x: Int)
    case sumOfOne(dst: Int, x: Int)
    case readVariable(dst: Int, node: Int)
    case assign(node: Int, x: Int, shapeIndex: Int)
    case assignUpdate(node: Int, x: Int, subtract: Bool)
  }

  var instructions: [Instruction] = []
  /// Shapes of assigned variables (kept out of the instructions so copying one is trivial).
  var assignShapes: [Shape] = []
  let registers: UnsafeMutablePointer<T>
  let count: Int
  /// Fetched slots with the static shape to give them.
  var fetches: [(slot: Int, shape: Shape)] = []
  let feedSlots: [Int]

  /// Lowers `plan`, or returns `nil` when some step or value does not fit.
  init?(plan: Plan, graph: Graph) {
    let nodes = graph.nodes
    let dtype = T.dtype
    count = Swift.max(plan.slotCount, 1)
    registers = .allocate(capacity: count)
    registers.initialize(repeating: 0, count: count)
    feedSlots = plan.feeds.map(\.slot)
    func fits(_ info: TensorInfo) -> Shape? {
      guard info.dtype == dtype, let s = info.shape.concrete, s.elementCount == 1 else { return nil }
      return s
    }
    for feed in plan.feeds where fits(feed.info) == nil { return nil }
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
      let ins = (0..<step.inputCount).map { plan.slotLists[step.inputStart + $0] }
      switch form {
      case .unary(let f): instructions.append(.unary(f, dst: outs[0], x: ins[0]))
      case .binary(let f): instructions.append(.binary(f, dst: outs[0], x: ins[0], y: ins[1]))
      case .sigmoidCrossEntropy: instructions.append(.sigmoidCrossEntropy(dst: outs[0], x: ins[0], z: ins[1]))
      case .passThrough: instructions.append(.copy(dst: outs[0], x: ins[0]))
      case .sumOfOne: instructions.append(.sumOfOne(dst: outs[0], x: ins[0]))
      case .sumToShape:
        let input = node.inputs[0]
        let same = nodes[input.node].outputs[input.output].shape == node.outputs[0].shape
        instructions.append(same ? .copy(dst: outs[0], x: ins[0]) : .sumOfOne(dst: outs[0], x: ins[0]))
      case .constant(let v): registers[outs[0]] = T(v)
      case .readVariable: instructions.append(.readVariable(dst: outs[0], node: step.node))
      case .assign(let v):
        guard let shape = (nodes[v].primitive as? VariablePrimitive)?.shape, shape.elementCount == 1 else { return nil }
        instructions.append(.assign(node: v, x: ins[0], shapeIndex: assignShapes.count))
        assignShapes.append(shape)
        if let o = outs.first { instructions.append(.copy(dst: o, x: ins[0])) }
      case .assignUpdate(let v, let subtract): instructions.append(.assignUpdate(node: v, x: ins[0], subtract: subtract))
      case .noOp: break
      }
    }
    for slot in plan.fetchSlots {
      guard let s = slotShape[slot] ?? plan.feeds.first(where: { $0.slot == slot }).flatMap({ fits($0.info) }) else { return nil }
      fetches.append((slot, s))
    }
  }

  deinit { registers.deallocate() }

  /// Runs the program: reads the fed values from the frame, updates variables in `context`,
  /// and writes the fetched values into their frame slots. The caller has sized
  /// `context.variables` to the graph.
  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws {
    let r = registers
    for slot in feedSlots { r[slot] = frame[slot].withUnsafeBufferPointer(as: T.self) { $0[0] } }
    try instructions.withUnsafeBufferPointer { code in
      try context.variables.withUnsafeMutableBufferPointer { vars in
        func missing(_ node: Int) -> SessionError {
          .uninitializedVariable(name: context.graph?.nodes[node].name ?? "#\(node)")
        }
        for instruction in code {
          switch instruction {
          case let .unary(f, dst, x): r[dst] = f.apply(r[x])
          case let .binary(f, dst, x, y): r[dst] = f.apply(r[x], r[y])
          case let .sigmoidCrossEntropy(dst, x, z): r[dst] = SigmoidCrossEntropy.loss(r[x], r[z])
          case let .copy(dst, x): r[dst] = r[x]
          case let .sumOfOne(dst, x): r[dst] = 0 + r[x]
          case let .readVariable(dst, node):
            guard let value = vars[node]?.withUnsafeBufferPointer(as: T.self, { $0[0] }) else { throw missing(node) }
            r[dst] = value
          case let .assign(node, x, shapeIndex):
            let value = r[x]
            if vars[node]?.shape == assignShapes[shapeIndex] {
              vars[node]!.withUnsafeMutableBufferPointer(as: T.self) { $0[0] = value }
            } else {
              vars[node] = NDArray([value], shape: assignShapes[shapeIndex])
            }
          case let .assignUpdate(node, x, subtract):
            let delta = subtract ? -1 * r[x] : r[x]
            guard vars[node] != nil else { throw missing(node) }
            vars[node]!.withUnsafeMutableBufferPointer(as: T.self) { $0[0] += delta }
          }
        }
      }
    }
    for (slot, shape) in fetches {
      frame[slot].prepare(shape: shape, dtype: T.dtype)
      let value = r[slot]
      frame[slot].withUnsafeMutableBufferPointer(as: T.self) { $0[0] = value }
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

  func run(frame: UnsafeMutablePointer<NDArray>, context: ExecutionContext) throws {
    switch self {
    case .float32(let p): try p.run(frame: frame, context: context)
    case .float64(let p): try p.run(frame: frame, context: context)
    }
  }
}
