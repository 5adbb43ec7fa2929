import ArrayCore

/// One decoded AttrValue (attr_value.proto); only the forms Backprop reads.
enum TFAttrValue {
  case type(Int64)
  case shape([Int?]?)
  case tensor(NDArray)
  /// An int64 tensor, which Backprop has no dtype for: kept as read so that the importer can
  /// take a TF1 step counter's constants as float64 (``GraphDefImporter/convertStepCounters()``)
  /// and refuse, naming the node, any other.
  case int64Tensor(values: [Int64], shape: [Int])
  /// A tensor of another dtype Backprop does not compute (a string: a `Saver`'s file names),
  /// kept undecoded so that the importer refuses it, naming the node, only when it is built.
  case unsupportedTensor(dtypeCode: Int64)
  case bool(Bool)
  case int(Int64)
  case float(Float)
  case string(String)
  case ints([Int64])
  case strings([String])
  case other
}

/// One decoded NodeDef.
struct TFNodeDef {
  var name = ""
  var op = ""
  var inputs: [String] = []
  var attrs: [String: TFAttrValue] = [:]
}

/// Decoding of GraphDef bytes (field numbers in TensorFlowProto.swift).
enum GraphDefDecoder {
  static func nodes(_ bytes: [UInt8], source: String) throws(ArrayFileError) -> [TFNodeDef] {
    var r = ProtobufReader(bytes, format: "GraphDef", source: source)
    var out: [TFNodeDef] = []
    while let f = try r.next() {
      guard f.number == 1 else { continue }
      guard let data = f.data else { throw r.fail("node field is not a message") }
      var n = r.nested(data, format: "GraphDef (NodeDef \(out.count))")
      var node = TFNodeDef()
      while let nf = try n.next() {
        switch nf.number {
        case 1: node.name = nf.string ?? ""
        case 2: node.op = nf.string ?? ""
        case 3: if let s = nf.string { node.inputs.append(s) }
        case 5:
          guard let entry = nf.data else { continue }
          var e = n.nested(entry)
          var key = ""
          var value = TFAttrValue.other
          while let ef = try e.next() {
            if ef.number == 1 { key = ef.string ?? "" }
            if ef.number == 2, let v = ef.data {
              do {
                value = try attr(e.nested(v, format: "GraphDef"))
              } catch {
                // Where: "tensor of unsupported DataType 9" alone did not say which node
                // holds the int64 constant.
                guard case let .malformed(_, _, reason) = error else { throw error }
                throw r.fail("node '\(node.name)' (\(node.op)), attribute '\(key)': \(reason)")
              }
            }
          }
          node.attrs[key] = value
        default: break
        }
      }
      guard !node.name.isEmpty, !node.op.isEmpty else { throw r.fail("node \(out.count) has no name or op") }
      out.append(node)
    }
    return out
  }

  static func attr(_ reader: ProtobufReader) throws(ArrayFileError) -> TFAttrValue {
    var r = reader
    var value = TFAttrValue.other
    while let f = try r.next() {
      switch f.number {
      case 1:
        guard let d = f.data else { continue }
        var l = r.nested(d)
        var ints: [Int64] = []
        var strings: [String] = []
        while let lf = try l.next() {
          if lf.number == 3 { ints += try l.packedVarints(lf) }
          if lf.number == 2 { strings.append(lf.string ?? "") }
        }
        value = strings.isEmpty ? .ints(ints) : .strings(strings)
      case 2: value = .string(f.string ?? "")
      case 3: value = .int(f.integer ?? 0)
      case 4: value = .float(f.float ?? 0)
      case 5: value = .bool((f.integer ?? 0) != 0)
      case 6: value = .type(f.integer ?? 0)
      case 7: value = .shape(try f.data.map { d throws(ArrayFileError) in try shape(r.nested(d)) } ?? nil)
      case 8: if let d = f.data { value = try tensorValue(r.nested(d)) }
      default: break
      }
    }
    return value
  }

  /// TensorShapeProto: `nil` for an unknown rank; `nil` sizes for `-1`.
  static func shape(_ reader: ProtobufReader) throws(ArrayFileError) -> [Int?]? {
    var r = reader
    var dims: [Int?] = []
    var unknownRank = false
    while let f = try r.next() {
      if f.number == 3 { unknownRank = (f.integer ?? 0) != 0 }
      guard f.number == 2, let d = f.data else { continue }
      var dr = r.nested(d)
      var size: Int64 = 0
      while let df = try dr.next() { if df.number == 1 { size = df.integer ?? 0 } }
      guard size >= -1, size < 1 << 40 else { throw r.fail("dimension size \(size)") }
      dims.append(size < 0 ? nil : Int(size))
    }
    return unknownRank ? nil : dims
  }

  /// TensorProto: values from `tensor_content` or the typed `*_val` fields (a single value
  /// fills the whole shape, as TensorFlow does), as an array; a DT_INT64 tensor, which Backprop
  /// has no dtype for, as its values (see ``TFAttrValue/int64Tensor(values:shape:)``).
  static func tensorValue(_ reader: ProtobufReader) throws(ArrayFileError) -> TFAttrValue {
    var r = reader
    var code: Int64 = 0
    var dims: [Int] = []
    var content: ArraySlice<UInt8>?
    var doubles: [Double] = []
    var int64s: [Int64] = []
    while let f = try r.next() {
      switch f.number {
      case 1: code = f.integer ?? 0
      case 2:
        guard let d = f.data, let s = try shape(r.nested(d)) else { throw r.fail("tensor with unknown shape") }
        guard s.allSatisfy({ $0 != nil }) else { throw r.fail("tensor with unknown dimension") }
        dims = s.map { $0! }
      case 4: content = f.data
      case 5: doubles += try r.packedFloats(f).map(Double.init)
      case 6: doubles += try r.packedDoubles(f)
      case 7, 11: doubles += try r.packedVarints(f).map { Double(Int32(truncatingIfNeeded: $0)) }
      case 10: int64s += try r.packedVarints(f)
      default: break
      }
    }
    var n = 1
    for d in dims {
      let (p, o) = n.multipliedReportingOverflow(by: d)
      guard !o, p <= 1 << 28 else { throw r.fail("tensor of shape \(dims) is too large") }
      n = p
    }
    /// The values given, or the one value repeated, or zeros (TensorFlow's forms).
    func filled<V: Numeric>(_ values: [V]) throws(ArrayFileError) -> [V] {
      if values.count == 1 && n != 1 { return [V](repeating: values[0], count: n) }
      if values.isEmpty && n > 0 { return [V](repeating: 0, count: n) }
      guard values.count == n else { throw r.fail("tensor has \(values.count) values, shape \(dims) needs \(n)") }
      return values
    }
    let dtype = TFDataType.dtype(code)
    guard dtype != nil || code == 9 else { return .unsupportedTensor(dtypeCode: code) }
    let size = dtype.map { $0 == .bool ? 1 : $0 == .float64 ? 8 : 4 } ?? 8
    if let content, content.count != n * size {
      throw r.fail("tensor_content has \(content.count) bytes, \(dtype.map { "\($0)" } ?? "int64") \(dims) needs \(n * size)")
    }
    let bytes = content.map(Array.init)
    guard let dtype else {
      if let bytes { int64s = (0..<n).map { i in Int64(bitPattern: le32(bytes, 8 * i) | le32(bytes, 8 * i + 4) << 32) } }
      return .int64Tensor(values: try filled(int64s), shape: dims)
    }
    let shape = Shape(dims)
    if let bytes {
      switch dtype {
      case .float32: return .tensor(NDArray((0..<n).map { i in Float(bitPattern: UInt32(le32(bytes, 4 * i))) }, shape: shape))
      case .float64: return .tensor(NDArray((0..<n).map { i in Double(bitPattern: le32(bytes, 8 * i) | le32(bytes, 8 * i + 4) << 32) }, shape: shape))
      case .int32: return .tensor(NDArray((0..<n).map { i in Int32(bitPattern: UInt32(le32(bytes, 4 * i))) }, shape: shape))
      case .bool: return .tensor(NDArray(bytes.map { $0 != 0 }, shape: shape))
      }
    }
    return .tensor(NDArray(converting: try filled(doubles), shape: shape, dtype: dtype))
  }

  static func le32(_ b: [UInt8], _ at: Int) -> UInt64 {
    UInt64(b[at]) | UInt64(b[at + 1]) << 8 | UInt64(b[at + 2]) << 16 | UInt64(b[at + 3]) << 24
  }
}

extension Graph {
  /// The operation named `name`, if any.
  public func operation(named name: String) -> Operation? {
    nodes.firstIndex { $0.name == name }.map { Operation(graph: self, id: $0) }
  }

  /// The tensor named `op:k` (or `op` for output 0), if any; for an imported TensorFlow
  /// operation that Backprop computes with several operations (`FusedBatchNormV3`), the
  /// TensorFlow name of each output. An imported `Const` that the file's operations read only
  /// as an attribute (a `Reshape`'s shape), which importing does not build, is built when first
  /// asked for here.
  public func tensor(named name: String) -> Tensor? {
    let (op, k) = GraphDefImporter.split(name)
    if let o = operation(named: op), k < o.outputs.count { return o.outputs[k] }
    if let ref = importedNames["\(op):\(k)"] { return Tensor(graph: self, node: ref.node, output: ref.output) }
    guard k == 0, let value = importedConstants.removeValue(forKey: op) else { return nil }
    // The name was taken when importing (`uniqueName` gave `op_1`): the constant takes it back.
    let c = constant(value, name: op)
    nodes[c.node].name = op
    return c
  }

  /// The operation types ``Graph/init(graphDef:source:)`` reads.
  public static let importableTensorFlowOperations: [String] = GraphDefImporter.supported.sorted()

  /// Builds a graph from a serialized TensorFlow `GraphDef` (as `tf.Graph.as_graph_def()`
  /// writes it), keeping every node's name, so tensors are found with
  /// ``tensor(named:)``. Variables take their initial value from the `Assign` that
  /// `global_variables_initializer()` runs (zeros when there is none), so
  /// ``Session/initializeVariables()`` works as in TensorFlow. A file Backprop wrote
  /// (``graphDef(lenient:)``, ``Session/saveModel(to:metadata:)``) also keeps what TF1 keeps in
  /// a MetaGraphDef's collections: which variables are trainable (not the optimizer's slots,
  /// step counters or moving averages), and the registered ``updateOperations``, so that a new
  /// optimizer's `minimize` on the imported graph trains the model's parameters and runs batch
  /// normalization's updates; every variable of another file is trainable. Random operations
  /// keep their seeds but draw Backprop's numbers, not TensorFlow's. A `Const` node that the
  /// file's operations read only as an attribute (a `Reshape`'s shape, a reduction's axes) is
  /// not built (a constant nothing reads is, and can be fetched by name), so a file loaded and
  /// saved again (``graphDef(lenient:)``) has the same nodes and, from the second round on, the
  /// same bytes.
  ///
  /// A TF1 training graph (`tf.compat.v1.train.GradientDescentOptimizer`, `MomentumOptimizer`
  /// (Nesterov too) or `AdamOptimizer` `.minimize(loss)`, reference or resource variables)
  /// imports with a training operation that runs: each update node (`ApplyGradientDescent`,
  /// `ApplyMomentum`, `ApplyAdam`, their `Resource*` forms) is rebuilt, under its own name, as
  /// Backprop's optimizer of the same kind and constant settings builds it, from Backprop's
  /// gradients of the loss that TensorFlow's gradient subgraph differentiates (traced from its
  /// seed `gradients/grad_ys_0`), so the file's training `NoOp` (`train`) runs them. TensorFlow's
  /// gradient subgraph (`gradients/...`) is skipped: its nodes have no tensor here
  /// (``requiredTensor(named:)`` says why). The slot variables are the file's (`w/Momentum`,
  /// `w/Adam`, `w/Adam_1`); Adam counts its steps in a float64 `Adam/iterations`, which the
  /// file's `init` also initializes (TensorFlow's `beta1_power` and `beta2_power` still exist
  /// and are updated by `train`, but no update reads them). Any other pattern (gradient
  /// clipping or another operation between the gradient and the update, several losses, custom
  /// `grad_ys`, hyper-parameters that are not constants) is refused, naming the node.
  /// - Throws: ``GraphDefError/unsupportedOperations(direction:_:)`` listing every node whose
  ///   operation is not supported (``importableTensorFlowOperations``), by type and name, in one
  ///   error; ``GraphDefError/malformed(source:reason:)`` for corrupt or truncated bytes, a
  ///   missing input, a cycle or a missing attribute, or a training pattern that is not
  ///   `minimize(loss)`'s; ``GraphError`` when the shapes do not fit.
  public convenience init(graphDef bytes: [UInt8], source: String = "<bytes>") throws {
    self.init()
    let defs: [TFNodeDef]
    do {
      defs = try GraphDefDecoder.nodes(bytes, source: source)
    } catch {
      if case let .malformed(_, _, reason) = error { throw GraphDefError.malformed(source: source, reason: reason) }
      throw error
    }
    var importer = GraphDefImporter(graph: self, defs: defs, source: source)
    try importer.run()
  }
}

struct GraphDefImporter {
  static let supported: Set<String> = Set([
    "Placeholder", "PlaceholderWithDefault", "Const", "VariableV2", "Variable", "Identity", "StopGradient", "Snapshot",
    "Neg", "Square", "Abs", "Exp", "Log", "Sqrt", "Sigmoid", "Tanh", "Relu", "Round", "Floor", "Ceil", "Sign", "Log1p", "Softplus",
    "Elu", "Selu", "Erf", "LeakyRelu", "Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Pow",
    "Sin", "Cos", "Tan", "Atan", "Expm1", "Reciprocal", "Rsqrt", "FloorDiv", "FloorMod", "Atan2",
    "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalNot",
    "LogicalAnd", "LogicalOr", "Select", "SelectV2", "Cast", "MatMul", "Sum", "Mean", "Max", "Min", "ArgMax",
    "ArgMin", "Softmax", "LogSoftmax", "SparseSoftmaxCrossEntropyWithLogits", "Reshape", "ExpandDims", "Squeeze",
    "Transpose", "ConcatV2", "BroadcastTo", "ZerosLike", "OnesLike", "RandomStandardNormal", "RandomUniform",
    "TruncatedNormal", "Assign", "AssignAdd", "AssignSub", "NoOp", "VarHandleOp", "ReadVariableOp", "AssignVariableOp",
    "AssignAddVariableOp", "AssignSubVariableOp", "VarIsInitializedOp", "OneHot", "GatherV2", "Slice", "SplitV", "ApplyAdam",
    "Conv2D", "MaxPool", "AvgPool", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3",
    "IdentityN", "Relu6", "Erfc", "Pack", "Split", "Fill", "Cumsum", "Tile", "Shape", "StridedSlice",
    "Pad", "PadV2", "Prod", "Cumprod", "MirrorPad", "MirrorPadGrad",
    "SoftmaxCrossEntropyWithLogits", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Range", "Any", "All", "TruncateDiv",
  ]).union(updateTypes)  // TF1's training updates, rebuilt from optimizer.minimize(loss)'s pattern (GraphDefTraining.swift)

  let graph: Graph
  /// The file's nodes; only ``convertStepCounters()`` changes them (a TF1 step counter's, before
  /// anything reads them).
  var defs: [TFNodeDef]
  let source: String
  var byName: [String: Int] = [:]
  var outputs: [String: [Tensor]] = [:]
  var operations: [String: Operation] = [:]
  /// `Const` nodes built only when an operation reads them as a tensor (see ``LazyConstants``).
  let lazyConstants = LazyConstants()
  /// TF1's training pattern: the gradient subgraphs skipped, the updates rebuilt (see
  /// GraphDefTraining.swift).
  var training = TrainingPatterns()

  /// The file's `Const` nodes that other nodes read as data inputs and nothing reads as a
  /// control input: built when first read as a tensor, never when every reader folds the value
  /// into an attribute (a `Reshape`'s shape, a reduction's axes, a random operation's shape).
  /// Built anyway, such a constant was an unused node of the graph, which ``Graph/graphDef(lenient:)``
  /// wrote beside the constant it writes for the attribute: a file loaded and saved again grew
  /// at every round. A constant nothing reads is built where it stands (it may be fetched by name).
  final class LazyConstants {
    /// The index in `defs` of each constant not built yet.
    var pending: [String: Int] = [:]
    /// The constants built on first read.
    var built: [String: Tensor] = [:]
  }

  init(graph: Graph, defs: [TFNodeDef], source: String) {
    self.graph = graph
    // Nodes Backprop's exporter wrote for one primitive: keep the marked last node, with the
    // primitive's own inputs (see GraphDefExporter.composite).
    var helpers = Set<String>()
    for d in defs { if case .bool(true)? = d.attrs["_backprop_helper"] { helpers.insert(d.name) } }
    // A composite's later outputs written as helper nodes (Normalize's mean and variance):
    // references to them become references to the primitive's outputs.
    var aliases: [String: String] = [:]
    for d in defs where d.attrs["_backprop_op"] != nil {
      if case let .strings(names)? = d.attrs["_backprop_outputs"] {
        for (k, alias) in names.enumerated() where k > 0 && helpers.contains(alias) { aliases[alias] = "\(d.name):\(k)" }
      }
    }
    func remap(_ input: String) -> String {
      let control = input.hasPrefix("^")
      let (name, k) = Self.split(input)
      guard k == 0, let target = aliases[name] else { return input }
      return control ? "^" + Self.split(target).0 : target
    }
    self.defs = defs.compactMap { d in
      if helpers.contains(d.name) { return nil }
      var d = d
      if !aliases.isEmpty { d.inputs = d.inputs.map(remap) }
      if case let .strings(inputs)? = d.attrs["_backprop_inputs"] {
        // Control inputs on the group's own helpers (AdamW's decay) go with them. The own
        // inputs may be another composite's later outputs too (a reshape's gradient reading
        // Normalize's variance for its shape).
        d.inputs = inputs.map(remap) + d.inputs.filter { $0.hasPrefix("^") && !helpers.contains(String($0.dropFirst())) }
      }
      return d
    }
    self.source = source
  }

  static func split(_ input: String) -> (String, Int) {
    var s = Substring(input)
    if s.hasPrefix("^") { s = s.dropFirst() }
    if let colon = s.lastIndex(of: ":"), let k = Int(s[s.index(after: colon)...]), k >= 0 {
      return (String(s[..<colon]), k)
    }
    return (String(s), 0)
  }

  /// Reference (`VariableV2`) and resource (`VarHandleOp`, TensorFlow 2's default even in
  /// compat.v1 graphs) variables.
  static func isVariable(_ op: String) -> Bool { op == "VariableV2" || op == "Variable" || op == "VarHandleOp" }

  func fail(_ reason: String) -> GraphDefError { .malformed(source: source, reason: reason) }

  mutating func run() throws {
    for (i, d) in defs.enumerated() {
      guard byName.updateValue(i, forKey: d.name) == nil else { throw fail("two nodes are named '\(d.name)'") }
    }
    // TF1's Saver (`save/...`: SaveV2, RestoreV2 and the string constants they read) is skipped.
    let saver = saverNodes()
    convertStepCounters(ignoring: saver)
    for (i, d) in defs.enumerated() where !saver.contains(i) {
      for (key, value) in d.attrs.sorted(by: { $0.key < $1.key }) {
        switch value {
        case .int64Tensor: throw fail("node '\(d.name)' (\(d.op)), attribute '\(key)': tensor of unsupported \(TFDataType.describe(9))")
        case .unsupportedTensor(let code):
          throw fail("node '\(d.name)' (\(d.op)), attribute '\(key)': tensor of unsupported \(TFDataType.describe(code))")
        default: continue
        }
      }
    }
    // Initial values: the value assigned to each variable by an Assign (the initializer's).
    // The initializer's Assign is named `<variable>/Assign` (as TensorFlow and Backprop's
    // exporter write it); other Assigns (an optimizer's slot updates) are only a fallback.
    var initialValue: [String: String] = [:]
    for named in [true, false] {
      for d in defs where (d.op == "Assign" || d.op == "AssignVariableOp") && d.inputs.count >= 2 {
        let v = Self.split(d.inputs[0]).0
        guard !named || d.name == v + "/Assign" else { continue }
        if initialValue[v] == nil, let vd = byName[v], Self.isVariable(defs[vd].op) { initialValue[v] = d.inputs[1] }
      }
    }
    // TF1's training pattern (optimizer.minimize(loss)): its gradient subgraph is skipped.
    let unsupported = defs.indices.filter { !saver.contains($0) }.map { defs[$0] }.filter {
      !Self.supported.contains($0.op) && $0.attrs["_backprop_op"] == nil
    }.map { (type: $0.op, name: $0.name) }
    let gradientNodes = Set(defs.filter { d in d.name.split(separator: "/").dropLast().contains { Self.isGradientScopeComponent($0) } }.map(\.name))
    // Refused by name as before when the rest of the file is: the unsupported operations first.
    if unsupported.contains(where: { !gradientNodes.contains($0.name) }) {
      throw GraphDefError.unsupportedOperations(direction: "import", groupedByType(unsupported))
    }
    training = try recognizeTraining(initialValue: initialValue)
    training.skipped.formUnion(saver)
    for i in saver {
      graph.skippedTensorFlowNodes[defs[i].name] =
        "is a node of TensorFlow's Saver (\(defs[i].op)), which importing skips: restore a TensorFlow checkpoint with Checkpoint.restore(session:fromTensorFlow:)"
    }
    let kept = unsupported.filter { u in !training.skipped.contains(byName[u.name] ?? -1) }
    if !kept.isEmpty { throw GraphDefError.unsupportedOperations(direction: "import", groupedByType(kept)) }
    // Dependencies (inputs, control inputs, a variable's initial value), then a topological
    // order that keeps the file's order where it can.
    var deps: [[Int]] = []
    for d in defs {
      var list: [Int] = []
      for input in d.inputs + (initialValue[d.name].map { [$0] } ?? []) {
        let (name, _) = Self.split(input)
        guard let j = byName[name] else { throw fail("node '\(d.name)' has input '\(input)', which is no node") }
        list.append(j)
      }
      // A rebuilt update waits for everything its group's updates read (not the gradients).
      if let g = training.groupOf[d.name] { list = training.groups[g].dependencies }
      deps.append(list)
    }
    // Every node's name is taken before any node is built, so that the operations the
    // importer adds of its own (`Mean`'s `<name>/sum`, a training batch normalization's
    // unnamed `Sub`, Adam's `Sqrt`...) never take a name a later node of the file has: that
    // node was renamed `<name>_1`, and `tensor(named:)` found the helper's value instead.
    for d in defs { _ = graph.uniqueName(d.name) }
    try createStepCounters()
    // Constants read only as data inputs wait for their first read as a tensor (see
    // `LazyConstants`); the variables' initial values are such reads.
    var readAsData = Set(initialValue.values.map { Self.split($0).0 }), readAsControl = Set<String>()
    for (i, d) in defs.enumerated() where !training.skipped.contains(i) {
      for input in d.inputs {
        if input.hasPrefix("^") { readAsControl.insert(Self.split(input).0) } else { readAsData.insert(Self.split(input).0) }
      }
    }
    for (i, d) in defs.enumerated() where d.op == "Const" && readAsData.contains(d.name) && !readAsControl.contains(d.name)
      && d.attrs["_backprop_op"] == nil && !d.inputs.contains(where: { $0.hasPrefix("^") })
    {
      lazyConstants.pending[d.name] = i
    }
    var done = [Bool](repeating: false, count: defs.count)
    for i in training.skipped { done[i] = true }
    var remaining = defs.count - training.skipped.count
    while remaining > 0 {
      var progressed = false
      for i in defs.indices where !done[i] && deps[i].allSatisfy({ done[$0] }) {
        let start = graph.nodes.count
        try build(defs[i], initialValue: initialValue[defs[i].name])
        claimName(of: defs[i], createdFrom: start)
        // The exporter's mark of a registered update (see GraphDefExporter.run).
        if case .bool(true)? = defs[i].attrs["_backprop_update"], let op = operations[defs[i].name] {
          try graph.addUpdateOperation(op)
        }
        done[i] = true
        remaining -= 1
        progressed = true
      }
      if !progressed {
        let stuck = defs.indices.filter { !done[$0] }.prefix(5).map { defs[$0].name }
        throw fail("the nodes form a cycle (through \(stuck.joined(separator: ", ")))")
      }
    }
    adoptInitializer()
    // The constants read only as attributes: built by `tensor(named:)` when asked for.
    for (name, i) in lazyConstants.pending {
      if case let .tensor(t)? = defs[i].attrs["value"] { graph.importedConstants[name] = t }
    }
  }

  /// Makes the file's `init` the graph's reusable initializer (see
  /// ``Session/initializeVariables()``) when it is the one its variables' initial values come
  /// from: a `NoOp` whose control inputs are exactly one `<variable>/Assign` per variable. A model
  /// loaded, saved and loaded again then keeps one initializer, not one more per round.
  func adoptInitializer() {
    let g = graph
    guard let op = operations["init"], g.nodes[op.id].primitive is NoOp, !g.initialValues.isEmpty else { return }
    let controls = g.nodes[op.id].controlInputs
    var expected: [String: Int] = [:]
    for (v, _) in g.initialValues { expected[g.nodes[v].name + "/Assign"] = v }
    guard controls.count == expected.count,
      controls.allSatisfy({ c in
        (g.nodes[c].primitive as? Assign).map { $0.variable == expected.removeValue(forKey: g.nodes[c].name) } ?? false
      })
    else { return }
    g.reusableInitializer = (g.initialValues.count, op.id)
  }

  /// Gives node `d`'s operation its own name once ``build(_:initialValue:)`` made it from
  /// node `start` on: the name was taken beforehand (see ``run()``), so the operation asked for
  /// `d.name` got `<d.name>_k`, which is no node's name in the file; it becomes `d.name`. Then
  /// the outputs computed by operations of other names (a composite's) are findable by their
  /// TensorFlow names (``Graph/tensor(named:)``).
  func claimName(of d: TFNodeDef, createdFrom start: Int) {
    let g = graph
    let created = start..<g.nodes.count
    if !created.contains(where: { g.nodes[$0].name == d.name }) {
      let prefix = d.name + "_"
      let renamed = created.first { i in
        let n = g.nodes[i].name
        return n.count > prefix.count && n.hasPrefix(prefix) && byName[n] == nil
          && n.dropFirst(prefix.count).allSatisfy { ("0"..."9").contains($0) }
      }
      if let renamed { g.nodes[renamed].name = d.name }
    }
    for (k, t) in (outputs[d.name] ?? []).enumerated() where t.operation.name != d.name || t.output != k {
      g.importedNames["\(d.name):\(k)"] = ValueRef(node: t.node, output: t.output)
    }
  }

  func input(_ d: TFNodeDef, _ i: Int) throws -> Tensor {
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    guard i < data.count else { throw fail("node '\(d.name)' (\(d.op)) needs at least \(i + 1) inputs, has \(data.count)") }
    let (name, k) = Self.split(data[i])
    guard let outs = try outputs[name] ?? constant(named: name), k < outs.count else {
      if let j = byName[name], let value = staticValue(data[i]) {
        let text = value.sizes.map { if case let .size(n) = $0 { "\(n)" } else { "?" } }
        throw fail(
          "node '\(d.name)' (\(d.op)) reads '\(data[i])' (\(defs[j].op)), a shape [\(text.joined(separator: ", "))] known only when the graph runs; Backprop needs it when the graph is built")
      }
      throw fail("node '\(d.name)' reads '\(data[i])', which has no such output")
    }
    return outs[k]
  }

  /// The outputs of the file's constant `name` whose building waits for its first read (see
  /// ``LazyConstants``), built now if it was not yet; `nil` for any other name.
  func constant(named name: String) throws -> [Tensor]? {
    if let built = lazyConstants.built[name] { return [built] }
    guard let i = lazyConstants.pending.removeValue(forKey: name) else { return nil }
    let d = defs[i]
    guard case let .tensor(t)? = d.attrs["value"] else { throw fail("constant '\(name)' has no value") }
    let start = graph.nodes.count
    let c = graph.constant(t, name: name)
    claimName(of: d, createdFrom: start)
    lazyConstants.built[name] = c
    return [c]
  }

  func dataInputCount(_ d: TFNodeDef) -> Int { d.inputs.filter { !$0.hasPrefix("^") }.count }

  /// The integer values of a `Const` input (axes, shapes).
  func constInts(_ d: TFNodeDef, _ i: Int) throws -> [Int] {
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    // A shape computed from known shapes (`tf.reshape(x, [tf.shape(x)[0], -1])` of a known x).
    if i < data.count, defs[byName[Self.split(data[i]).0] ?? 0].op != "Const", let value = staticValue(data[i]) {
      let sizes = value.sizes.compactMap { if case let .size(n) = $0 { n } else { nil } }
      if sizes.count == value.sizes.count { return sizes }
    }
    guard i < data.count, let j = byName[Self.split(data[i]).0], defs[j].op == "Const",
      case let .tensor(t)? = defs[j].attrs["value"], t.dtype == .int32 || t.dtype == .float32 || t.dtype == .float64
    else {
      throw fail("node '\(d.name)' (\(d.op)): input \(i) must be a constant (Backprop needs it when the graph is built)")
    }
    let values = t.doubles
    guard values.allSatisfy({ $0 == $0.rounded() && abs($0) < 0x1p40 }) else {
      throw fail("node '\(d.name)' (\(d.op)): input \(i) must hold integers, got \(values.prefix(8))")
    }
    return values.map { Int($0) }
  }

  /// One element of a shape computed by `Shape`, `StridedSlice`, `Pack`, `ConcatV2` from
  /// constants and tensors' static shapes: a number, or a size known only when the graph runs.
  enum StaticSize { case size(Int), dimension(Tensor, Int) }

  /// The value of the int vector (or scalar) `input` when it is computed from constants and
  /// static shapes only (Keras's `Flatten`: `Reshape(x, Pack([StridedSlice(Shape(x))[0], -1]))`),
  /// else `nil`. Only the forms TensorFlow writes for shapes: `StridedSlice` of one index or of a
  /// stride-1 range, `Pack` and `ConcatV2` along axis 0.
  func staticValue(_ input: String) -> (sizes: [StaticSize], scalar: Bool)? {
    // A budget of visits: a file's nodes may share inputs (`concat(c, c)` repeated), which a
    // plain recursion would visit exponentially often.
    var budget = 4096
    return staticValue(input, depth: 0, budget: &budget)
  }

  func staticValue(_ input: String, depth: Int, budget: inout Int) -> (sizes: [StaticSize], scalar: Bool)? {
    let (name, k) = Self.split(input)
    budget -= 1
    guard budget > 0, depth < 64, k == 0, let j = byName[name] else { return nil }
    let d = defs[j]
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    func ints(_ i: Int) -> [Int]? {
      guard i < data.count, let v = staticValue(data[i], depth: depth + 1, budget: &budget) else { return nil }
      let sizes = v.sizes.compactMap { if case let .size(n) = $0 { n } else { nil } }
      return sizes.count == v.sizes.count ? sizes : nil
    }
    switch d.op {
    case "Const":
      guard case let .tensor(t)? = d.attrs["value"], t.dtype == .int32, t.shape.rank <= 1, t.elementCount <= 1 << 16 else { return nil }
      return (t.doubles.map { .size(Int($0)) }, t.shape.rank == 0)
    case "Identity": return data.count == 1 ? staticValue(data[0], depth: depth + 1, budget: &budget) : nil
    case "Shape":
      let (source, output) = Self.split(data.first ?? "")
      guard let outs = outputs[source], output < outs.count, outs[output].shape.dimensions.count == outs[output].shape.rank else { return nil }
      let t = outs[output]
      return (t.shape.dimensions.enumerated().map { i, n in n.map { StaticSize.size($0) } ?? StaticSize.dimension(t, i) }, false)
    case "StridedSlice":
      guard data.count == 4, let v = staticValue(data[0], depth: depth + 1, budget: &budget), !v.scalar, let b = ints(1), let e = ints(2), let st = ints(3),
        b.count == 1, e.count == 1, st == [1]
      else { return nil }
      let masks = ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"].map { intAttr(d, $0) & 1 }
      let n = v.sizes.count
      guard masks[2] == 0, masks[3] == 0 else { return nil }
      func index(_ i: Int) -> Int { min(max(i < 0 ? i + n : i, 0), n) }
      if masks[4] != 0 {
        let i = b[0] < 0 ? b[0] + n : b[0]
        return i >= 0 && i < n ? ([v.sizes[i]], true) : nil
      }
      let first = masks[0] != 0 ? 0 : index(b[0]), last = masks[1] != 0 ? n : index(e[0])
      return (first < last ? Array(v.sizes[first..<last]) : [], false)
    case "Add", "AddV2", "Sub", "Mul":
      // int32 arithmetic on known sizes (`Rank − 1`, as softmax along an axis and the softmax
      // cross entropy write it), wrapping as TensorFlow's does.
      guard data.count == 2, let a = staticValue(data[0], depth: depth + 1, budget: &budget),
        let b = staticValue(data[1], depth: depth + 1, budget: &budget)
      else { return nil }
      let av = a.sizes.compactMap { if case let .size(n) = $0 { Int32(truncatingIfNeeded: n) } else { nil } }
      let bv = b.sizes.compactMap { if case let .size(n) = $0 { Int32(truncatingIfNeeded: n) } else { nil } }
      guard av.count == a.sizes.count, bv.count == b.sizes.count, av.count == bv.count || av.count == 1 || bv.count == 1 else { return nil }
      let n = av.count == 1 ? bv.count : av.count
      let values = (0..<n).map { i -> StaticSize in
        let (p, q) = (av[av.count == 1 ? 0 : i], bv[bv.count == 1 ? 0 : i])
        return .size(Int(d.op == "Sub" ? p &- q : d.op == "Mul" ? p &* q : p &+ q))
      }
      return (values, a.scalar && b.scalar)
    case "Slice":
      guard data.count == 3, let v = staticValue(data[0], depth: depth + 1, budget: &budget), !v.scalar, let b = ints(1), let s = ints(2),
        b.count == 1, s.count == 1
      else { return nil }
      let n = v.sizes.count, first = b[0], size = s[0] == -1 ? n - b[0] : s[0]
      guard first >= 0, first <= n, size >= 0, size <= n - first else { return nil }
      return (Array(v.sizes[first..<(first + size)]), false)
    case "Range":
      guard let start = ints(0), let limit = ints(1), let delta = ints(2), start.count == 1, limit.count == 1, delta.count == 1,
        let count = Self.rangeCount(Double(start[0]), Double(limit[0]), Double(delta[0]), dtype: .int32), count <= 1 << 16
      else { return nil }
      return ((0..<count).map { .size(start[0] + $0 * delta[0]) }, false)
    case "Pack":
      guard intAttr(d, "axis") == 0 else { return nil }
      var sizes: [StaticSize] = []
      for input in data {
        guard let v = staticValue(input, depth: depth + 1, budget: &budget), v.scalar, sizes.count < 1 << 16 else { return nil }
        sizes += v.sizes
      }
      return (sizes, false)
    case "ConcatV2":
      guard data.count >= 2, ints(data.count - 1) == [0] else { return nil }
      var sizes: [StaticSize] = []
      for input in data.dropLast() {
        guard let v = staticValue(input, depth: depth + 1, budget: &budget), !v.scalar, sizes.count + v.sizes.count <= 1 << 16 else { return nil }
        sizes += v.sizes
      }
      return (sizes, false)
    default: return nil
    }
  }

  /// The target shape of `Reshape` node `d` of `x`: a constant, or one computed from static
  /// shapes where the one size known only when run is `x`'s own unknown dimension (Keras's
  /// `Flatten` of `[?, 2, 2, 5]` gives `[?, -1]`, which is `[-1, 20]`).
  func reshapeTarget(_ d: TFNodeDef, _ x: Tensor) throws -> [Int] {
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    guard data.count == 2, let value = staticValue(data[1]) else { return try constInts(d, 1) }
    var target: [Int?] = []
    var runTime: [Int] = []
    var others: [Tensor] = []
    for s in value.sizes {
      switch s {
      case let .size(n): target.append(n)
      case let .dimension(t, axis):
        target.append(nil)
        if t == x { runTime.append(axis) } else { others.append(t) }
      }
    }
    let unknownInput = x.shape.dimensions.indices.filter { x.shape.dimensions[$0] == nil }
    let minusOnes = target.indices.filter { target[$0] == -1 }
    if let t = others.first {
      // Another tensor's size, known only when run, is not checked against x's; the one such
      // size of a shape without -1 is read as -1, the same shape whenever TensorFlow's reshape
      // succeeds (tf.nn.softmax_cross_entropy_with_logits reshapes its loss to the logits' rows).
      guard others.count == 1, runTime.isEmpty, minusOnes.isEmpty else {
        throw fail("node '\(d.name)' (Reshape): its shape uses the size of '\(t.name)' \(t.shape), known only when the graph runs")
      }
      return target.map { $0 ?? -1 }
    }
    switch (runTime.count, minusOnes.count) {
    case (0, _): return target.map { $0! }
    case (1, 0): return target.map { $0 ?? -1 }
    case (1, 1) where unknownInput == runTime:
      // x holds D·P elements (D its unknown size, P the others'); the target D·S·m, so m = P/S.
      let p = x.shape.dimensions.compactMap { $0 }.reduce(1, *)
      var s = 1, overflow = false
      for n in target.compactMap({ $0 }) where n != -1 {
        (s, overflow) = n < 0 || overflow ? (s, true) : s.multipliedReportingOverflow(by: n)
      }
      guard !overflow, s > 0, p % s == 0 else {
        throw fail("node '\(d.name)' (Reshape): \(x.shape) cannot be reshaped to [\(target.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))]")
      }
      return target.map { $0 == nil ? -1 : $0 == -1 ? p / s : $0! }
    default:
      throw fail(
        "node '\(d.name)' (Reshape): the shape [\(target.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))] of \(x.shape) has sizes known only when the graph runs")
    }
  }

  /// TensorFlow's NHWC window attributes (`strides`, `padding`, `dilations`, `ksize`).
  func windowAttributes(_ d: TFNodeDef) throws -> (strides: [Int], padding: Padding, dilations: [Int], geometry: WindowGeometry) {
    func pair(_ key: String, required: Bool) throws -> [Int] {
      guard case let .ints(v)? = d.attrs[key] else {
        if required { throw fail("node '\(d.name)' (\(d.op)) has no attribute '\(key)'") }
        return [1, 1]
      }
      guard v.count == 4, v[0] == 1, v[3] == 1, v[1] >= 1, v[2] >= 1, v[1] < 1 << 20, v[2] < 1 << 20 else {
        throw fail("node '\(d.name)' (\(d.op)): \(key) \(v) must be [1, h, w, 1] (NHWC) with positive sizes")
      }
      return [Int(v[1]), Int(v[2])]
    }
    if case let .string(format)? = d.attrs["data_format"], format != "NHWC" {
      throw fail("node '\(d.name)' (\(d.op)): data_format \(format); Backprop computes NHWC only")
    }
    guard case let .string(p)? = d.attrs["padding"], let padding = Padding(rawValue: p.lowercased()) else {
      throw fail("node '\(d.name)' (\(d.op)): padding must be SAME or VALID")
    }
    let strides = try pair("strides", required: true), dilations = try pair("dilations", required: false)
    let window = d.attrs["ksize"] == nil ? [1, 1] : try pair("ksize", required: true)
    let geometry = WindowGeometry(window: window, strides: strides, dilations: dilations, padding: padding)
    do { try geometry.validate() } catch { throw fail("node '\(d.name)' (\(d.op)): \(error)") }
    return (strides, padding, dilations, geometry)
  }

  /// `axes` of node `d` normalized (a negative axis counts from the end) and sorted, for the
  /// primitives the importer builds directly, whose shape rules index the input's dimensions
  /// by axis: an axis out of range for `rank` (an `ArgMax` on axis 5 of a matrix trapped) or
  /// repeated is an error naming the node and its input.
  func checkedAxes(_ d: TFNodeDef, _ axes: [Int], rank: Int, input: Tensor) throws -> [Int] {
    do {
      return try normalizeAxes(axes, rank: rank)
    } catch {
      throw fail("node '\(d.name)' (\(d.op)): \(error.message) (input '\(input.name)' \(input.dtype) \(input.shape))")
    }
  }

  /// The one value of a `Const` input, as a float64.
  func constScalar(_ d: TFNodeDef, _ i: Int) throws -> Double {
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    guard i < data.count, let j = byName[Self.split(data[i]).0], defs[j].op == "Const", case let .tensor(t)? = defs[j].attrs["value"],
      t.elementCount == 1, t.dtype != .bool
    else {
      throw fail("node '\(d.name)' (\(d.op)): input \(i) must be a one-element constant (Backprop needs it when the graph is built)")
    }
    return t.scalarValue
  }

  /// Adds Backprop's fused Adam update of `variables` (the variable, `m`, `v`) for node `d`.
  mutating func addAdam(
    _ d: TFNodeDef, variables: [Tensor], gradient: Tensor, stepSize: Tensor, decay: Tensor?, beta1: Double, beta2: Double,
    epsilon: Double
  ) throws {
    let g = graph
    let name = d.name
    let ids = try variables.map { t -> Int in
      guard t.isVariable, t.output == 0 else { throw fail("'\(name)' (ApplyAdam): '\(t.name)' is not a variable") }
      return t.node
    }
    // The builder's checks (distinct variables, shapes, dtypes, hyperparameters).
    guard Set(ids).count == 3, variables.allSatisfy({ $0.dtype == gradient.dtype && $0.shape == variables[0].shape }),
      gradient.shape == variables[0].shape, stepSize.dtype == gradient.dtype, stepSize.shape.concrete?.elementCount == 1,
      decay.map({ $0.dtype == gradient.dtype && $0.shape.concrete?.elementCount == 1 }) ?? true,
      beta1 >= 0, beta1 < 1, beta2 >= 0, beta2 < 1, epsilon.isFinite, epsilon > 0
    else {
      throw fail(
        "'\(name)' (ApplyAdam): variables \(variables.map { "\($0.name) \($0.dtype) \($0.shape)" }), gradient \(gradient.dtype) \(gradient.shape), "
          + "step size \(stepSize.dtype) \(stepSize.shape), beta1 \(beta1), beta2 \(beta2), epsilon \(epsilon) do not fit")
    }
    let primitive = ApplyAdam(
      variable: ids[0], m: ids[1], v: ids[2], beta1: beta1, beta2: beta2, epsilon: epsilon, decays: decay != nil)
    let op = try g.addOperation(
      primitive, inputs: [gradient, stepSize] + (decay.map { [$0] } ?? []), controlDependencies: controlOperations(d), name: name)
    operations[name] = op
    outputs[name] = []
  }

  /// TensorFlow's `FusedBatchNorm`, `FusedBatchNormV2` and `FusedBatchNormV3` (channels last:
  /// `NHWC`, `NDHWC`), built from Backprop's operations (so the imported graph differentiates
  /// with them, as TensorFlow's `FusedBatchNormGradV3` would), with TensorFlow's outputs:
  ///
  /// - `is_training` false (a frozen or exported model): `y = γ · (x − mean) / √(variance + ε) + β`
  ///   with the given statistics, which outputs 1 to 4 pass on;
  /// - `is_training` true (the default): `μ` and the biased `σ²` of the batch over every axis but
  ///   the last, `y = γ · (x − μ) / √(σ² + ε) + β`; output 1 `μ` and output 2 the unbiased
  ///   variance `σ² · n / (n − 1)` (`n` the elements per channel, at least 2), each averaged as
  ///   `(1 − f) · given + f · batch` when `exponential_avg_factor` `f` is not 1; outputs 3 and 4
  ///   (`reserve_space_1`, `_2`) `μ` and `σ²`. `V3`'s sixth output (`reserve_space_3`) is empty.
  ///
  /// The operations are named under the node's name (`<name>/y`, `<name>/batch_mean`, ...);
  /// ``Graph/tensor(named:)`` finds each output by TensorFlow's name, `<name>:k`.
  func fusedBatchNorm(_ d: TFNodeDef, x: Tensor, scale: Tensor, offset: Tensor, mean: Tensor, variance: Tensor) throws -> [Tensor] {
    let g = graph, name = d.name
    if case let .string(format)? = d.attrs["data_format"], format != "NHWC", format != "NDHWC" {
      throw fail("node '\(name)' (\(d.op)): data_format \(format); Backprop computes channels last (NHWC, NDHWC) only")
    }
    var epsilon = 1e-4, factor = 1.0, training = true
    if case let .float(e)? = d.attrs["epsilon"] { epsilon = Double(e) }
    if case let .float(f)? = d.attrs["exponential_avg_factor"] { factor = Double(f) }
    if case let .bool(b)? = d.attrs["is_training"] { training = b }
    let rank = x.shape.rank
    guard rank >= 2, x.shape.dimensions.count == rank else {
      throw fail("node '\(name)' (\(d.op)): the input needs a known rank of at least 2, got \(x.shape)")
    }
    // The BatchNorm layer's form, y = x · k + (β − m · k) with k = γ / √(v + ε) (under the
    // node's name as a scope; output 0 is found by the node's name through `importedNames`).
    func normalized(_ m: Tensor, _ v: Tensor) throws -> Tensor {
      try batchNormalization(x, mean: m, variance: v, offset: offset, scale: scale, epsilon: epsilon, name: name)
    }
    let extra = d.op == "FusedBatchNormV3" ? [g.constant(try NDArray.zeros([0], dtype: x.dtype), name: name + "/reserve_space_3")] : []
    guard training else {
      let y = try normalized(mean, variance)
      return [y, mean, variance, mean, variance] + extra
    }
    let channels = x.shape.dimensions[rank - 1]
    let axes = Array(0..<(rank - 1))
    let moments = try g.addOperation(
      Normalize(axes: axes, epsilon: epsilon), inputs: [x], controlDependencies: controlOperations(d), name: name + "/moments")
    let mu = try reshape(moments.outputs[1], to: [channels ?? -1], name: name + "/reserve_space_1")
    let sigma2 = try reshape(moments.outputs[2], to: [channels ?? -1], name: name + "/reserve_space_2")
    let y = try normalized(mu, sigma2)
    let n = try g.apply(ElementCount(axes: axes), x, name: name + "/count")
    let one = g.constant(1, dtype: x.dtype, name: name + "/one")
    let unbiased = try multiply(sigma2, divide(n, maximum(subtract(n, one), one)), name: name + "/unbiased_variance")
    var outMean = mu, outVariance = unbiased
    if factor != 1 {
      let f = g.constant(factor, dtype: x.dtype, name: name + "/exponential_avg_factor")
      let keep = g.constant(1 - factor, dtype: x.dtype, name: name + "/keep")
      outMean = try add(multiply(keep, mean), multiply(f, mu), name: name + "/batch_mean")
      outVariance = try add(multiply(keep, variance), multiply(f, unbiased), name: name + "/batch_variance")
    }
    return [y, outMean, outVariance, mu, sigma2] + extra
  }

  /// The number of elements of TensorFlow's `Range` from `start` to `limit` by `delta`, counted
  /// as its kernel counts them in `dtype`; `nil` when TensorFlow refuses them (a zero `delta`, a
  /// `limit` on the wrong side, values that are not finite) or the count is not an `Int`.
  static func rangeCount(_ start: Double, _ limit: Double, _ delta: Double, dtype: DType) -> Int? {
    guard start.isFinite, limit.isFinite, delta.isFinite, delta != 0, delta > 0 ? start <= limit : start >= limit else { return nil }
    let count: Double
    switch dtype {
    case .int32: count = ((abs(limit - start) + abs(delta) - 1) / abs(delta)).rounded(.towardZero)
    case .float32: count = Double((abs((Float(limit) - Float(start)) / Float(delta))).rounded(.up))
    default: count = (abs((limit - start) / delta)).rounded(.up)
    }
    return count.isFinite && count < 0x1p40 ? Int(count) : nil
  }

  /// TensorFlow's `Range` (`tf.range`) with `start`, `limit` and `delta` known when the graph is
  /// built (constants, or computed from constants and static shapes, as `tf.nn.softmax` along
  /// an axis writes them): a constant of `Tidx`'s dtype holding `start + i·delta`, computed in
  /// that dtype as TensorFlow's kernel does. Refused, naming the node: an input known only when
  /// the graph runs, a range TensorFlow refuses, more than 2²⁴ elements.
  func range(_ d: TFNodeDef) throws -> Tensor {
    let name = d.name
    let data = d.inputs.filter { !$0.hasPrefix("^") }
    guard data.count == 3 else { throw fail("node '\(name)' (Range) needs 3 inputs, has \(data.count)") }
    let dtype = d.attrs["Tidx"] == nil ? .int32 : try dtypeAttr(d, "Tidx")
    guard dtype != .bool else { throw fail("node '\(name)' (Range): a range of bool") }
    let values = try ["start", "limit", "delta"].enumerated().map { i, role -> Double in
      if let v = staticValue(data[i]), v.sizes.count == 1, case let .size(n) = v.sizes[0] { return Double(n) }
      // A constant, or one cast (tf.range casts a Python number to the range's dtype).
      var j = byName[Self.split(data[i]).0]
      var castTo: [DType] = []
      for _ in 0..<8 {
        guard let k = j, ["Cast", "Identity"].contains(defs[k].op), let first = defs[k].inputs.first, !first.hasPrefix("^") else { break }
        if defs[k].op == "Cast" { castTo.append(try dtypeAttr(defs[k], "DstT")) }
        j = byName[Self.split(first).0]
      }
      if let j, defs[j].op == "Const", case let .tensor(t)? = defs[j].attrs["value"], t.elementCount == 1, t.dtype != .bool {
        return castTo.reversed().reduce(t) { $0.converted(to: $1) }.scalarValue
      }
      throw fail(
        "node '\(name)' (Range): its \(role) '\(data[i])' is known only when the graph runs; Backprop needs a range's start, limit and delta when the graph is built")
    }
    let (start, limit, delta) = (values[0], values[1], values[2])
    // An int32 range's bounds are int32 values (a float constant beyond them would trap below).
    if dtype == .int32, !values.allSatisfy({ $0.rounded() == $0 && abs($0) <= 0x1p31 }) {
      throw fail("node '\(name)' (Range): start \(start), limit \(limit), delta \(delta) are not int32 values")
    }
    guard let count = Self.rangeCount(start, limit, delta, dtype: dtype) else {
      throw fail("node '\(name)' (Range): start \(start), limit \(limit), delta \(delta) is no range (TensorFlow refuses it)")
    }
    // A constant of the graph: at most 2²⁴ elements (as StridedSlice's indices).
    guard count <= 1 << 24 else { throw fail("node '\(name)' (Range): a range of \(count) elements, more than the limit of \(1 << 24)") }
    let array: NDArray
    switch dtype {
    case .float32:
      let (s, l) = (Float(start), Float(delta))
      array = NDArray((0..<count).map { s + Float($0) * l }, shape: [count])
    case .float64: array = NDArray((0..<count).map { start + Double($0) * delta }, shape: [count])
    default:
      let (s, l) = (Int(start), Int(delta))
      array = NDArray((0..<count).map { Int32(truncatingIfNeeded: s + $0 * l) }, shape: [count])
    }
    return graph.constant(array, name: name)
  }

  /// TensorFlow's `StridedSlice` (Python's `x[1:, ::2, 0]`) with constant `begin`, `end` and
  /// `strides`: `begin_mask`, `end_mask`, `shrink_axis_mask`, `ellipsis_mask` (`...`, the full
  /// ranges of the axes no other entry names) and `new_axis_mask` (`tf.newaxis`, a new axis of
  /// size 1; its begin, end and stride are ignored) as in TensorFlow's `array_ops.cc`. Built as
  /// one `Slice` (the contiguous ranges), a `gather` of constant indices per axis of another
  /// stride, a `squeeze` of the shrunk axes and an `expandDims` per new axis, under the node's
  /// name. A size the ranges need (a negative index, a stride other than 1, an end not masked)
  /// must be known when the graph is built.
  func stridedSlice(_ d: TFNodeDef, _ v: Tensor) throws -> Tensor {
    let g = graph, name = d.name
    let sparseBegin = try constInts(d, 1), sparseEnd = try constInts(d, 2), sparseStrides = try constInts(d, 3)
    let masks = ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"].map { Int(intAttr(d, $0)) }
    let rank = v.shape.rank
    let entries = sparseBegin.count
    guard v.shape.dimensions.count == rank, entries == sparseEnd.count, entries == sparseStrides.count, entries < 64 else {
      throw fail("node '\(name)' (StridedSlice): begin \(sparseBegin), end \(sparseEnd), strides \(sparseStrides) for an input of shape \(v.shape)")
    }
    // The entries as one per axis of the input (TensorFlow's dense spec): `...` stands for the
    // full ranges of the axes the other entries leave (a missing `...` is one at the end), a new
    // axis takes none; each new axis's place in the result.
    let ellipses = (0..<entries).filter { masks[2] & (1 << $0) != 0 }
    guard ellipses.count <= 1 else { throw fail("node '\(name)' (StridedSlice): ellipsis_mask \(masks[2]) has more than one '...'") }
    let isNewAxis = (0..<entries).map { masks[2] & (1 << $0) == 0 && masks[3] & (1 << $0) != 0 }
    let named = (0..<entries).filter { !isNewAxis[$0] && !ellipses.contains($0) }.count
    guard named <= rank else {
      throw fail("node '\(name)' (StridedSlice): begin \(sparseBegin), end \(sparseEnd), strides \(sparseStrides) for an input of shape \(v.shape)")
    }
    var begin: [Int] = [], end: [Int] = [], strides: [Int] = []
    var fromStartAxes: [Bool] = [], toEndAxes: [Bool] = [], shrinkAxes: [Bool] = []
    var newAxes: [Int] = []
    var outputRank = 0
    for i in 0..<entries {
      let bit = 1 << i
      if ellipses.contains(i) {
        for _ in 0..<(rank - named) {
          begin.append(0); end.append(0); strides.append(1)
          fromStartAxes.append(true); toEndAxes.append(true); shrinkAxes.append(false)
          outputRank += 1
        }
      } else if isNewAxis[i] {
        newAxes.append(outputRank)
        outputRank += 1
      } else {
        begin.append(sparseBegin[i]); end.append(sparseEnd[i]); strides.append(sparseStrides[i])
        fromStartAxes.append(masks[0] & bit != 0); toEndAxes.append(masks[1] & bit != 0); shrinkAxes.append(masks[4] & bit != 0)
        if masks[4] & bit == 0 { outputRank += 1 }
      }
    }
    var sliceBegin = [Int](repeating: 0, count: rank), sliceSize = [Int](repeating: -1, count: rank)
    var picks: [(axis: Int, indices: [Int])] = []
    var shrunk: [Int] = []
    for axis in 0..<begin.count {
      let stride = strides[axis]
      let fromStart = fromStartAxes[axis], toEnd = toEndAxes[axis], shrink = shrinkAxes[axis]
      let size = v.shape.dimensions[axis]
      func needSize() throws -> Int {
        guard let size else {
          throw fail("node '\(name)' (StridedSlice): axis \(axis) of \(v.shape) must have a known size for begin \(begin), end \(end), strides \(strides)")
        }
        return size
      }
      if shrink {
        var i = begin[axis]
        if i < 0 { i += try needSize() }
        guard i >= 0, size.map({ i < $0 }) ?? true else {
          throw fail("node '\(name)' (StridedSlice): index \(begin[axis]) is out of range for axis \(axis) of \(v.shape)")
        }
        (sliceBegin[axis], sliceSize[axis]) = (i, 1)
        shrunk.append(axis)
        continue
      }
      guard stride != 0 else { throw fail("node '\(name)' (StridedSlice): stride 0 on axis \(axis)") }
      if stride == 1 && fromStart && toEnd { continue }
      if stride == 1 && toEnd && begin[axis] >= 0 {
        if let size, begin[axis] > size { sliceSize[axis] = 0 } else { sliceBegin[axis] = begin[axis] }
        continue
      }
      let n = try needSize()
      func clamp(_ i: Int, _ low: Int, _ high: Int) -> Int { min(max(i < 0 ? i + n : i, low), high) }
      let first = stride > 0 ? (fromStart ? 0 : clamp(begin[axis], 0, n)) : (fromStart ? n - 1 : clamp(begin[axis], -1, n - 1))
      let last = stride > 0 ? (toEnd ? n : clamp(end[axis], 0, n)) : (toEnd ? -1 : clamp(end[axis], -1, n - 1))
      // The indices are a constant of the graph: at most 2²⁴ of them (a stride over an axis of
      // 2³⁰ would allocate gigabytes while importing).
      guard (last - first) / stride <= 1 << 24 else {
        throw fail("node '\(name)' (StridedSlice): a range of \((last - first) / stride) elements with stride \(stride) on axis \(axis) of \(v.shape)")
      }
      let indices = Array(Swift.stride(from: first, to: last, by: stride))
      if stride == 1 {
        (sliceBegin[axis], sliceSize[axis]) = (first, indices.count)
      } else {
        picks.append((axis, indices))
      }
    }
    var t = v
    if sliceBegin.contains(where: { $0 != 0 }) || sliceSize.contains(where: { $0 != -1 }) {
      t = try g.apply(Slice(begin: sliceBegin, size: sliceSize), t, name: name + "/slice")
    }
    for (axis, indices) in picks {
      let constant = g.constant(NDArray(indices.map { Int32($0) }, shape: [indices.count]), name: "\(name)/indices_\(axis)")
      t = try gather(t, indices: constant, axis: axis, name: "\(name)/gather_\(axis)")
    }
    if !shrunk.isEmpty { t = try squeeze(t, axes: shrunk, name: name + "/shrink") }
    for axis in newAxes { t = try expandDims(t, axis: axis, name: "\(name)/new_axis_\(axis)") }
    return try g.apply(Identity(stopsGradient: false), t, name: name)
  }

  func dtypeAttr(_ d: TFNodeDef, _ key: String) throws -> DType {
    guard case let .type(code)? = d.attrs[key] else { throw fail("node '\(d.name)' (\(d.op)) has no type attribute '\(key)'") }
    guard let t = TFDataType.dtype(code) else { throw fail("node '\(d.name)' (\(d.op)): unsupported \(TFDataType.describe(code))") }
    return t
  }

  func boolAttr(_ d: TFNodeDef, _ key: String) -> Bool {
    if case let .bool(b)? = d.attrs[key] { return b }
    return false
  }

  func intAttr(_ d: TFNodeDef, _ key: String, default value: Int64 = 0) -> Int64 {
    if case let .int(i)? = d.attrs[key] { return i }
    return value
  }

  func controlOperations(_ d: TFNodeDef) -> [Operation] {
    d.inputs.filter { $0.hasPrefix("^") }.compactMap { operations[Self.split($0).0] }
  }

  mutating func build(_ d: TFNodeDef, initialValue: String?) throws {
    let g = graph
    let name = d.name
    if let group = training.groupOf[name] {
      try buildTrainingGroup(group)
      return
    }
    func x(_ i: Int) throws -> Tensor { try input(d, i) }
    func apply(_ p: some Primitive, _ ins: [Tensor]) throws -> Tensor {
      let op = try g.addOperation(p, inputs: ins, controlDependencies: controlOperations(d), name: name)
      return op.output
    }
    let unary: [String: any UnaryFunction] = [
      "Neg": Negate(), "Square": Square(), "Abs": Abs(), "Exp": Exp(), "Log": Log(), "Sqrt": Sqrt(), "Sigmoid": Sigmoid(),
      "Tanh": HyperbolicTangent(), "Relu": Relu(), "Round": Round(), "Floor": Floor(), "Ceil": Ceil(), "Sign": Sign(), "Sin": Sin(), "Cos": Cos(), "Tan": Tan(),
      "Atan": Atan(), "Expm1": ExpMinusOne(), "Log1p": LogOnePlus(), "Reciprocal": Reciprocal(),
      "Rsqrt": ReciprocalSquareRoot(), "Softplus": Softplus(), "Elu": Elu(), "Selu": Selu(), "Erf": ErrorFunction(),
    ]
    let binary: [String: any BinaryFunction] = [
      "Add": Add(), "AddV2": Add(), "Sub": Subtract(), "Mul": Multiply(), "RealDiv": Divide(), "Div": Divide(),
      "Maximum": Maximum(), "Minimum": Minimum(), "Pow": Power(), "FloorDiv": FloorDivide(), "FloorMod": FloorModulo(),
      "Atan2": Atan2(),
    ]
    let compare: [String: Compare.Function] = [
      "Equal": .equal, "NotEqual": .notEqual, "Less": .less, "LessEqual": .lessEqual, "Greater": .greater,
      "GreaterEqual": .greaterEqual,
    ]
    // int32 arithmetic (Keras's Embedding wraps negative ids with `AddV2`; index arithmetic):
    // Backprop's arithmetic is floating point. float64 holds every int32 and every sum,
    // difference, extremum, floor quotient and remainder of two exactly, so the result, wrapped
    // to int32 as TensorFlow's two's complement arithmetic wraps (`INT32_MAX + 1` is
    // `INT32_MIN`) and cast back, is TensorFlow's; a product is computed in two exact halves
    // (see `wrappedProduct`).
    func wide(_ t: Tensor, _ i: Int) throws -> Tensor {
      t.dtype == .int32 ? try g.apply(Cast(to: .float64), t, name: "\(name)/float64_\(i)") : t
    }
    func c64(_ v: Double) -> Tensor { g.constant(v, dtype: .float64, name: name + "/c") }
    func f64(_ f: some BinaryFunction, _ a: Tensor, _ b: Tensor, _ tag: String) throws -> Tensor {
      try g.apply(binaryPrimitive(f), a, b, name: "\(name)/\(tag)")
    }
    /// An integer-valued float64 `r` (|r| < 2⁵³) wrapped to int32's range:
    /// `(r + 2³¹) mod 2³² − 2³¹`, every step exact.
    func wrapped(_ r: Tensor) throws -> Tensor {
      let m = try f64(FloorModulo(), f64(Add(), r, c64(0x1p31), "wrap_shift"), c64(0x1p32), "wrap_mod")
      return try f64(Subtract(), m, c64(0x1p31), "wrap")
    }
    /// `a·b` wrapped to int32 for int32 values `a`, `b` held as float64: the product (up to 2⁶²)
    /// is not exact in float64, so `b = h·2¹⁶ + l` (`0 ≤ l < 2¹⁶`) and `a·b ≡ a·l + (a·h mod 2³²)·2¹⁶`,
    /// each term below 2⁴⁷.
    func wrappedProduct(_ a: Tensor, _ b: Tensor) throws -> Tensor {
      let low = try f64(FloorModulo(), b, c64(0x1p16), "low")
      let high = try f64(Divide(), f64(Subtract(), b, low, "high_bits"), c64(0x1p16), "high")
      let highPart = try f64(Multiply(), wrapped(f64(Multiply(), a, high, "times_high")), c64(0x1p16), "shifted")
      return try wrapped(f64(Add(), f64(Multiply(), a, low, "times_low"), highPart, "product"))
    }
    /// `sign(a)·sign(b)·⌊|a| / |b|⌋`: the quotient rounded toward zero (C's integer division).
    func truncatedQuotient(_ a: Tensor, _ b: Tensor) throws -> Tensor {
      let magnitude = try f64(FloorDivide(), g.apply(Unary(Abs()), a, name: name + "/abs_x"), g.apply(Unary(Abs()), b, name: name + "/abs_y"), "floordiv")
      let sign = try f64(Multiply(), g.apply(Unary(Sign()), a, name: name + "/sign_x"), g.apply(Unary(Sign()), b, name: name + "/sign_y"), "sign")
      return try f64(Multiply(), sign, magnitude, "truncdiv")
    }
    /// The int32 form of node `d` (its inputs int32), or `nil` when it has none.
    func int32Arithmetic() throws -> Tensor? {
      let op = d.op
      let binaryOps = ["Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "FloorDiv", "FloorMod", "TruncateDiv", "Div", "Pow"]
      guard ["Neg", "Abs", "Square"].contains(op) || binaryOps.contains(op) else { return nil }
      let a = try wide(x(0), 0)
      let value: Tensor
      switch op {
      case "Neg": value = try wrapped(g.apply(Unary(Negate()), a, name: name + "/neg"))
      case "Abs": value = try wrapped(g.apply(Unary(Abs()), a, name: name + "/abs"))
      case "Square": value = try wrappedProduct(a, a)
      case "Pow":
        // Square and multiply, each product wrapped, for a constant exponent (TensorFlow's
        // integer power); a negative one TensorFlow refuses when it runs.
        let data = d.inputs.filter { !$0.hasPrefix("^") }
        guard data.count == 2, let j = byName[Self.split(data[1]).0], defs[j].op == "Const", case let .tensor(t)? = defs[j].attrs["value"],
          t.elementCount == 1, t.shape.rank <= a.shape.rank, t.scalarValue >= 0, t.scalarValue < 0x1p31
        else {
          throw fail("node '\(name)' (Pow): an int32 power needs a constant exponent of one non-negative value (Backprop needs it when the graph is built)")
        }
        var e = Int(t.scalarValue)
        var result = try f64(Multiply(), a, c64(0), "zero")
        result = try f64(Add(), result, c64(1), "one")
        var base = a
        while e > 0 {
          if e & 1 == 1 { result = try wrappedProduct(result, base) }
          e >>= 1
          if e > 0 { base = try wrappedProduct(base, base) }
        }
        value = result
      default:
        // A zero divisor fails the run naming this node, as TensorFlow's integer division
        // kernels raise "Integer division by zero" (through float64 it gave a value).
        var divisor = try x(1)
        if ["FloorDiv", "FloorMod", "TruncateDiv", "Div"].contains(op), divisor.dtype == .int32 {
          divisor = try g.apply(CheckNonZeroDivisor(operation: name, operationType: op), divisor, name: name + "/nonzero_divisor")
        }
        let b = try wide(divisor, 1)
        switch op {
        case "Add", "AddV2": value = try wrapped(f64(Add(), a, b, "add"))
        case "Sub": value = try wrapped(f64(Subtract(), a, b, "sub"))
        case "Mul": value = try wrappedProduct(a, b)
        case "Maximum": value = try f64(Maximum(), a, b, "maximum")
        case "Minimum": value = try f64(Minimum(), a, b, "minimum")
        // INT32_MIN // -1 is 2³¹, which wraps to INT32_MIN as TensorFlow's does.
        case "FloorDiv": value = try wrapped(f64(FloorDivide(), a, b, "floordiv"))
        case "FloorMod": value = try f64(FloorModulo(), a, b, "floormod")
        // TruncateDiv, and Div, whose integer kernel is C's division (rounded toward zero).
        default: value = try wrapped(truncatedQuotient(a, b))
        }
      }
      return try apply(Cast(to: .int32), [value])
    }
    var result: [Tensor] = []
    if case let .string(type)? = d.attrs["_backprop_op"] {
      switch type {
      case "SumToShapeOf": result = [try apply(SumToShapeOf(), [x(0), x(1)])]
      case "ScatterAdd": result = [try apply(ScatterAdd(axis: 0), [x(0), x(1), x(2)])]
      case "ReshapeLike": result = [try apply(ReshapeLike(), [x(0), x(1)])]
      case "BroadcastLike": result = [try apply(BroadcastLike(), [x(0), x(1)])]
      case "EnsureShapeLike":
        guard case let .string(operation)? = d.attrs["_backprop_operation"], case let .strings(roles)? = d.attrs["_backprop_roles"],
          roles.count == 2
        else { throw fail("'\(name)': EnsureShapeLike needs _backprop_operation and two _backprop_roles") }
        result = [try apply(EnsureShapeLike(operation: operation, role: roles[0], referenceRole: roles[1]), [x(0), x(1)])]
      case "CheckNonZeroDivisor":
        guard case let .string(operation)? = d.attrs["_backprop_operation"], case let .string(type)? = d.attrs["_backprop_operation_type"]
        else { throw fail("'\(name)': CheckNonZeroDivisor needs _backprop_operation and _backprop_operation_type") }
        result = [try apply(CheckNonZeroDivisor(operation: operation, operationType: type), [x(0)])]
      case "SigmoidCrossEntropyWithLogits": result = [try apply(Binary(SigmoidCrossEntropy()), [x(0), x(1)])]
      case "Conv2DBackpropInput", "Conv2DBackpropFilter":
        let w = try windowAttributes(d)
        if type == "Conv2DBackpropFilter" {
          result = [try apply(Conv2DBackpropFilter(strides: w.strides, padding: w.padding, dilations: w.dilations, groups: 1), [x(0), x(1), x(2)])]
        } else if case let .ints(shape)? = d.attrs["_backprop_output_shape"] {
          let p = Conv2DBackpropInput(strides: w.strides, padding: w.padding, dilations: w.dilations, groups: 1, outputShape: shape.map { Int($0) })
          result = [try apply(p, [x(0), x(1)])]
        } else {
          let p = Conv2DBackpropInput(strides: w.strides, padding: w.padding, dilations: w.dilations, groups: 1, outputShape: nil)
          result = [try apply(p, [x(0), x(1), x(2)])]
        }
      case "MaxPoolGrad":
        result = [try apply(MaxPoolGrad(geometry: try windowAttributes(d).geometry), [x(0), x(1)])]
      case "AvgPoolGrad":
        result = [try apply(AvgPoolGrad(geometry: try windowAttributes(d).geometry), [x(0), x(1)])]
      case "DropoutMask":
        guard case let .tensor(rate)? = d.attrs["_backprop_rate"], rate.elementCount == 1, case let .string(seedText)? = d.attrs["_backprop_seed"],
          let seed = UInt64(seedText), rate.scalarValue >= 0, rate.scalarValue < 1
        else { throw fail("'\(name)': DropoutMask needs _backprop_rate in [0, 1) and _backprop_seed") }
        result = [try apply(DropoutMask(rate: rate.scalarValue, seed: seed), [x(0), x(1)])]
      case "Normalize":
        guard case let .ints(axes)? = d.attrs["_backprop_axes"], case let .tensor(e)? = d.attrs["_backprop_epsilon"], e.elementCount == 1
        else { throw fail("'\(name)': Normalize needs _backprop_axes and _backprop_epsilon") }
        let op = try g.addOperation(
          Normalize(axes: axes.map { Int($0) }, epsilon: e.scalarValue), inputs: [x(0)], controlDependencies: controlOperations(d), name: name)
        result = op.outputs
      case "ExponentialDecay", "PiecewiseConstant", "CosineDecay":
        guard case let .tensor(p)? = d.attrs["_backprop_schedule"], p.shape.rank == 1, p.dtype == .float64,
          let formula = ScheduleFormula(typeName: type, parameters: p.doubles)
        else { throw fail("'\(name)': \(type) needs _backprop_schedule, the parameters of a valid schedule as float64 numbers") }
        result = [try apply(ScheduledLearningRate(formula: formula), [x(0)])]
      case "StepPower":
        guard case let .tensor(b)? = d.attrs["_backprop_base"], b.elementCount == 1 else { throw fail("'\(name)': no _backprop_base") }
        result = [try apply(StepPower(base: b.scalarValue), [x(0)])]
      case "ApplyAdam":
        guard case let .tensor(h)? = d.attrs["_backprop_hyperparameters"], h.elementCount == 3, dataInputCount(d) >= 5 else {
          throw fail("'\(name)': ApplyAdam needs _backprop_hyperparameters [beta1, beta2, epsilon] and 5 or 6 inputs")
        }
        let hyper = h.doubles
        try addAdam(
          d, variables: [x(0), x(1), x(2)], gradient: x(3), stepSize: x(4), decay: dataInputCount(d) > 5 ? x(5) : nil,
          beta1: hyper[0], beta2: hyper[1], epsilon: hyper[2])
        return
      case "ElementCount":
        guard case let .ints(axes)? = d.attrs["_backprop_axes"] else { throw fail("'\(name)': no _backprop_axes") }
        result = [try apply(ElementCount(axes: axes.map { Int($0) }), [x(0)])]
      default: throw GraphDefError.unsupportedOperations(direction: "import", ["\(type): \(name)"])
      }
      outputs[name] = result
      operations[name] = result[0].operation
      return
    }
    if ["Shape", "StridedSlice", "Pack", "ConcatV2", "Slice"].contains(d.op), let value = staticValue(name) {
      let known = value.sizes.compactMap { if case let .size(n) = $0 { Int32(truncatingIfNeeded: n) } else { nil } }
      if known.count < value.sizes.count {
        // A shape with sizes known only when the graph runs: no operation; a `Reshape` reads it
        // with `staticValue`, any other reader is refused by `input(_:_:)`.
        outputs[name] = []
        return
      }
      if d.inputs.contains(where: { !$0.hasPrefix("^") && outputs[Self.split($0).0]?.isEmpty == true }) {
        // Known sizes taken from a shape known only when the graph runs (the class count of
        // logits [?, 3], as the softmax cross entropy takes it): a constant.
        let c = g.constant(NDArray(known, shape: value.scalar ? [] : [known.count]), name: name)
        outputs[name] = [c]
        operations[name] = c.operation
        return
      }
    }
    switch d.op {
    case "PlaceholderWithDefault":
      // The declared shape, which a fed value may have (`[None]`: any length), not only the
      // default's; an unknown rank (or none given) keeps the default's.
      var shape: PartialShape?
      if case let .shape(s?)? = d.attrs["shape"] { shape = PartialShape(s) }
      result = [try apply(PlaceholderWithDefault(shape: shape), [x(0)])]
    case "Placeholder":
      let dtype = try dtypeAttr(d, "dtype")
      // No `shape` attribute is TensorFlow's default, an unknown shape (older TF1 graphs), not
      // a scalar.
      guard case let .shape(s)? = d.attrs["shape"], let shape = s else {
        throw fail(
          "placeholder '\(name)' has an unknown rank\(d.attrs["shape"] == nil ? " (no shape attribute)" : ""); Backprop needs its rank")
      }
      result = [g.placeholder(dtype, shape: PartialShape(shape), name: name)]
    case "Const":
      guard case let .tensor(t)? = d.attrs["value"] else { throw fail("constant '\(name)' has no value") }
      // Read as a data input only: built on its first read as a tensor (see LazyConstants).
      if lazyConstants.pending[name] != nil { return }
      let control = controlOperations(d)
      if control.isEmpty {
        result = [g.constant(t, name: name)]
      } else {
        // A constant that waits for operations (`minimize(global_step:)`'s increment by a
        // constant made after the updates): its value, read after them.
        result = [
          try g.addOperation(
            Identity(stopsGradient: false), inputs: [g.constant(t, name: name + "/value")], controlDependencies: control, name: name
          ).outputs[0]
        ]
      }
    case "VariableV2", "Variable", "VarHandleOp":
      let dtype = try dtypeAttr(d, "dtype")
      let initial: Tensor
      if let initialValue {
        let (n, k) = Self.split(initialValue)
        guard let outs = try outputs[n] ?? constant(named: n), k < outs.count else {
          throw fail("variable '\(name)': no initial value '\(initialValue)'")
        }
        initial = outs[k]
      } else {
        guard case let .shape(s)? = d.attrs["shape"], let s, s.allSatisfy({ $0 != nil }) else {
          throw fail("variable '\(name)' has neither an initializer nor a known shape")
        }
        var count = 1
        for size in s {
          let (p, o) = count.multipliedReportingOverflow(by: size!)
          guard !o, p <= 1 << 28 else { throw fail("variable '\(name)' of shape \(s.map { $0! }) is too large") }
          count = p
        }
        initial = g.constant(try NDArray.zeros(Shape(s.map { $0! }), dtype: dtype), name: name + "/zeros")
      }
      guard initial.dtype == dtype else { throw fail("variable '\(name)' is \(dtype) but its initial value is \(initial.dtype)") }
      // Not trainable when the exporter said so (see GraphDefExporter.export).
      var trainable = true
      if case .bool(false)? = d.attrs["_backprop_trainable"] { trainable = false }
      result = [try g.variable(initial, trainable: trainable, name: name)]
    case "ReadVariableOp": result = [try apply(Identity(stopsGradient: false), [x(0)])]
    case "VarIsInitializedOp":
      // Session.initializeVariables() initializes every variable before anything runs.
      result = [g.constant(NDArray(scalar: true), name: name)]
    case "Identity", "Snapshot": result = [try apply(Identity(stopsGradient: false), [x(0)])]
    case "StopGradient": result = [try apply(Identity(stopsGradient: true), [x(0)])]
    case "LeakyRelu":
      var alpha = 0.2
      if case let .float(a)? = d.attrs["alpha"] { alpha = Double(a) }
      if case let .tensor(a)? = d.attrs["_backprop_alpha"], a.dtype == .float64, a.elementCount == 1, Float(a.doubles[0]) == Float(alpha) {
        alpha = a.doubles[0]
      }
      result = [try apply(Unary(LeakyRelu(alpha: alpha)), [x(0)])]
    case "SquaredDifference":
      let diff = try g.apply(Binary(Subtract()), [x(0), x(1)], name: name + "/sub")
      result = [try apply(Unary(Square()), [diff])]
    case "BiasAdd":
      let v = try x(0), bias = try x(1)
      var format = "NHWC"
      if case let .string(f)? = d.attrs["data_format"] { format = f }
      switch format {
      case "NHWC": result = [try apply(binaryPrimitive(Add()), [v, bias])]
      case "NCHW":
        // Channels first: the bias runs along axis 1, not the last (it was added along the
        // last axis: wrong values when the sizes happened to broadcast).
        guard v.shape.rank >= 2, v.shape.dimensions.count == v.shape.rank, bias.shape.rank == 1 else {
          throw fail("node '\(name)' (BiasAdd, NCHW): needs an input of known rank >= 2 and a vector bias, got \(v.shape) and \(bias.shape)")
        }
        let channels = try reshape(bias, to: [-1] + [Int](repeating: 1, count: v.shape.rank - 2), name: name + "/channels_first")
        result = [try apply(binaryPrimitive(Add()), [v, channels])]
      default: throw fail("node '\(name)' (BiasAdd): data_format \(format); Backprop adds biases NHWC or NCHW")
      }
    case "LogicalNot": result = [try apply(Logical(.not), [x(0)])]
    case "LogicalAnd": result = [try apply(Logical(.and), [x(0), x(1)])]
    case "LogicalOr": result = [try apply(Logical(.or), [x(0), x(1)])]
    case "Select", "SelectV2":
      var condition = try x(0)
      let value = try x(1)
      // TF1's `Select` (tf.compat.v1.where) with a vector condition and a value of higher rank
      // picks whole rows (the condition's size is the first dimension), where broadcasting would
      // align the condition with the last axis: picked columns of a square matrix, silently.
      if d.op == "Select", condition.shape.rank == 1, value.shape.rank > 1 {
        guard value.shape.dimensions.count == value.shape.rank else {
          throw fail("node '\(name)' (Select): the values need a known rank, got \(value.shape)")
        }
        condition = try reshape(condition, to: [-1] + [Int](repeating: 1, count: value.shape.rank - 1), name: name + "/rows")
      }
      result = [try apply(Select(), [condition, value, x(2)])]
    case "Cast": result = [try apply(Cast(to: try dtypeAttr(d, "DstT")), [x(0)])]
    case "MatMul":
      result = [try apply(MatMul(transposeA: boolAttr(d, "transpose_a"), transposeB: boolAttr(d, "transpose_b")), [x(0), x(1)])]
    case "Sum", "Max", "Min", "Mean", "Prod":
      let v = try x(0)
      // Normalized, sorted, and refused when out of range or repeated, as TensorFlow refuses
      // them ("Axes contains duplicate dimension"): a repeated axis counted twice by `Mean`'s
      // divisor gave the sum over n² instead of n.
      let axes = try checkedAxes(d, constInts(d, 1), rank: v.shape.rank, input: v)
      let keep = boolAttr(d, "keep_dims")
      switch d.op {
      // int32: in float64, exact while the sum is below 2⁵³ (up to 2²² elements summed), then
      // wrapped as TensorFlow's sum wraps; the mean is that sum divided toward zero.
      case "Sum" where v.dtype == .int32:
        result = [try apply(Cast(to: .int32), [wrapped(g.apply(Sum(axes: axes, keepDims: keep), [wide(v, 0)], name: name + "/sum"))])]
      case "Mean" where v.dtype == .int32:
        let w = try wide(v, 0)
        let total = try wrapped(g.apply(Sum(axes: axes, keepDims: keep), w, name: name + "/sum"))
        let count = try g.apply(ElementCount(axes: axes), w, name: name + "/count")
        result = [try apply(Cast(to: .int32), [truncatedQuotient(total, count)])]
      case "Max" where v.dtype == .int32:
        result = [try apply(Cast(to: .int32), [g.apply(Extremum(kind: .max, axes: axes, keepDims: keep), [wide(v, 0)], name: name + "/max")])]
      case "Min" where v.dtype == .int32:
        result = [try apply(Cast(to: .int32), [g.apply(Extremum(kind: .min, axes: axes, keepDims: keep), [wide(v, 0)], name: name + "/min")])]
      case "Sum": result = [try apply(Sum(axes: axes, keepDims: keep), [v])]
      case "Prod": result = [try apply(Product(axes: axes, keepDims: keep), [v])]
      case "Max": result = [try apply(Extremum(kind: .max, axes: axes, keepDims: keep), [v])]
      case "Min": result = [try apply(Extremum(kind: .min, axes: axes, keepDims: keep), [v])]
      default:
        let total = try g.apply(Sum(axes: axes, keepDims: keep), v, name: name + "/sum")
        let count = try g.apply(ElementCount(axes: axes), v, name: name + "/count")
        result = [try apply(Binary(Divide()), [total, count])]
      }
    case "ArgMax", "ArgMin":
      let v = try x(0)
      guard let a = try constInts(d, 1).first else { throw fail("'\(name)': no axis") }
      let axis = try checkedAxes(d, [a], rank: v.shape.rank, input: v)[0]
      var t = try apply(ArgExtremum(kind: d.op == "ArgMax" ? .max : .min, axis: axis), [v])
      if case let .type(code)? = d.attrs["output_type"], TFDataType.dtype(code) != .int32 {
        // int64 indices: Backprop computes int32 ones.
        t = try g.apply(Identity(stopsGradient: true), t, name: name + "/int32")
      }
      result = [t]
    case "Softmax", "LogSoftmax":
      let v = try x(0)
      let axis = try checkedAxes(d, [-1], rank: v.shape.rank, input: v)[0]
      result = [try apply(Softmax(axis: axis, log: d.op == "LogSoftmax"), [v])]
    case "SparseSoftmaxCrossEntropyWithLogits":
      result = [try apply(SparseSoftmaxCrossEntropy(), [x(0), x(1)])]
    case "SoftmaxCrossEntropyWithLogits":
      // tf.nn.softmax_cross_entropy_with_logits: output 0 the loss of each row,
      // `−Σ labels · log softmax(logits)`, output 1 (`backprop`) `softmax(logits) − labels`;
      // built from log-softmax, softmax and a sum, whose gradients are the derivatives.
      let logits = try x(0), labels = try x(1)
      let axis = try checkedAxes(d, [-1], rank: logits.shape.rank, input: logits)[0]
      let logSoftmax = try g.apply(Softmax(axis: axis, log: true), logits, name: name + "/log_softmax")
      let terms = try g.apply(binaryPrimitive(Multiply()), labels, logSoftmax, name: name + "/labels_log_softmax")
      let total = try g.apply(Sum(axes: [terms.shape.rank - 1], keepDims: false), [terms], name: name + "/sum")
      let loss = try apply(unaryPrimitive(Negate()), [total])
      let softmax = try g.apply(Softmax(axis: axis, log: false), logits, name: name + "/softmax")
      result = [loss, try g.apply(binaryPrimitive(Subtract()), softmax, labels, name: name + "/backprop")]
    case "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3":
      // `adj_x`, `adj_y`: the (conjugate, for real numbers plain) transposes of the last two
      // axes; batch axes broadcast (as BatchMatMulV2's; the first version's equal batches are a
      // case of that).
      let a = try x(0), b = try x(1)
      if d.op == "BatchMatMulV3", d.attrs["Tout"] != nil, try dtypeAttr(d, "Tout") != a.dtype || b.dtype != a.dtype {
        throw fail("node '\(name)' (BatchMatMulV3): operands \(a.dtype) and \(b.dtype) with Tout \(try dtypeAttr(d, "Tout")); Backprop multiplies operands of the result's dtype")
      }
      result = [try apply(MatMul(transposeA: boolAttr(d, "adj_x"), transposeB: boolAttr(d, "adj_y")), [a, b])]
    case "Range":
      result = [try range(d)]
    case "Any", "All":
      // Over bool values: the maximum (Any) or minimum (All) of them as 0 and 1, compared with 0.
      let v = try x(0)
      guard v.dtype == .bool else { throw fail("node '\(name)' (\(d.op)): the input '\(v.name)' is \(v.dtype), not bool") }
      let axes = try checkedAxes(d, constInts(d, 1), rank: v.shape.rank, input: v)
      let numbers = try g.apply(Cast(to: .float32), v, name: name + "/float32")
      let extremum = try g.apply(
        Extremum(kind: d.op == "Any" ? .max : .min, axes: axes, keepDims: boolAttr(d, "keep_dims")), [numbers], name: name + "/reduce")
      result = [try apply(Compare(.greater), [extremum, g.constant(0, dtype: .float32, name: name + "/zero")])]
    case "TruncateDiv":
      let a = try x(0)
      if a.dtype == .int32, let t = try int32Arithmetic() {
        result = [t]
      } else {
        // trunc(x / y): `sign(q)·(|q| − (|q| mod 1))`, or `q` itself where every value is an
        // integer (|q| ≥ 2²³ in float32, 2⁵² in float64; infinities).
        let q = try g.apply(binaryPrimitive(Divide()), [a, x(1)], name: name + "/quotient")
        let magnitude = try g.apply(unaryPrimitive(Abs()), q, name: name + "/abs")
        let fraction = try g.apply(binaryPrimitive(FloorModulo()), [magnitude, g.scalar(1, like: q)], name: name + "/fraction")
        let whole = try g.apply(binaryPrimitive(Subtract()), magnitude, fraction, name: name + "/whole")
        let signed = try g.apply(binaryPrimitive(Multiply()), [g.apply(unaryPrimitive(Sign()), q, name: name + "/sign"), whole], name: name + "/truncated")
        let large = try g.apply(Compare(.greaterEqual), [magnitude, g.scalar(q.dtype == .float32 ? 0x1p23 : 0x1p52, like: q)], name: name + "/integral")
        result = [try apply(Select(), [large, q, signed])]
      }
    case "Reshape":
      let v = try x(0)
      result = [try reshape(v, to: reshapeTarget(d, v), name: name)]
    case "ExpandDims":
      let v = try x(0)
      guard let a = try constInts(d, 1).first else { throw fail("'\(name)': no axis") }
      result = [try expandDims(v, axis: a, name: name)]
    case "Squeeze":
      var axes: [Int]? = nil
      if case let .ints(list)? = d.attrs["squeeze_dims"], !list.isEmpty { axes = list.map { Int($0) } }
      result = [try squeeze(x(0), axes: axes, name: name)]
    case "Transpose": result = [try transpose(x(0), permutation: constInts(d, 1), name: name)]
    case "ConcatV2":
      let n = dataInputCount(d)
      let parts = try (0..<(n - 1)).map { try x($0) }
      guard let a = try constInts(d, n - 1).first else { throw fail("'\(name)': no axis") }
      result = [try concat(parts, axis: a, name: name)]
    case "BroadcastTo": result = [try apply(BroadcastTo(shape: constInts(d, 1)), [x(0)])]
    case "OneHot":
      guard let depth = try constInts(d, 1).first else { throw fail("'\(name)': no depth") }
      let values = try [2, 3].map { i -> Double in
        let data = d.inputs.filter { !$0.hasPrefix("^") }
        guard i < data.count, let j = byName[Self.split(data[i]).0], case let .tensor(t)? = defs[j].attrs["value"],
          t.elementCount == 1
        else { throw fail("'\(name)': on and off values must be constants") }
        return t.scalarValue
      }
      // `axis` (-1, the default, is the last): the new axis of `depth` classes is moved there
      // (it was ignored: `axis=0` gave the classes last, transposed values, silently).
      let indices = try x(0)
      let axis = Int(intAttr(d, "axis", default: -1))
      let rank = indices.shape.rank + 1
      guard axis >= -1, axis < rank else {
        throw fail("node '\(name)' (OneHot): axis \(axis) is out of range for indices of shape \(indices.shape)")
      }
      let primitive = OneHot(depth: depth, dtype: try dtypeAttr(d, "T"), on: values[0], off: values[1])
      if axis == -1 || axis == rank - 1 {
        result = [try apply(primitive, [indices])]
      } else {
        let last = try g.apply(primitive, indices, name: name + "/last")
        result = [try transpose(last, permutation: Array(0..<axis) + [rank - 1] + Array(axis..<(rank - 1)), name: name)]
      }
    case "GatherV2":
      guard let a = try constInts(d, 2).first else { throw fail("'\(name)': no axis") }
      // batch_dims (TF 2's tf.gather(..., batch_dims=1)) was ignored: another shape and values.
      let batchDims = intAttr(d, "batch_dims")
      guard batchDims == 0 else { throw fail("node '\(name)' (GatherV2): batch_dims \(batchDims); Backprop gathers with batch_dims 0 only") }
      result = [try gather(x(0), indices: x(1), axis: a, name: name)]
    case "Slice": result = [try apply(Slice(begin: constInts(d, 1), size: constInts(d, 2)), [x(0)])]
    case "Pad", "PadV2":
      // Inputs: the tensor, the paddings ([rank, 2]: before and after per axis) and, for PadV2,
      // the value (a one-element constant).
      let v = try x(0)
      let flat = try constInts(d, 1)
      guard flat.count == 2 * v.shape.rank else {
        throw fail("node '\(name)' (\(d.op)): paddings \(flat) need a (before, after) pair per axis of '\(v.name)' \(v.shape)")
      }
      let value = d.op == "PadV2" ? try constScalar(d, 2) : 0
      let pairs = stride(from: 0, to: flat.count, by: 2).map { (before: flat[$0], after: flat[$0 + 1]) }
      result = [try apply(Pad(before: pairs.map(\.before), after: pairs.map(\.after), value: value), [v])]
    case "MirrorPad", "MirrorPadGrad":
      // The paddings as Pad's; the mode REFLECT or SYMMETRIC. MirrorPadGrad's paddings are
      // those of the MirrorPad whose gradient it is (its input has the padded shape).
      let v = try x(0)
      let flat = try constInts(d, 1)
      guard flat.count == 2 * v.shape.rank else {
        throw fail("node '\(name)' (\(d.op)): paddings \(flat) need a (before, after) pair per axis of '\(v.name)' \(v.shape)")
      }
      guard case let .string(text)? = d.attrs["mode"], let mode = MirrorPadMode(rawValue: text) else {
        throw fail("node '\(name)' (\(d.op)): mode must be REFLECT or SYMMETRIC")
      }
      let before = stride(from: 0, to: flat.count, by: 2).map { flat[$0] }, after = stride(from: 1, to: flat.count, by: 2).map { flat[$0] }
      result = [
        try d.op == "MirrorPad"
          ? apply(MirrorPad(before: before, after: after, mode: mode), [v]) : apply(MirrorPadGrad(before: before, after: after, mode: mode), [v])
      ]
    case "SplitV":
      let v = try x(0)
      guard let a = try constInts(d, 2).first else { throw fail("'\(name)': no axis") }
      let op = try g.addOperation(
        Split(axis: checkedAxes(d, [a], rank: v.shape.rank, input: v)[0], sizes: constInts(d, 1)), inputs: [v],
        controlDependencies: controlOperations(d), name: name)
      result = op.outputs
    case "ZerosLike": result = [try apply(FillLike(value: 0), [x(0)])]
    case "OnesLike": result = [try apply(FillLike(value: 1), [x(0)])]
    case "RandomStandardNormal", "RandomUniform", "TruncatedNormal":
      let shape = Shape(try constInts(d, 0))
      var seed = UInt64(truncatingIfNeeded: intAttr(d, "seed")) << 32 | UInt64(truncatingIfNeeded: intAttr(d, "seed2")) & 0xffff_ffff
      if case let .string(text)? = d.attrs["_backprop_seed"], let exact = UInt64(text) { seed = exact }
      let distribution: RandomPrimitive.Distribution =
        d.op == "RandomUniform"
        ? .uniform(low: 0, high: 1) : d.op == "TruncatedNormal" ? .truncatedNormal(mean: 0, standardDeviation: 1) : .normal(mean: 0, standardDeviation: 1)
      result = [try apply(RandomPrimitive(shape: shape, distribution: distribution, seed: seed, dtype: try dtypeAttr(d, "dtype")), [])]
    case "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp":
      let v = try x(0), value = try x(1)
      if d.op == "Assign" || d.op == "AssignVariableOp" {
        result = [try assign(v, value, name: name)]
      } else {
        let op = try d.op.hasPrefix("AssignAdd") ? assignAdd(v, value, name: name) : assignSubtract(v, value, name: name)
        operations[name] = op
        outputs[name] = op.outputs
        return
      }
    case "Conv2D":
      // `padding: EXPLICIT` (tf.nn.conv2d with a list of paddings): the `explicit_paddings`
      // (before and after for each NHWC axis) as a Pad of the image, then a VALID convolution.
      var valid = d
      var explicit: [Int]? = nil
      if case .string("EXPLICIT")? = d.attrs["padding"] {
        guard case let .ints(list)? = d.attrs["explicit_paddings"], list.count == 8, list.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }),
          list[0] == 0, list[1] == 0, list[6] == 0, list[7] == 0
        else {
          throw fail(
            "node '\(name)' (Conv2D): padding EXPLICIT needs explicit_paddings of 8 non-negative sizes with none on the batch and channel axes (NHWC)")
        }
        explicit = list.map { Int($0) }
        valid.attrs["padding"] = .string("VALID")
      }
      let w = try windowAttributes(valid)
      var input = try x(0)
      let filter = try x(1)
      if let explicit {
        input = try g.apply(
          Pad(before: stride(from: 0, to: 8, by: 2).map { explicit[$0] }, after: stride(from: 1, to: 8, by: 2).map { explicit[$0] }, value: 0),
          [input], name: name + "/explicit_padding")
      }
      var groups = 1
      if let c = input.shape.dimensions.last ?? nil, let fc = filter.shape.dimensions.count == 4 ? filter.shape.dimensions[2] : nil, fc > 0,
        c % fc == 0
      {
        groups = c / fc
      }
      result = [try apply(Conv2D(strides: w.strides, padding: w.padding, dilations: w.dilations, groups: groups), [input, filter])]
    case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
      result = try fusedBatchNorm(d, x: x(0), scale: x(1), offset: x(2), mean: x(3), variance: x(4))
    case "MaxPool": result = [try apply(MaxPool(geometry: try windowAttributes(d).geometry), [x(0)])]
    case "AvgPool": result = [try apply(AvgPool(geometry: try windowAttributes(d).geometry), [x(0)])]
    case "ApplyAdam":
      // TensorFlow's own Adam update (training_ops.cc): lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ) from the
      // beta powers (a constant when they are constants, else graph operations), then
      // Backprop's fused update. β₁, β₂ and ε must be constants.
      if boolAttr(d, "use_nesterov") { throw GraphDefError.unsupportedOperations(direction: "import", ["ApplyAdam (use_nesterov): \(name)"]) }
      let hyper = try (6...8).map { try constScalar(d, $0) }
      let lr = try x(5)
      var stepSize = lr
      let powers = [3, 4].map { i -> Double? in try? constScalar(d, i) }
      if powers[0] != 0 || powers[1] != 0 {
        let p1 = try x(3), p2 = try x(4)
        let one = g.constant(try NDArray(repeating: 1, shape: [], dtype: lr.dtype), name: name + "/one")
        stepSize = try divide(
          multiply(lr, sqrt(subtract(one, p2, name: name + "/one_minus_beta2_power")), name: name + "/lr_scaled"),
          subtract(one, p1, name: name + "/one_minus_beta1_power"), name: name + "/lr_t")
      }
      try addAdam(
        d, variables: [x(0), x(1), x(2)], gradient: x(9), stepSize: stepSize, decay: nil, beta1: hyper[0], beta2: hyper[1],
        epsilon: hyper[2])
      return
    case "IdentityN":
      // Keras's custom gradients (swish, gelu's approximation) pass their values through it.
      result = try (0..<dataInputCount(d)).map { i in
        try g.apply(Identity(stopsGradient: false), [x(i)], name: i == 0 ? name : "\(name)/\(i)")
      }
    case "Relu6":
      let v = try x(0)
      let low = try g.apply(Binary(Maximum()), [v, g.scalar(0, like: v)], name: name + "/relu")
      result = [try apply(binaryPrimitive(Minimum()), [low, g.scalar(6, like: v)])]
    case "Erfc":
      let v = try x(0)
      let erf = try g.apply(Unary(ErrorFunction()), v, name: name + "/erf")
      result = [try apply(binaryPrimitive(Subtract()), [g.scalar(1, like: v), erf])]
    case "Pack":
      result = [try stack((0..<dataInputCount(d)).map { try x($0) }, axis: Int(intAttr(d, "axis")), name: name)]
    case "Split":
      // Inputs: the axis, then the value; `num_split` equal parts.
      let v = try x(1)
      guard let a = try constInts(d, 0).first else { throw fail("'\(name)': no axis") }
      let axis = try checkedAxes(d, [a], rank: v.shape.rank, input: v)[0]
      let parts = Int(intAttr(d, "num_split"))
      guard parts >= 1, let size = v.shape.dimensions[axis], size % parts == 0 else {
        throw fail("node '\(name)' (Split): \(parts) equal parts of axis \(axis) of \(v.shape) (the size must be known and divisible)")
      }
      let op = try g.addOperation(
        Split(axis: axis, sizes: [Int](repeating: size / parts, count: parts)), inputs: [v], controlDependencies: controlOperations(d),
        name: name)
      result = op.outputs
    case "Fill": result = [try apply(BroadcastTo(shape: constInts(d, 0)), [x(1)])]
    case "Cumsum":
      guard let a = try constInts(d, 1).first else { throw fail("'\(name)': no axis") }
      result = [try cumsum(x(0), axis: a, exclusive: boolAttr(d, "exclusive"), reverse: boolAttr(d, "reverse"), name: name)]
    case "Cumprod":
      let v = try x(0)
      guard let a = try constInts(d, 1).first else { throw fail("'\(name)': no axis") }
      let axis = try checkedAxes(d, [a], rank: v.shape.rank, input: v)[0]
      result = [try apply(CumulativeProduct(axis: axis, exclusive: boolAttr(d, "exclusive"), reverse: boolAttr(d, "reverse")), [v])]
    case "Tile":
      // [d0, d1...] tiled [m0, m1...]: reshaped [1, d0, 1, d1...], broadcast to [m0, d0, m1, d1...],
      // reshaped [m0·d0, m1·d1...]: TensorFlow's order, with the gradients of those operations.
      let v = try x(0), multiples = try constInts(d, 1)
      let dims = v.shape.dimensions
      guard multiples.count == v.shape.rank, dims.count == v.shape.rank, dims.allSatisfy({ $0 != nil }), multiples.allSatisfy({ $0 >= 0 }) else {
        throw fail("node '\(name)' (Tile): multiples \(multiples) for an input of shape \(v.shape) (Backprop needs every size when the graph is built)")
      }
      let sizes = dims.map { $0! }
      guard zip(multiples, sizes).allSatisfy({ !$0.multipliedReportingOverflow(by: $1).overflow }) else {
        throw fail("node '\(name)' (Tile): multiples \(multiples) of \(v.shape) overflow")
      }
      let spread = try reshape(v, to: sizes.flatMap { [1, $0] }, name: name + "/spread")
      let copies = try g.apply(BroadcastTo(shape: zip(multiples, sizes).flatMap { [$0, $1] }), [spread], name: name + "/copies")
      result = [try reshape(copies, to: zip(multiples, sizes).map { $0 * $1 }, name: name)]
    case "Shape":
      // A constant when the input's shape is known when the graph is built (a frozen model's
      // weights); a size known only when run is refused, naming the node.
      let v = try x(0)
      guard v.shape.dimensions.count == v.shape.rank, let sizes = v.shape.concrete?.dimensions else {
        throw fail(
          "node '\(name)' (Shape): the input '\(v.name)' has shape \(v.shape), known only when the graph runs; Backprop needs shapes when it is built")
      }
      result = [g.constant(NDArray(sizes.map { Int32($0) }, shape: [sizes.count]), name: name)]
    case "StridedSlice":
      result = [try stridedSlice(d, x(0))]
    case "NoOp":
      let counters = training.groups.isEmpty ? [] : try stepCounterInitializers(for: d)
      operations[name] = try g.addOperation(NoOp(), inputs: [], controlDependencies: controlOperations(d) + counters, name: name)
      outputs[name] = []
      return
    default:
      if try x(0).dtype == .int32, let t = try int32Arithmetic() {
        result = [t]
      } else if let f = unary[d.op] {
        result = [try apply(unaryPrimitive(f), [x(0)])]
      } else if let f = binary[d.op] {
        result = [try apply(binaryPrimitive(f), [x(0), x(1)])]
      } else if let f = compare[d.op] {
        result = [try apply(Compare(f), [x(0), x(1)])]
      } else {
        throw GraphDefError.unsupportedOperations(direction: "import", ["\(d.op): \(name)"])
      }
    }
    outputs[name] = result
    if let first = result.first { operations[name] = first.operation }
  }
}
