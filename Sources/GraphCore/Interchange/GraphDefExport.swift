import ArrayCore

/// An error writing or reading a TensorFlow `GraphDef`.
public enum GraphDefError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Operations with no TensorFlow (or, exporting to ONNX, ONNX) counterpart, as
  /// `Type: name, name` entries (one per type, in order of first appearance).
  case unsupportedOperations(direction: String, [String])
  /// The bytes are not a valid GraphDef (truncated, bad field, bad attribute), or a node
  /// refers to a missing node; `reason` names the node.
  case malformed(source: String, reason: String)

  /// One line naming every unsupported operation, or the problem.
  public var description: String {
    switch self {
    case let .unsupportedOperations(direction, list):
      "cannot \(direction) these operations (no \(direction.hasSuffix("ONNX") ? "ONNX" : "TensorFlow") counterpart supported): \(list.joined(separator: "; "))"
    case let .malformed(source, reason):
      "\(source): not a valid GraphDef: \(reason)"
    }
  }
}

/// `Type: a, b` entries for ``GraphDefError/unsupportedOperations(direction:_:)``.
func groupedByType(_ pairs: [(type: String, name: String)]) -> [String] {
  var order: [String] = []
  var names: [String: [String]] = [:]
  for (type, name) in pairs {
    if names[type] == nil { order.append(type) }
    names[type, default: []].append(name)
  }
  return order.map { "\($0): \(names[$0]!.joined(separator: ", "))" }
}

extension Graph {
  /// The graph as a serialized TensorFlow `GraphDef` (graph.proto), with TensorFlow's
  /// operation names and attributes (`T`, `dtype`, `shape`, `value`, `transpose_a`,
  /// `keep_dims`...), so that `tf.compat.v1.import_graph_def` can run it and TensorBoard can
  /// draw it.
  ///
  /// Each operation keeps its name. Operations whose TensorFlow form takes extra inputs
  /// (`Sum`'s axes, `Reshape`'s shape, ...) get `Const` nodes named `<name>/axes`,
  /// `<name>/shape`...; the few primitives TensorFlow lacks are written as small TensorFlow
  /// subgraphs whose last node has the operation's name: `SumToShapeOf` (TensorFlow's own
  /// broadcast-gradient pattern: `BroadcastGradientArgs`, `Sum`, `Reshape`), `ReshapeLike`,
  /// `BroadcastLike`, `EnsureShapeLike` (an `Assert` that the two `Shape`s are `Equal`, and an
  /// `Identity` that waits for it), `CheckNonZeroDivisor` (an `Assert` that `All` elements are
  /// `NotEqual` to 0, and an `Identity` that waits for it), `ElementCount` (`Size`, `Cast`, or a
  /// constant when the shape is known),
  /// `SigmoidCrossEntropyWithLogits` (`Relu(x) - x·z + Softplus(-|x|)`), random values with a
  /// mean and deviation (`RandomStandardNormal` then `Mul`, `AddV2`; the standard distributions
  /// are the one operation). A constant that operations read is written just before the first
  /// of them, so that `Graph(graphDef:)` then `graphDef()` gives the same bytes again. Every variable's initial
  /// value is assigned by a `<variable>/Assign` node (unless the graph already has one), all
  /// grouped by a `NoOp` named `init` (or `init_1`, ... when taken), as
  /// `tf.compat.v1.global_variables_initializer()`.
  ///
  /// An eager graph (a tape's, or a value's) keeps its operations' names without making them
  /// unique, which a GraphDef cannot hold: it is refused when two of its operations share a
  /// name (export a ``CompiledFunction``'s trace, ``CompiledFunction/graph(for:)``, instead).
  ///
  /// - Parameter lenient: write operations without a TensorFlow counterpart under their own
  ///   type names, without attributes, instead of throwing (enough for TensorBoard's graph
  ///   picture, not for TensorFlow to run).
  /// - Throws: ``GraphDefError/unsupportedOperations(direction:_:)`` listing every operation
  ///   without a TensorFlow counterpart, by type and name.
  public func graphDef(lenient: Bool = false) throws -> [UInt8] {
    try checkNamesAreUnique(op: "graphDef")
    var exporter = GraphDefExporter(graph: self)
    try exporter.run(lenient: lenient)
    var g = ProtobufWriter()
    for n in exporter.out { g.message(1, n.encoded()) }
    // VersionDef: producer 1205 is TensorFlow 2.x's GRAPH_DEF_VERSION range (consumers accept
    // producers from min_consumer up).
    g.message(4) { v in v.int64(1, Int64(GraphDefExporter.producer)) }
    return g.bytes
  }
}

extension Graph {
  /// Refuses an eager graph two of whose operations share a name (eager graphs skip TF1's
  /// unique naming, for speed); a symbolic graph's names are unique by construction.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` naming the repeated name.
  func checkNamesAreUnique(op: String) throws {
    guard isEager else { return }
    var seen = Set<String>(minimumCapacity: nodes.count)
    for node in nodes where !seen.insert(node.name).inserted {
      throw GraphError.invalidArgument(
        op: op,
        reason: "two operations are named '\(node.name)': an eager graph's operations keep their names without making them unique, which a GraphDef cannot hold; trace the code with compile and export the trace (compile(f).graph(for: inputs))",
        location: nil)
    }
  }
}

struct GraphDefExporter {
  static let producer = 1205
  let graph: Graph
  var out: [TFNode] = []
  var used: Set<String>
  var unsupported: [(type: String, name: String)] = []

  init(graph: Graph) {
    self.graph = graph
    used = Set(graph.nodes.map(\.name))
  }

  mutating func fresh(_ base: String) -> String {
    if used.insert(base).inserted { return base }
    var i = 1
    while !used.insert("\(base)_\(i)").inserted { i += 1 }
    return "\(base)_\(i)"
  }

  /// TensorFlow names of outputs written as nodes of their own (a composite's second and later
  /// outputs, such as ``Normalize``'s mean and variance).
  var outputAliases: [ValueRef: String] = [:]

  func ref(_ v: ValueRef) -> String {
    if let alias = outputAliases[v] { return alias }
    return v.output == 0 ? graph.nodes[v.node].name : "\(graph.nodes[v.node].name):\(v.output)"
  }

  func info(_ v: ValueRef) -> TensorInfo { graph.nodes[v.node].outputs[v.output] }

  /// Adds an int32 constant node and returns its name.
  mutating func intConst(_ base: String, _ values: [Int], scalar: Bool = false) -> String {
    let name = fresh(base)
    let array = NDArray(values.map(Int32.init), shape: scalar ? [] : [values.count])
    out.append(TFNode(name: name, op: "Const", attrs: [("dtype", .type(.int32)), ("value", .tensor(array))]))
    return name
  }

  /// TensorFlow's `MirrorPad` or `MirrorPadGrad` node: the paddings as an [rank, 2] constant
  /// (added to `out`), the mode as an attribute.
  mutating func mirrorPadNodes(
    _ op: String, _ name: String, _ input: String, _ before: [Int], _ after: [Int], _ mode: MirrorPadMode, _ t: DType
  ) -> [TFNode] {
    let paddings = fresh(name + "/paddings")
    let pairs = NDArray(zip(before, after).flatMap { [Int32($0), Int32($1)] }, shape: [before.count, 2])
    out.append(TFNode(name: paddings, op: "Const", attrs: [("dtype", .type(.int32)), ("value", .tensor(pairs))]))
    return [
      TFNode(name: name, op: op, inputs: [input, paddings], attrs: [("T", .type(t)), ("Tpaddings", .type(.int32)), ("mode", .string(mode.rawValue))])
    ]
  }

  mutating func scalarConst(_ base: String, _ value: Double, _ dtype: DType) throws -> String {
    let name = fresh(base)
    out.append(
      TFNode(
        name: name, op: "Const",
        attrs: [("dtype", .type(dtype)), ("value", .tensor(try NDArray(repeating: value, shape: [], dtype: dtype)))]))
    return name
  }

  /// The variables an operation writes.
  static func writtenVariables(_ p: any Primitive) -> [Int] {
    switch p {
    case let a as Assign: [a.variable]
    case let a as AssignUpdate: [a.variable]
    case let a as ApplyAdam: [a.variable, a.m, a.v]
    default: []
    }
  }

  /// Control inputs TensorFlow needs to read variables when Backprop does. Backprop runs a
  /// step's operations in creation order, so every read of a variable made before an update
  /// (the forward pass, and gradients such as layer 1's, which read layer 2's kernel) sees the
  /// old value; TensorFlow runs independent operations in any order. For each group
  /// (`NoOp`, such as an optimizer's `train`), an update of a variable gets a control input on
  /// every earlier reader of that variable in the group that it does not already depend on.
  func readBeforeWrite() -> [Int: [Int]] {
    let nodes = graph.nodes
    var ancestorMemo: [Int: Set<Int>] = [:]
    func ancestors(_ id: Int) -> Set<Int> {
      if let known = ancestorMemo[id] { return known }
      var seen = Set<Int>()
      var stack = nodes[id].inputs.map(\.node) + nodes[id].controlInputs
      while let n = stack.popLast() {
        guard seen.insert(n).inserted else { continue }
        if let known = ancestorMemo[n] { seen.formUnion(known) } else { stack += nodes[n].inputs.map(\.node) + nodes[n].controlInputs }
      }
      ancestorMemo[id] = seen
      return seen
    }
    var extra: [Int: Set<Int>] = [:]
    for group in nodes.indices where nodes[group].primitive is NoOp {
      let members = ancestors(group)
      for w in members.sorted() {
        let written = Set(Self.writtenVariables(nodes[w].primitive))
        guard !written.isEmpty else { continue }
        let before = ancestors(w)
        for r in members where r < w && r != w && !before.contains(r) && !written.contains(r)
          && nodes[r].inputs.contains(where: { written.contains($0.node) })
        {
          extra[w, default: []].insert(r)
        }
      }
    }
    return extra.mapValues { $0.sorted() }
  }

  mutating func run(lenient: Bool) throws {
    let ordering = readBeforeWrite()
    // A constant that operations read is written just before the first of them (a variable
    // reads its initial value), where `Graph(graphDef:)` builds it again (it builds such a
    // constant when an operation first reads it, see `GraphDefImporter.LazyConstants`): so a
    // file loaded and saved again keeps its order, and its bytes. Others stay where they are.
    var initialValue: [Int: ValueRef] = [:]
    for (v, value) in graph.initialValues { initialValue[v] = value }
    func readConstants(_ id: Int) -> [Int] {
      (graph.nodes[id].inputs + (initialValue[id].map { [$0] } ?? [])).map(\.node).filter { c in
        graph.nodes[c].primitive is ConstantPrimitive && graph.nodes[c].controlInputs.isEmpty
      }
    }
    var waiting = Set<Int>()
    for id in graph.nodes.indices { waiting.formUnion(readConstants(id)) }
    for id in graph.nodes.indices where !waiting.contains(id) {
      for c in readConstants(id) where waiting.remove(c) != nil {
        out += try export(c, graph.nodes[c], []) ?? []
      }
      let node = graph.nodes[id]
      let inputs = node.inputs.map(ref)
      let control = (node.controlInputs + (ordering[id] ?? [])).map { "^" + graph.nodes[$0].name }
      let start = out.count
      var emitted = try export(id, node, inputs)
      if var nodes = emitted, let composite = Self.composite(node.primitive) {
        // Written as several TensorFlow nodes: mark them so that Graph(graphDef:) restores the
        // one primitive (attributes starting with "_" are ignored by TensorFlow).
        for i in start..<out.count { out[i].attrs.append(("_backprop_helper", .bool(true))) }
        for i in nodes.indices.dropLast() { nodes[i].attrs.append(("_backprop_helper", .bool(true))) }
        // The primitive's own inputs; the training updates name their variables first.
        var own = inputs
        if let a = node.primitive as? ApplyAdam { own = [a.variable, a.m, a.v].map { graph.nodes[$0].name } + inputs }
        nodes[nodes.count - 1].attrs += [("_backprop_op", .string(composite.type)), ("_backprop_inputs", .strings(own))]
        nodes[nodes.count - 1].attrs += composite.attrs
        emitted = nodes
      }
      if emitted == nil {
        if lenient {
          emitted = [TFNode(name: node.name, op: node.primitive.typeName, inputs: inputs)]
        } else {
          unsupported.append((node.primitive.typeName, node.name))
          continue
        }
      }
      var nodes = emitted!
      // A registered update (batch normalization's moving averages: TF1's `UPDATE_OPS`
      // collection, which a GraphDef lacks), so that `minimize` on the imported graph runs it.
      if graph.updateNodes.contains(id) { nodes[nodes.count - 1].attrs.append(("_backprop_update", .bool(true))) }
      // Control inputs go on every emitted node without data inputs from this op's group.
      if !control.isEmpty { for i in nodes.indices { nodes[i].inputs += control } }
      out += nodes
    }
    if !unsupported.isEmpty {
      throw GraphDefError.unsupportedOperations(direction: "export", groupedByType(unsupported))
    }
    // Initializers, as global_variables_initializer().
    var assigns: [String] = []
    for (v, value) in graph.initialValues {
      let variable = graph.nodes[v]
      let name = variable.name + "/Assign"
      let existing = graph.nodes.contains { $0.name == name && $0.primitive is Assign }
      if existing {
        assigns.append("^" + name)
        continue
      }
      let n = fresh(name)
      out.append(
        TFNode(
          name: n, op: "Assign", inputs: [variable.name, ref(value)],
          attrs: [("T", .type(variable.outputs[0].dtype)), ("use_locking", .bool(true)), ("validate_shape", .bool(true))]))
      assigns.append("^" + n)
    }
    if !graph.initialValues.isEmpty && !graph.nodes.contains(where: { $0.name == "init" && $0.primitive is NoOp }) {
      out.append(TFNode(name: fresh("init"), op: "NoOp", inputs: assigns))
    }
  }

  /// TensorFlow's NHWC window attributes: `strides`, `padding`, `data_format`, and `ksize`
  /// (pooling) or `dilations` and `explicit_paddings` (convolutions).
  static func windowAttributes(_ g: WindowGeometry, window: Bool) -> [(String, TFAttr)] {
    var a: [(String, TFAttr)] = [
      ("strides", .ints([1, g.strides[0], g.strides[1], 1])), ("padding", .string(g.padding == .same ? "SAME" : "VALID")),
      ("data_format", .string("NHWC")),
    ]
    if window {
      a.append(("ksize", .ints([1, g.window[0], g.window[1], 1])))
    } else {
      a += [("dilations", .ints([1, g.dilations[0], g.dilations[1], 1])), ("explicit_paddings", .ints([]))]
    }
    return a
  }

  /// The primitives written as several TensorFlow nodes, with what restores them.
  static func composite(_ p: any Primitive) -> (type: String, attrs: [(String, TFAttr)])? {
    switch p {
    case is SumToShapeOf: ("SumToShapeOf", [])
    case is ScatterAdd: ("ScatterAdd", [])
    case is ReshapeLike: ("ReshapeLike", [])
    case is BroadcastLike: ("BroadcastLike", [])
    case let e as EnsureShapeLike:
      ("EnsureShapeLike", [("_backprop_operation", .string(e.operation)), ("_backprop_roles", .strings([e.role, e.referenceRole]))])
    case let c as CheckNonZeroDivisor:
      ("CheckNonZeroDivisor", [("_backprop_operation", .string(c.operation)), ("_backprop_operation_type", .string(c.operationType))])
    case let e as ElementCount: ("ElementCount", [("_backprop_axes", .ints(e.axes))])
    case let b as any BinaryPrimitive where b.function is SigmoidCrossEntropy: ("SigmoidCrossEntropyWithLogits", [])
    // TensorFlow's ApplyAdam takes β₁, β₂ and ε as tensors of the variable's dtype; Backprop's
    // kernel computes 1−β₁ and 1−β₂ in float64 before rounding them, so the exact values
    // travel beside them.
    case let c as Conv2DBackpropInput: ("Conv2DBackpropInput", c.outputShape.map { [("_backprop_output_shape", .ints($0))] } ?? [])
    case is Conv2DBackpropFilter: ("Conv2DBackpropFilter", [])
    case is MaxPoolGrad: ("MaxPoolGrad", [])
    case is AvgPoolGrad: ("AvgPoolGrad", [])
    case let d as DropoutMask:
      ("DropoutMask", [("_backprop_rate", .tensor(NDArray(scalar: d.rate))), ("_backprop_seed", .string(String(d.seed)))])
    case let n as Normalize:
      ("Normalize", [("_backprop_axes", .ints(n.axes)), ("_backprop_epsilon", .tensor(NDArray(scalar: n.epsilon)))])
    case let s as StepPower: ("StepPower", [("_backprop_base", .tensor(NDArray(scalar: s.base)))])
    case let s as ScheduledLearningRate:
      (s.formula.typeName, [("_backprop_schedule", .tensor(NDArray(s.formula.parameters, shape: [s.formula.parameters.count])))])
    case let a as ApplyAdam:
      ("ApplyAdam", [("_backprop_hyperparameters", .tensor(NDArray([a.beta1, a.beta2, a.epsilon], shape: [3])))])
    default: nil
    }
  }

  /// The TensorFlow nodes for one operation, the last one carrying its name; `nil` when it has
  /// no TensorFlow counterpart.
  mutating func export(_ id: Int, _ node: Node, _ inputs: [String]) throws -> [TFNode]? {
    let name = node.name
    let p = node.primitive
    let t: DType = node.inputs.first.map { info($0).dtype } ?? node.outputs.first?.dtype ?? .float32
    func simple(_ op: String, _ attrs: [(String, TFAttr)] = []) -> [TFNode] {
      [TFNode(name: name, op: op, inputs: inputs, attrs: attrs)]
    }
    switch p {
    case is PlaceholderPrimitive:
      return simple("Placeholder", [("dtype", .type(node.outputs[0].dtype)), ("shape", .shape(node.outputs[0].shape))])
    case let c as ConstantPrimitive:
      return simple("Const", [("dtype", .type(c.value.dtype)), ("value", .tensor(c.value))])
    case let v as VariablePrimitive:
      // Whether optimizers update it (TF1 keeps this in the MetaGraphDef's `trainable_variables`
      // collection, which a GraphDef lacks): written for the variables that are not trainable
      // (slots, step counters, moving averages), so that an imported graph's
      // `trainableVariables` are the model's parameters.
      return simple(
        "VariableV2",
        [("dtype", .type(v.dtype)), ("shape", .shape(PartialShape(v.shape))), ("container", .string("")), ("shared_name", .string(""))]
          + (v.trainable ? [] : [("_backprop_trainable", .bool(false))]))
    // A function of your own (a `UnaryFunction` or `BinaryFunction` you wrote) has no
    // TensorFlow counterpart, even under a built-in's name: it is listed as unsupported (it was
    // written under its type name, a file neither TensorFlow nor `Graph(graphDef:)` can load).
    case let u as any UnaryPrimitive where !PrimitiveRegistry.isBuiltIn(u.function):
      return nil
    case let b as any BinaryPrimitive where !PrimitiveRegistry.isBuiltIn(b.function):
      return nil
    case let u as any UnaryPrimitive:
      if let l = u.function as? LeakyRelu {
        // TensorFlow's `alpha` is a float: the exact value travels beside it, so a float64
        // model comes back computing with its own slope, not 0.2's float (0.20000000298...).
        return simple(
          "LeakyRelu", [("T", .type(t)), ("alpha", .float(Float(l.alpha))), ("_backprop_alpha", .tensor(NDArray(scalar: l.alpha)))])
      }
      return simple(u.typeName, [("T", .type(t))])
    case let b as any BinaryPrimitive where b.function is SigmoidCrossEntropy:
      // max(x, 0) - x·z + log(1 + e^(-|x|)), as tf.nn.sigmoid_cross_entropy_with_logits.
      let attrs: [(String, TFAttr)] = [("T", .type(t))]
      let relu = fresh(name + "/relu"), xz = fresh(name + "/mul"), diff = fresh(name + "/sub")
      let absx = fresh(name + "/abs"), neg = fresh(name + "/neg"), soft = fresh(name + "/softplus")
      return [
        TFNode(name: relu, op: "Relu", inputs: [inputs[0]], attrs: attrs),
        TFNode(name: xz, op: "Mul", inputs: [inputs[0], inputs[1]], attrs: attrs),
        TFNode(name: diff, op: "Sub", inputs: [relu, xz], attrs: attrs),
        TFNode(name: absx, op: "Abs", inputs: [inputs[0]], attrs: attrs),
        TFNode(name: neg, op: "Neg", inputs: [absx], attrs: attrs),
        TFNode(name: soft, op: "Softplus", inputs: [neg], attrs: attrs),
        TFNode(name: name, op: "AddV2", inputs: [diff, soft], attrs: attrs),
      ]
    case let b as any BinaryPrimitive:
      // TensorFlow has every binary function under the same name but Hypot.
      guard b.typeName != "Hypot" else { return nil }
      return simple(b.typeName == "Add" ? "AddV2" : b.typeName, [("T", .type(t))])
    case let c as Compare:
      return simple(c.typeName, [("T", .type(t))])
    case let l as Logical:
      return simple(l.typeName)
    case is Select:
      return simple("SelectV2", [("T", .type(node.outputs[0].dtype))])
    case let c as Cast:
      return simple("Cast", [("SrcT", .type(t)), ("DstT", .type(c.dtype)), ("Truncate", .bool(false))])
    case let m as MatMul:
      return simple("MatMul", [("T", .type(t)), ("transpose_a", .bool(m.transposeA)), ("transpose_b", .bool(m.transposeB))])
    case let n as Normalize:
      // tf.nn.moments then the normalization: μ = mean(x), σ² = mean((x − μ)²) over the axes
      // (kept), x̂ = (x − μ) · rsqrt(σ² + ε); μ and σ² are nodes of their own, named in
      // `_backprop_outputs` so that Graph(graphDef:) maps them back to outputs 1 and 2.
      let attrs: [(String, TFAttr)] = [("T", .type(t))]
      let reduce: [(String, TFAttr)] = attrs + [("Tidx", .type(.int32)), ("keep_dims", .bool(true))]
      let axes = intConst(name + "/axes", n.axes)
      let mean = fresh(name + "/mean"), squares = fresh(name + "/SquaredDifference"), variance = fresh(name + "/variance")
      let shifted = fresh(name + "/add"), scale = fresh(name + "/Rsqrt"), centered = fresh(name + "/sub")
      let epsilon = try scalarConst(name + "/epsilon", n.epsilon, t)
      outputAliases[ValueRef(node: id, output: 1)] = mean
      outputAliases[ValueRef(node: id, output: 2)] = variance
      return [
        TFNode(name: mean, op: "Mean", inputs: [inputs[0], axes], attrs: reduce),
        TFNode(name: squares, op: "SquaredDifference", inputs: [inputs[0], mean], attrs: attrs),
        TFNode(name: variance, op: "Mean", inputs: [squares, axes], attrs: reduce),
        TFNode(name: shifted, op: "AddV2", inputs: [variance, epsilon], attrs: attrs),
        TFNode(name: scale, op: "Rsqrt", inputs: [shifted], attrs: attrs),
        TFNode(name: centered, op: "Sub", inputs: [inputs[0], mean], attrs: attrs),
        TFNode(name: name, op: "Mul", inputs: [centered, scale], attrs: attrs + [("_backprop_outputs", .strings([name, mean, variance]))]),
      ]
    case let s as Sum:
      let axes = intConst(name + "/reduction_indices", s.axes)
      return [TFNode(name: name, op: "Sum", inputs: inputs + [axes], attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("keep_dims", .bool(s.keepDims))])]
    case let p as Product:
      let axes = intConst(name + "/reduction_indices", p.axes)
      return [TFNode(name: name, op: "Prod", inputs: inputs + [axes], attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("keep_dims", .bool(p.keepDims))])]
    case let c as CumulativeProduct:
      let axis = intConst(name + "/axis", [c.axis], scalar: true)
      return [
        TFNode(
          name: name, op: "Cumprod", inputs: inputs + [axis],
          attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("exclusive", .bool(c.exclusive)), ("reverse", .bool(c.reverse))])
      ]
    case let c as CumulativeSum:
      // (Written since Cumprod's gradient, a Cumsum, reached it: it was imported, not exported.)
      let axis = intConst(name + "/axis", [c.axis], scalar: true)
      return [
        TFNode(
          name: name, op: "Cumsum", inputs: inputs + [axis],
          attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("exclusive", .bool(c.exclusive)), ("reverse", .bool(c.reverse))])
      ]
    case let e as Extremum:
      let axes = intConst(name + "/reduction_indices", e.axes)
      return [TFNode(name: name, op: e.typeName, inputs: inputs + [axes], attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("keep_dims", .bool(e.keepDims))])]
    case let a as ArgExtremum:
      let axis = intConst(name + "/dimension", [a.axis], scalar: true)
      return [TFNode(name: name, op: a.typeName, inputs: inputs + [axis], attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("output_type", .type(.int32))])]
    case let e as ElementCount:
      let dims = info(node.inputs[0]).shape.dimensions
      let out = node.outputs[0].dtype
      if e.axes.allSatisfy({ $0 < dims.count && dims[$0] != nil }) {
        let n = e.axes.reduce(1) { $0 * dims[$1]! }
        return [TFNode(name: name, op: "Const", attrs: [("dtype", .type(out)), ("value", .tensor(try NDArray(repeating: Double(n), shape: [], dtype: out)))])]
      }
      let shape = fresh(name + "/shape")
      let picked = fresh(name + "/picked")
      let count = fresh(name + "/count")
      let axes = intConst(name + "/axes", e.axes)
      let zero = intConst(name + "/zero", [0], scalar: true)
      let zeroAxis = intConst(name + "/prod_axis", [0])
      return [
        TFNode(name: shape, op: "Shape", inputs: [inputs[0]], attrs: [("T", .type(t)), ("out_type", .type(.int32))]),
        TFNode(name: picked, op: "GatherV2", inputs: [shape, axes, zero], attrs: [("Tparams", .type(.int32)), ("Tindices", .type(.int32)), ("Taxis", .type(.int32)), ("batch_dims", .int(0))]),
        TFNode(name: count, op: "Prod", inputs: [picked, zeroAxis], attrs: [("T", .type(.int32)), ("Tidx", .type(.int32)), ("keep_dims", .bool(false))]),
        TFNode(name: name, op: "Cast", inputs: [count], attrs: [("SrcT", .type(.int32)), ("DstT", .type(out)), ("Truncate", .bool(false))]),
      ]
    case let s as Softmax:
      guard s.axis == info(node.inputs[0]).shape.rank - 1 else { return nil }
      return simple(s.typeName, [("T", .type(t))])
    case is SparseSoftmaxCrossEntropy:
      return simple("SparseSoftmaxCrossEntropyWithLogits", [("T", .type(t)), ("Tlabels", .type(.int32))])
    case let r as Reshape:
      let shape = intConst(name + "/shape", r.shape)
      return [TFNode(name: name, op: "Reshape", inputs: [inputs[0], shape], attrs: [("T", .type(t)), ("Tshape", .type(.int32))])]
    case is ReshapeLike, is BroadcastLike:
      let shape = fresh(name + "/target_shape")
      let likeType = info(node.inputs[1]).dtype
      let op = p is ReshapeLike ? "Reshape" : "BroadcastTo"
      return [
        TFNode(name: shape, op: "Shape", inputs: [inputs[1]], attrs: [("T", .type(likeType)), ("out_type", .type(.int32))]),
        TFNode(name: name, op: op, inputs: [inputs[0], shape], attrs: [("T", .type(t)), (op == "Reshape" ? "Tshape" : "Tidx", .type(.int32))]),
      ]
    case let scatter as ScatterAdd where scatter.axis == 0:
      // The gradient of a gather along axis 0 (an embedding lookup's), as TensorFlow densifies
      // its IndexedSlices: UnsortedSegmentSum(updates, indices, shape(reference)[0]).
      let shape = fresh(name + "/shape")
      out.append(TFNode(name: shape, op: "Shape", inputs: [inputs[2]], attrs: [("T", .type(info(node.inputs[2]).dtype)), ("out_type", .type(.int32))]))
      let begin = intConst(name + "/begin", [0]), end = intConst(name + "/end", [1]), strides = intConst(name + "/strides", [1])
      let rows = fresh(name + "/num_segments")
      return [
        TFNode(
          name: rows, op: "StridedSlice", inputs: [shape, begin, end, strides],
          attrs: [
            ("T", .type(.int32)), ("Index", .type(.int32)), ("begin_mask", .int(0)), ("end_mask", .int(0)), ("ellipsis_mask", .int(0)),
            ("new_axis_mask", .int(0)), ("shrink_axis_mask", .int(1)),
          ]),
        TFNode(
          name: name, op: "UnsortedSegmentSum", inputs: [inputs[0], inputs[1], rows],
          attrs: [("T", .type(t)), ("Tindices", .type(.int32)), ("Tnumsegments", .type(.int32))]),
      ]
    case is SumToShapeOf:
      // TensorFlow's own un-broadcasting: Reshape(Sum(g, BroadcastGradientArgs(shape(like), shape(g))[0]), shape(like)).
      let likeType = info(node.inputs[1]).dtype
      let sx = fresh(name + "/shape_x"), sl = fresh(name + "/shape_like")
      let args = fresh(name + "/BroadcastGradientArgs"), total = fresh(name + "/Sum")
      return [
        TFNode(name: sx, op: "Shape", inputs: [inputs[0]], attrs: [("T", .type(t)), ("out_type", .type(.int32))]),
        TFNode(name: sl, op: "Shape", inputs: [inputs[1]], attrs: [("T", .type(likeType)), ("out_type", .type(.int32))]),
        TFNode(name: args, op: "BroadcastGradientArgs", inputs: [sl, sx], attrs: [("T", .type(.int32))]),
        TFNode(name: total, op: "Sum", inputs: [inputs[0], args], attrs: [("T", .type(t)), ("Tidx", .type(.int32)), ("keep_dims", .bool(false))]),
        TFNode(name: name, op: "Reshape", inputs: [total, sl], attrs: [("T", .type(t)), ("Tshape", .type(.int32))]),
      ]
    case is EnsureShapeLike:
      // TensorFlow's run-time shape assertion (as tf.debugging.assert_equal(tf.shape(x),
      // tf.shape(reference)) builds it), then x through an Identity that waits for it.
      let likeType = info(node.inputs[1]).dtype
      let sx = fresh(name + "/shape_x"), sl = fresh(name + "/shape_like")
      let equal = fresh(name + "/Equal"), all = fresh(name + "/All"), check = fresh(name + "/Assert")
      let axis = intConst(name + "/axis", [0])
      return [
        TFNode(name: sx, op: "Shape", inputs: [inputs[0]], attrs: [("T", .type(t)), ("out_type", .type(.int32))]),
        TFNode(name: sl, op: "Shape", inputs: [inputs[1]], attrs: [("T", .type(likeType)), ("out_type", .type(.int32))]),
        TFNode(name: equal, op: "Equal", inputs: [sx, sl], attrs: [("T", .type(.int32))]),
        TFNode(name: all, op: "All", inputs: [equal, axis], attrs: [("Tidx", .type(.int32)), ("keep_dims", .bool(false))]),
        TFNode(name: check, op: "Assert", inputs: [all, sx, sl], attrs: [("T", .types([.int32, .int32])), ("summarize", .int(8))]),
        TFNode(name: name, op: "Identity", inputs: [inputs[0], "^" + check], attrs: [("T", .type(t))]),
      ]
    case is CheckNonZeroDivisor:
      // TensorFlow's run-time assertion (as tf.debugging.assert_none_equal(y, 0) builds it),
      // then y through an Identity that waits for it; TensorFlow's division raises by itself.
      let zero = intConst(name + "/zero", [0], scalar: true)
      let axes = intConst(name + "/axes", Array(0..<info(node.inputs[0]).shape.rank))
      let notEqual = fresh(name + "/NotEqual"), all = fresh(name + "/All"), check = fresh(name + "/Assert")
      return [
        TFNode(name: notEqual, op: "NotEqual", inputs: [inputs[0], zero], attrs: [("T", .type(t))]),
        TFNode(name: all, op: "All", inputs: [notEqual, axes], attrs: [("Tidx", .type(.int32)), ("keep_dims", .bool(false))]),
        TFNode(name: check, op: "Assert", inputs: [all, inputs[0]], attrs: [("T", .types([t])), ("summarize", .int(8))]),
        TFNode(name: name, op: "Identity", inputs: [inputs[0], "^" + check], attrs: [("T", .type(t))]),
      ]
    case let e as ExpandDims:
      let dim = intConst(name + "/dim", [e.axis], scalar: true)
      return [TFNode(name: name, op: "ExpandDims", inputs: [inputs[0], dim], attrs: [("T", .type(t)), ("Tdim", .type(.int32))])]
    case let s as Squeeze:
      return simple("Squeeze", [("T", .type(t)), ("squeeze_dims", .ints(s.axes ?? []))])
    case let b as BroadcastTo:
      let shape = intConst(name + "/shape", b.shape)
      return [TFNode(name: name, op: "BroadcastTo", inputs: [inputs[0], shape], attrs: [("T", .type(t)), ("Tidx", .type(.int32))])]
    case let tr as Transpose:
      let perm = intConst(name + "/perm", tr.permutation)
      return [TFNode(name: name, op: "Transpose", inputs: [inputs[0], perm], attrs: [("T", .type(t)), ("Tperm", .type(.int32))])]
    case let c as Concat:
      let axis = intConst(name + "/axis", [c.axis], scalar: true)
      return [TFNode(name: name, op: "ConcatV2", inputs: inputs + [axis], attrs: [("T", .type(t)), ("N", .int(inputs.count)), ("Tidx", .type(.int32))])]
    case let s as Split:
      let sizes = intConst(name + "/size_splits", s.sizes)
      let axis = intConst(name + "/split_dim", [s.axis], scalar: true)
      return [TFNode(name: name, op: "SplitV", inputs: [inputs[0], sizes, axis], attrs: [("T", .type(t)), ("Tlen", .type(.int32)), ("num_split", .int(s.sizes.count))])]
    case let m as MirrorPad:
      return mirrorPadNodes("MirrorPad", name, inputs[0], m.before, m.after, m.mode, t)
    case let m as MirrorPadGrad:
      return mirrorPadNodes("MirrorPadGrad", name, inputs[0], m.before, m.after, m.mode, t)
    case let p as Pad:
      // TensorFlow's paddings are an [rank, 2] tensor; a value other than 0 makes it PadV2.
      let paddings = fresh(name + "/paddings")
      let pairs = NDArray(zip(p.before, p.after).flatMap { [Int32($0), Int32($1)] }, shape: [p.before.count, 2])
      out.append(TFNode(name: paddings, op: "Const", attrs: [("dtype", .type(.int32)), ("value", .tensor(pairs))]))
      let attrs: [(String, TFAttr)] = [("T", .type(t)), ("Tpaddings", .type(.int32))]
      guard p.value != 0 else { return [TFNode(name: name, op: "Pad", inputs: [inputs[0], paddings], attrs: attrs)] }
      let value = try scalarConst(name + "/constant_values", p.value, t)
      return [TFNode(name: name, op: "PadV2", inputs: [inputs[0], paddings, value], attrs: attrs)]
    case let s as Slice:
      let begin = intConst(name + "/begin", s.begin), size = intConst(name + "/size", s.size)
      return [TFNode(name: name, op: "Slice", inputs: [inputs[0], begin, size], attrs: [("T", .type(t)), ("Index", .type(.int32))])]
    case let g as Gather:
      let axis = intConst(name + "/axis", [g.axis], scalar: true)
      return [
        TFNode(
          name: name, op: "GatherV2", inputs: inputs + [axis],
          attrs: [("Tparams", .type(t)), ("Tindices", .type(info(node.inputs[1]).dtype)), ("Taxis", .type(.int32)), ("batch_dims", .int(0))])
      ]
    case let o as OneHot:
      // Without a depth, the depth is the reference's last size (known when built).
      guard let depth = o.depth ?? (node.inputs.count == 2 ? info(node.inputs[1]).shape.dimensions.last ?? nil : nil) else {
        return nil
      }
      let d = intConst(name + "/depth", [depth], scalar: true)
      let on = try scalarConst(name + "/on_value", o.on, o.dtype), off = try scalarConst(name + "/off_value", o.off, o.dtype)
      return [
        TFNode(name: name, op: "OneHot", inputs: [inputs[0], d, on, off], attrs: [("T", .type(o.dtype)), ("TI", .type(t)), ("axis", .int(-1))])
      ]
    case let a as Assign:
      return [
        TFNode(
          name: name, op: "Assign", inputs: [graph.nodes[a.variable].name, inputs[0]],
          attrs: [("T", .type(graph.nodes[a.variable].outputs[0].dtype)), ("use_locking", .bool(true)), ("validate_shape", .bool(true))])
      ]
    case let a as AssignUpdate:
      return [
        TFNode(
          name: name, op: a.typeName, inputs: [graph.nodes[a.variable].name, inputs[0]],
          attrs: [("T", .type(graph.nodes[a.variable].outputs[0].dtype)), ("use_locking", .bool(false))])
      ]
    case is NoOp:
      return simple("NoOp")
    case let a as ApplyAdam:
      return try exportAdam(a, node, inputs)
    case let c as Conv2D:
      return simple("Conv2D", [("T", .type(t))] + Self.windowAttributes(c.geometry, window: false) + [("use_cudnn_on_gpu", .bool(true))])
    case let c as Conv2DBackpropInput:
      // TensorFlow: (input_sizes, filter, out_backprop); Backprop: (dy, filter, reference) or a fixed shape.
      guard c.groups == 1 else { return nil }
      let sizes: String
      if node.inputs.count == 3 {
        sizes = fresh(name + "/input_sizes")
        out.append(TFNode(name: sizes, op: "Shape", inputs: [inputs[2]], attrs: [("T", .type(t)), ("out_type", .type(.int32))]))
      } else {
        guard let shape = node.outputs[0].shape.concrete?.dimensions else { return nil }
        sizes = intConst(name + "/input_sizes", shape)
      }
      return [
        TFNode(
          name: name, op: "Conv2DBackpropInput", inputs: [sizes, inputs[1], inputs[0]],
          attrs: [("T", .type(t))] + Self.windowAttributes(c.geometry, window: false) + [("use_cudnn_on_gpu", .bool(true))])
      ]
    case let c as Conv2DBackpropFilter:
      // TensorFlow: (input, filter_sizes, out_backprop); Backprop: (x, dy, reference filter).
      guard c.groups == 1 else { return nil }
      let sizes = fresh(name + "/filter_sizes")
      out.append(TFNode(name: sizes, op: "Shape", inputs: [inputs[2]], attrs: [("T", .type(t)), ("out_type", .type(.int32))]))
      return [
        TFNode(
          name: name, op: "Conv2DBackpropFilter", inputs: [inputs[0], sizes, inputs[1]],
          attrs: [("T", .type(t))] + Self.windowAttributes(c.geometry, window: false) + [("use_cudnn_on_gpu", .bool(true))])
      ]
    case let m as MaxPool:
      return simple("MaxPool", [("T", .type(t))] + Self.windowAttributes(m.geometry, window: true))
    case let m as AvgPool:
      return simple("AvgPool", [("T", .type(t))] + Self.windowAttributes(m.geometry, window: true))
    case let m as MaxPoolGrad:
      // TensorFlow: (orig_input, orig_output, grad); the pooled values are recomputed.
      let pooled = fresh(name + "/orig_output")
      let attrs: [(String, TFAttr)] = [("T", .type(t))] + Self.windowAttributes(m.geometry, window: true)
      return [
        TFNode(name: pooled, op: "MaxPool", inputs: [inputs[0]], attrs: attrs),
        TFNode(name: name, op: "MaxPoolGrad", inputs: [inputs[0], pooled, inputs[1]], attrs: attrs),
      ]
    case let m as AvgPoolGrad:
      // TensorFlow: (orig_input_shape, grad); Backprop: (dy, reference).
      let shape = fresh(name + "/orig_input_shape")
      out.append(
        TFNode(name: shape, op: "Shape", inputs: [inputs[1]], attrs: [("T", .type(info(node.inputs[1]).dtype)), ("out_type", .type(.int32))]))
      return [
        TFNode(name: name, op: "AvgPoolGrad", inputs: [shape, inputs[0]], attrs: [("T", .type(t))] + Self.windowAttributes(m.geometry, window: true))
      ]
    case let d as DropoutMask:
      // tf.nn.dropout's mask, while training: (uniform ≥ rate) · 1/(1−rate); otherwise ones.
      let attrs: [(String, TFAttr)] = [("T", .type(t))]
      let shape = fresh(name + "/shape"), uniform = fresh(name + "/random_uniform"), keep = fresh(name + "/GreaterEqual")
      let cast = fresh(name + "/Cast"), scaled = fresh(name + "/mul"), ones = fresh(name + "/ones")
      let rate = try scalarConst(name + "/rate", d.rate, t), scale = try scalarConst(name + "/scale", 1 / (1 - d.rate), t)
      return [
        TFNode(name: shape, op: "Shape", inputs: [inputs[0]], attrs: attrs + [("out_type", .type(.int32))]),
        TFNode(
          name: uniform, op: "RandomUniform", inputs: [shape],
          attrs: [("dtype", .type(t)), ("T", .type(.int32)), ("seed", .int(Int(truncatingIfNeeded: d.seed & 0x7fff_ffff))), ("seed2", .int(0))]),
        TFNode(name: keep, op: "GreaterEqual", inputs: [uniform, rate], attrs: attrs),
        TFNode(name: cast, op: "Cast", inputs: [keep], attrs: [("SrcT", .type(.bool)), ("DstT", .type(t)), ("Truncate", .bool(false))]),
        TFNode(name: scaled, op: "Mul", inputs: [cast, scale], attrs: attrs),
        TFNode(name: ones, op: "OnesLike", inputs: [inputs[0]], attrs: attrs),
        TFNode(name: name, op: "SelectV2", inputs: [inputs[1], scaled, ones], attrs: attrs),
      ]
    case let s as StepPower:
      // TensorFlow's Pow of float64 scalars is the C library's pow, as StepPower's.
      let base = try scalarConst(name + "/base", s.base, .float64)
      return [TFNode(name: name, op: "Pow", inputs: [base, inputs[0]], attrs: [("T", .type(.float64))])]
    case let s as ScheduledLearningRate:
      return try exportSchedule(s.formula, name: name, step: inputs[0])
    case is PlaceholderWithDefault:
      return simple(
        "PlaceholderWithDefault", [("dtype", .type(node.outputs[0].dtype)), ("shape", .shape(node.outputs[0].shape))])
    case let f as FillLike:
      guard f.value == 0 || f.value == 1 else { return nil }
      return simple(f.typeName, [("T", .type(t))])
    case let i as Identity:
      return simple(i.typeName, [("T", .type(t))])
    case let r as RandomPrimitive:
      let shape = intConst(name + "/shape", r.shape.dimensions)
      let seedAttrs: [(String, TFAttr)] = [
        ("dtype", .type(r.dtype)), ("T", .type(.int32)), ("seed", .int(Int(truncatingIfNeeded: r.seed & 0x7fff_ffff))), ("seed2", .int(0)),
        ("_backprop_seed", .string(String(r.seed))),  // the whole seed, for Backprop's importer
      ]
      let (op, a, b): (String, Double, Double)
      switch r.distribution {
      case let .normal(mean, sd): (op, a, b) = ("RandomStandardNormal", sd, mean)
      case let .truncatedNormal(mean, sd): (op, a, b) = ("TruncatedNormal", sd, mean)
      case let .uniform(low, high): (op, a, b) = ("RandomUniform", high - low, low)
      }
      // The standard distribution is TensorFlow's operation itself: no `Mul` by 1 and `AddV2`
      // of 0, which would come back as operations of their own (and the random operation,
      // exported again, as three more: a file loaded and saved again grew at every round).
      if a == 1 && b == 0 {
        return [TFNode(name: name, op: op, inputs: [shape], attrs: seedAttrs)]
      }
      let raw = fresh(name + "/" + op), scale = try scalarConst(name + "/scale", a, r.dtype)
      let offset = try scalarConst(name + "/offset", b, r.dtype), scaled = fresh(name + "/mul")
      let attrs: [(String, TFAttr)] = [("T", .type(r.dtype))]
      return [
        TFNode(name: raw, op: op, inputs: [shape], attrs: seedAttrs),
        TFNode(name: scaled, op: "Mul", inputs: [raw, scale], attrs: attrs),
        TFNode(name: name, op: "AddV2", inputs: [scaled, offset], attrs: attrs),
      ]
    default:
      return nil
    }
  }

  /// A learning-rate schedule as TensorFlow float64 arithmetic on the step, in the order of
  /// ``ScheduleFormula/value(atStep:)`` (as `tf.compat.v1.train.exponential_decay`,
  /// `piecewise_constant` and `cosine_decay` build it); Backprop's importer restores the one
  /// primitive from the `_backprop_schedule` attribute.
  mutating func exportSchedule(_ formula: ScheduleFormula, name: String, step: String) throws -> [TFNode] {
    let attrs: [(String, TFAttr)] = [("T", .type(.float64))]
    var nodes: [TFNode] = []
    func const(_ base: String, _ value: Double) throws -> String { try scalarConst(name + "/" + base, value, .float64) }
    func node(_ base: String, _ op: String, _ inputs: [String], last: Bool = false) -> String {
      let n = last ? name : fresh(name + "/" + base)
      nodes.append(TFNode(name: n, op: op, inputs: inputs, attrs: attrs))
      return n
    }
    switch formula {
    case let .exponential(initial, decaySteps, decayRate, staircase):
      var p = node("truediv", "RealDiv", [step, try const("decay_steps", Double(decaySteps))])
      if staircase { p = node("floor", "Floor", [p]) }
      let power = node("pow", "Pow", [try const("decay_rate", decayRate), p])
      _ = node("", "Mul", [try const("initial", initial), power], last: true)
    case let .piecewise(boundaries, values):
      var rate = try const("value_\(values.count - 1)", values[values.count - 1])
      if boundaries.isEmpty { _ = node("", "Identity", [rate], last: true) }
      for i in boundaries.indices.reversed() {
        let within = node("less_equal_\(i)", "LessEqual", [step, try const("boundary_\(i)", Double(boundaries[i]))])
        rate = node("select_\(i)", "SelectV2", [within, try const("value_\(i)", values[i]), rate], last: i == 0)
      }
    case let .cosine(initial, decaySteps, alpha, warmupSteps, warmupStart):
      let ds = try const("decay_steps", Double(decaySteps)), ws = try const("warmup_steps", Double(warmupSteps))
      let s = node("minimum", "Minimum", [node("sub", "Sub", [step, ws]), ds])
      let angle = node("truediv", "RealDiv", [node("mul_pi", "Mul", [try const("pi", Double.pi), s]), ds])
      let cosine = node("mul_half", "Mul", [try const("half", 0.5), node("add_one", "AddV2", [try const("one", 1), node("cos", "Cos", [angle])])])
      let blended = node("add_alpha", "AddV2", [node("mul_alpha", "Mul", [try const("one_minus_alpha", 1 - alpha), cosine]), try const("alpha", alpha)])
      let decayed = node("decayed", "Mul", [try const("initial", initial), blended], last: warmupSteps == 0)
      if warmupSteps > 0 {
        let ramp = node("warmup_fraction", "RealDiv", [step, ws])
        let warm = node(
          "warmup", "AddV2",
          [try const("warmup_start", warmupStart), node("warmup_mul", "Mul", [try const("warmup_span", initial - warmupStart), ramp])])
        _ = node("", "SelectV2", [node("in_warmup", "Less", [step, ws]), warm, decayed], last: true)
      }
    }
    return nodes
  }

  /// Adam's fused update as TensorFlow's `ApplyAdam` (training_ops.cc): inputs `var`, `m`, `v`,
  /// `beta1_power`, `beta2_power`, `lr`, `beta1`, `beta2`, `epsilon`, `grad`. TensorFlow computes
  /// `lr_t = lr·√(1−beta2_power)/(1−beta1_power)`; Backprop's step size is already `ηₜ`, so
  /// both powers are written as 0 and `lr` is the step size, exactly. AdamW's decoupled decay
  /// (no TensorFlow counterpart in ApplyAdam) is a `Mul` and an `AssignSub` of the variable
  /// that the `ApplyAdam` waits for (a control input), as Backprop's kernel decays first.
  mutating func exportAdam(_ a: ApplyAdam, _ node: Node, _ inputs: [String]) throws -> [TFNode] {
    let name = node.name
    let variable = graph.nodes[a.variable]
    let dtype = variable.outputs[0].dtype
    let attrs: [(String, TFAttr)] = [("T", .type(dtype))]
    var nodes: [TFNode] = []
    func scalar(_ base: String, _ value: Double) throws -> String {
      let n = fresh(base)
      nodes.append(
        TFNode(
          name: n, op: "Const",
          attrs: [("dtype", .type(dtype)), ("value", .tensor(try NDArray(repeating: value, shape: [], dtype: dtype)))]))
      return n
    }
    let p1 = try scalar(name + "/beta1_power", 0), p2 = try scalar(name + "/beta2_power", 0)
    let b1 = try scalar(name + "/beta1", a.beta1), b2 = try scalar(name + "/beta2", a.beta2)
    let eps = try scalar(name + "/epsilon", a.epsilon)
    var lr = inputs[1]
    if info(node.inputs[1]).shape.rank != 0 {
      let shape = intConst(name + "/lr_shape", [])
      let reshaped = fresh(name + "/lr")
      nodes.append(TFNode(name: reshaped, op: "Reshape", inputs: [lr, shape], attrs: attrs + [("Tshape", .type(.int32))]))
      lr = reshaped
    }
    var control: [String] = []
    if a.decays {
      let decayed = fresh(name + "/decayed"), decay = fresh(name + "/weight_decay")
      nodes.append(TFNode(name: decayed, op: "Mul", inputs: [variable.name, inputs[2]], attrs: attrs))
      nodes.append(
        TFNode(name: decay, op: "AssignSub", inputs: [variable.name, decayed], attrs: attrs + [("use_locking", .bool(false))]))
      control = ["^" + decay]
    }
    nodes.append(
      TFNode(
        name: name, op: "ApplyAdam",
        inputs: [variable.name, graph.nodes[a.m].name, graph.nodes[a.v].name, p1, p2, lr, b1, b2, eps, inputs[0]] + control,
        attrs: attrs + [("use_locking", .bool(false)), ("use_nesterov", .bool(false))]))
    return nodes
  }
}
