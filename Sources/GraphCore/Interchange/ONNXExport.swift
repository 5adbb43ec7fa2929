import ArrayCore

// Field numbers from onnx/onnx.proto (ONNX IR version 8, opset 13):
//   ModelProto { ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8 }
//   OperatorSetIdProto { domain = 1, version = 2 }
//   GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12 }
//   NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5 }
//   AttributeProto { name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20 (FLOAT = 1, INT = 2, STRING = 3, INTS = 7) }
//   TensorProto { dims = 1, data_type = 2 (FLOAT = 1, INT32 = 6, INT64 = 7, BOOL = 9, DOUBLE = 11), name = 8, raw_data = 9 }
//   ValueInfoProto { name = 1, type = 2 }; TypeProto { tensor_type = 1 }; TypeProto.Tensor { elem_type = 1, shape = 2 }
//   TensorShapeProto { dim = 1 }; Dimension { dim_value = 1, dim_param = 2 }

/// One ONNX attribute value.
enum ONNXAttribute {
  case int(Int64)
  case ints([Int64])
  case float(Float)
  case string(String)
}

/// One ONNX node before encoding.
struct ONNXNode {
  var op: String
  var inputs: [String]
  var output: String
  var attributes: [(String, ONNXAttribute)] = []
}

extension Graph {
  /// An ONNX model (opset 13) computing `outputs` from the placeholders `inputs`, for inference
  /// in other runtimes (onnxruntime). Constants become initializers, and so do variables, with
  /// their current values in `session` (required when the outputs depend on variables).
  ///
  /// Inference mode: a `PlaceholderWithDefault` that is not an input takes its constant
  /// default (a training-phase flag is false), a `SelectV2` whose condition is then known is
  /// replaced by the chosen value (batch normalization's moving statistics), and dropout with
  /// a false flag is the identity.
  ///
  /// Supported: placeholders, constants, variables, `MatMul` (without transposes), `Add`,
  /// `Sub`, `Mul`, `Div`, `Maximum`, `Minimum`, `Pow`, `Neg`, `Abs`, `Exp`, `Log`, `Sqrt`,
  /// `Rsqrt`, `Sigmoid`, `Tanh`, `Relu`, `Softmax`/`LogSoftmax` on the last axis, `Identity`,
  /// `Reshape` (`Flatten`), `Transpose`, `Conv2D` and `MaxPool`/`AvgPool` (NHWC tensors and
  /// HWIO filters, written as ONNX's NCHW/OIHW operations between `Transpose` nodes, TF's
  /// `SAME` padding as explicit pads when the image size is known, `SAME_UPPER` otherwise),
  /// layer normalization (`LayerNorm`'s `Normalize`, as `ReduceMean`, `Sub`, `Mul`, `Add`,
  /// `Sqrt` and `Div`: ONNX's `LayerNormalization` needs opset 17), `Pad` (a constant value),
  /// `MirrorPad` (REFLECT: `Pad` with mode `reflect`; SYMMETRIC: reversed `Slice`s and
  /// `Concat` per padded axis) and `Prod` (`ReduceProd`).
  /// - Throws: ``GraphError/foreignTensor(op:tensor:location:)`` for an input or output of
  ///   another graph; ``GraphError/invalidArgument(op:reason:location:)`` for an input or
  ///   output given twice (ONNX names each once), or a session of another graph;
  ///   ``GraphDefError/unsupportedOperations(direction:_:)`` listing every other
  ///   operation the outputs need, by type and name; ``SessionError`` for a variable without
  ///   a value.
  public func onnxModel(
    inputs: [Tensor], outputs: [Tensor], session: Session? = nil, name: String = "backprop", file: StaticString = #fileID,
    line: UInt = #line
  ) throws -> [UInt8] {
    // Checked before any node is looked up: a tensor of another graph indexed this graph's
    // nodes with its node number (an index out of range, or another operation of this graph).
    let location = self.location(file, line)
    for t in inputs + outputs where t.graph !== self {
      throw GraphError.foreignTensor(op: "onnxModel", tensor: t.name, location: location)
    }
    if let session, session.graph !== self {
      throw GraphError.invalidArgument(op: "onnxModel", reason: "the session runs another graph than this one", location: location)
    }
    for (role, list) in [("input", inputs), ("output", outputs)] {
      var seen = Set<Tensor>()
      for t in list where !seen.insert(t).inserted {
        throw GraphError.invalidArgument(
          op: "onnxModel", reason: "the \(role) '\(t.name)' is given twice; an ONNX graph names each \(role) once", location: location)
      }
    }
    let inputNodes = Set(inputs.map(\.node))
    // Values known when the graph is built: bool flags (a constant, or a PlaceholderWithDefault
    // of one that is not fed).
    func knownBool(_ v: ValueRef) -> Bool? {
      let node = nodes[v.node]
      if let c = node.primitive as? ConstantPrimitive, c.value.dtype == .bool, c.value.elementCount == 1 {
        return c.value.scalars(as: Bool.self)[0]
      }
      if node.primitive.typeName == "PlaceholderWithDefault", !inputNodes.contains(v.node), node.inputs.count == 1 {
        return knownBool(node.inputs[0])
      }
      return nil
    }
    // Inference-mode folding: the value a value stands for.
    func resolve(_ v: ValueRef) -> ValueRef {
      let node = nodes[v.node]
      guard !inputNodes.contains(v.node) else { return v }
      if node.primitive is Select, let flag = knownBool(node.inputs[0]) {
        let chosen = node.inputs[flag ? 1 : 2]
        if nodes[chosen.node].outputs[chosen.output].shape == node.outputs[v.output].shape { return resolve(chosen) }
      }
      if let b = node.primitive as? any BinaryPrimitive, b.function is Multiply {
        for (i, other) in [(0, 1), (1, 0)] {
          let mask = nodes[node.inputs[i].node]
          if mask.primitive is DropoutMask, knownBool(mask.inputs[1]) == false,
            nodes[node.inputs[other].node].outputs[node.inputs[other].output].shape == node.outputs[0].shape
          {
            return resolve(node.inputs[other])
          }
        }
      }
      return v
    }
    // The operations the outputs need, stopping at the inputs, in creation order.
    var needed = Set<Int>()
    var stack = outputs.map { resolve(ValueRef(node: $0.node, output: $0.output)).node }
    while let n = stack.popLast() {
      guard needed.insert(n).inserted, !inputNodes.contains(n) else { continue }
      stack += nodes[n].inputs.map { resolve($0).node }
    }
    func valueName(_ v: ValueRef) -> String { v.output == 0 ? nodes[v.node].name : "\(nodes[v.node].name):\(v.output)" }
    func elemType(_ d: DType) -> UInt64 {
      switch d {
      case .float32: 1
      case .int32: 6
      case .bool: 9
      case .float64: 11
      }
    }
    func tensorProto(_ value: NDArray, _ name: String) -> ProtobufWriter {
      var t = ProtobufWriter()
      for d in value.shape.dimensions { t.int64(1, Int64(d)) }
      t.varint(2, elemType(value.dtype))
      t.string(8, name)
      var raw: [UInt8] = []
      value.withUnsafeRawBytes { raw = Array($0) }
      if value.dtype == .bool { raw = value.scalars(as: Bool.self).map { $0 ? 1 : 0 } }
      t.bytes(9, raw)
      return t
    }
    func int64Tensor(_ values: [Int], _ name: String) -> ProtobufWriter {
      var t = ProtobufWriter()
      t.int64(1, Int64(values.count))
      t.varint(2, 7)
      t.string(8, name)
      var raw: [UInt8] = []
      for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { raw += $0 } }
      t.bytes(9, raw)
      return t
    }
    func valueInfo(_ name: String, _ info: TensorInfo) -> ProtobufWriter {
      var v = ProtobufWriter()
      v.string(1, name)
      v.message(2) { type in
        type.message(1) { tensor in
          tensor.varint(1, elemType(info.dtype))
          tensor.message(2) { shape in
            for (i, d) in info.shape.dimensions.enumerated() {
              shape.message(1) { dim in
                if let d { dim.int64(1, Int64(d)) } else { dim.string(2, "d\(i)") }
              }
            }
          }
        }
      }
      return v
    }
    var used = Set(nodes.map(\.name))
    func fresh(_ base: String) -> String {
      if used.insert(base).inserted { return base }
      var i = 1
      while !used.insert("\(base)_\(i)").inserted { i += 1 }
      return "\(base)_\(i)"
    }
    var emitted: [ONNXNode] = []
    var unsupported: [(type: String, name: String)] = []
    var initializers: [ProtobufWriter] = []
    let nhwcToNCHW: [Int64] = [0, 3, 1, 2], nchwToNHWC: [Int64] = [0, 2, 3, 1]
    /// `Transpose(x) → op → Transpose` for an NHWC operation with NCHW in ONNX.
    func channelsFirst(_ node: Node, _ op: String, _ x: String, _ more: [String], _ attributes: [(String, ONNXAttribute)]) {
      let nchw = fresh(node.name + "/nchw"), result = fresh(node.name + "/" + op)
      emitted.append(ONNXNode(op: "Transpose", inputs: [x], output: nchw, attributes: [("perm", .ints(nhwcToNCHW))]))
      emitted.append(ONNXNode(op: op, inputs: [nchw] + more, output: result, attributes: attributes))
      emitted.append(ONNXNode(op: "Transpose", inputs: [result], output: node.name, attributes: [("perm", .ints(nchwToNHWC))]))
    }
    /// ONNX's `pads` (top, left, bottom, right) for TF's padding rule, or `nil` when the
    /// image size is unknown.
    func pads(_ input: PartialShape, _ geometry: WindowGeometry) throws -> [Int64]? {
      guard geometry.padding == .same else { return [0, 0, 0, 0] }
      guard let h = input.dimensions[1], let w = input.dimensions[2] else { return nil }
      var before: [Int64] = [], after: [Int64] = []
      for (axis, size) in [h, w].enumerated() {
        let (out, pad) = try WindowGeometry.outputSize(
          input: size, window: geometry.window[axis], stride: geometry.strides[axis], dilation: geometry.dilations[axis],
          padding: .same)
        let total = max((out - 1) * geometry.strides[axis] + (geometry.window[axis] - 1) * geometry.dilations[axis] + 1 - size, 0)
        before.append(Int64(pad))
        after.append(Int64(total - pad))
      }
      return before + after
    }
    func windowAttributes(_ g: WindowGeometry, _ input: PartialShape, kernelShape: Bool) throws -> [(String, ONNXAttribute)] {
      var a: [(String, ONNXAttribute)] = [("strides", .ints(g.strides.map { Int64($0) }))]
      if kernelShape { a.append(("kernel_shape", .ints(g.window.map { Int64($0) }))) }
      if let p = try pads(input, g) { a.append(("pads", .ints(p))) } else { a.append(("auto_pad", .string("SAME_UPPER"))) }
      return a
    }
    for id in needed.sorted() where !inputNodes.contains(id) {
      let node = nodes[id]
      let ins = node.inputs.map { valueName(resolve($0)) }
      let inputShape = node.inputs.first.map { nodes[$0.node].outputs[$0.output].shape }
      var op: String?
      var attrs: [(String, ONNXAttribute)] = []
      switch node.primitive {
      case let c as ConstantPrimitive:
        initializers.append(tensorProto(c.value, node.name))
        continue
      case is VariablePrimitive:
        guard let session else {
          unsupported.append(("VariableV2 (no session to read its value)", node.name))
          continue
        }
        initializers.append(tensorProto(try session.value(of: Tensor(graph: self, node: id, output: 0)), node.name))
        continue
      case let m as MatMul where !m.transposeA && !m.transposeB: op = "MatMul"
      // (A function of your own is unsupported, even under a built-in's type name.)
      case let b as any BinaryPrimitive where PrimitiveRegistry.isBuiltIn(b.function):
        op = ["Add": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow"][b.typeName]
      case let u as any UnaryPrimitive where u.typeName == "Rsqrt" && PrimitiveRegistry.isBuiltIn(u.function):
        let root = fresh(node.name + "/sqrt")
        emitted.append(ONNXNode(op: "Sqrt", inputs: ins, output: root))
        emitted.append(ONNXNode(op: "Reciprocal", inputs: [root], output: node.name))
        continue
      case let u as any UnaryPrimitive where PrimitiveRegistry.isBuiltIn(u.function):
        let same: Set<String> = [
          "Neg", "Abs", "Exp", "Log", "Sqrt", "Sigmoid", "Tanh", "Relu", "Sin", "Cos", "Tan", "Atan", "Reciprocal", "Softplus", "Erf",
          "Round", "Floor", "Ceil", "Sign",
        ]
        op = same.contains(u.typeName) ? u.typeName : nil
      case let s as Softmax where s.axis == node.outputs[0].shape.rank - 1:
        op = s.log ? "LogSoftmax" : "Softmax"
        attrs = [("axis", .int(-1))]
      case is Identity: op = "Identity"
      case let c as Cast:
        // TensorFlow's Cast and ONNX's agree on every value either defines (floats between
        // widths round to nearest, floats to int32 truncate toward zero, non-zero is true);
        // ONNX leaves out-of-range and NaN conversions to int32 undefined, which Backprop
        // saturates.
        op = "Cast"
        attrs = [("to", .int(Int64(elemType(c.dtype))))]
      case let r as Reshape:
        let shape = fresh(node.name + "/shape")
        initializers.append(int64Tensor(r.shape, shape))
        emitted.append(ONNXNode(op: "Reshape", inputs: [ins[0], shape], output: node.name))
        continue
      case let t as Transpose:
        op = "Transpose"
        attrs = [("perm", .ints(t.permutation.map { Int64($0) }))]
      case let c as Conv2D:
        let filter = nodes[node.inputs[1].node].outputs[node.inputs[1].output].shape.dimensions
        guard let inputShape, let kh = filter[0], let kw = filter[1] else { break }
        var g = c.geometry
        g.window = [kh, kw]  // the primitive takes its window from the filter at run time
        let oihw = fresh(node.name + "/oihw")
        emitted.append(ONNXNode(op: "Transpose", inputs: [ins[1]], output: oihw, attributes: [("perm", .ints([3, 2, 0, 1]))]))
        let a = try windowAttributes(g, inputShape, kernelShape: true)
          + [("dilations", .ints(c.dilations.map { Int64($0) })), ("group", .int(Int64(c.groups)))]
        channelsFirst(node, "Conv", ins[0], [oihw], a)
        continue
      case let n as Normalize:
        // Layer (and batch) normalization's core. ONNX's `LayerNormalization` needs opset 17;
        // at this exporter's opset 13 it is its decomposition, in the order of Backprop's
        // kernel: μ = ReduceMean(x), σ² = ReduceMean((x − μ)²) over the axes (kept),
        // x̂ = (x − μ) / √(σ² + ε). μ and σ² are the values of outputs 1 and 2.
        let axes: ONNXAttribute = .ints(n.axes.map { Int64($0) })
        let dtype = node.outputs[0].dtype
        let mean = valueName(ValueRef(node: id, output: 1)), variance = valueName(ValueRef(node: id, output: 2))
        let centered = fresh(node.name + "/centered"), squares = fresh(node.name + "/squares")
        let shifted = fresh(node.name + "/shifted"), root = fresh(node.name + "/sqrt"), epsilon = fresh(node.name + "/epsilon")
        initializers.append(tensorProto(NDArray(scalar: n.epsilon, dtype: dtype), epsilon))
        emitted += [
          ONNXNode(op: "ReduceMean", inputs: [ins[0]], output: mean, attributes: [("axes", axes), ("keepdims", .int(1))]),
          ONNXNode(op: "Sub", inputs: [ins[0], mean], output: centered),
          ONNXNode(op: "Mul", inputs: [centered, centered], output: squares),
          ONNXNode(op: "ReduceMean", inputs: [squares], output: variance, attributes: [("axes", axes), ("keepdims", .int(1))]),
          ONNXNode(op: "Add", inputs: [variance, epsilon], output: shifted),
          ONNXNode(op: "Sqrt", inputs: [shifted], output: root),
          ONNXNode(op: "Div", inputs: [centered, root], output: node.name),
        ]
        continue
      case let p as Pad:
        // Opset 13 takes the pads as an int64 input (all befores, then all afters) and the
        // value as a scalar input of the data's type.
        let pads = fresh(node.name + "/pads"), value = fresh(node.name + "/constant_value")
        initializers.append(int64Tensor(p.before + p.after, pads))
        initializers.append(tensorProto(NDArray(scalar: p.value, dtype: node.outputs[0].dtype), value))
        emitted.append(ONNXNode(op: "Pad", inputs: [ins[0], pads, value], output: node.name, attributes: [("mode", .string("constant"))]))
        continue
      case let m as MirrorPad where m.mode == .reflect:
        // ONNX's "reflect" is TensorFlow's REFLECT.
        let pads = fresh(node.name + "/pads")
        initializers.append(int64Tensor(m.before + m.after, pads))
        emitted.append(ONNXNode(op: "Pad", inputs: [ins[0], pads], output: node.name, attributes: [("mode", .string("reflect"))]))
        continue
      case let m as MirrorPad:
        // SYMMETRIC (the edge repeated) has no `Pad` mode in opset 13: each padded axis is a
        // `Concat` of the reversed edge slices and the values (`Slice` with step −1: the first
        // `before` values from index `before − 1` down to the start, which ONNX spells as an
        // end of INT64_MIN; the last `after` from index −1 down to −1 − `after`), axis by axis
        // (the padding is separable, so the corners come out as TensorFlow's).
        let padded = m.before.indices.filter { m.before[$0] > 0 || m.after[$0] > 0 }
        guard let lastAxis = padded.last else {
          emitted.append(ONNXNode(op: "Identity", inputs: ins, output: node.name))
          continue
        }
        func reversedSlice(_ input: String, axis: Int, from start: Int, to end: Int, _ side: String) -> String {
          let out = fresh("\(node.name)/\(side)\(axis)"), names = ["starts", "ends", "axes", "steps"].map { fresh(out + "/" + $0) }
          for (values, name) in zip([[start], [end], [axis], [-1]], names) { initializers.append(int64Tensor(values, name)) }
          emitted.append(ONNXNode(op: "Slice", inputs: [input] + names, output: out))
          return out
        }
        var current = ins[0]
        for axis in padded {
          var parts: [String] = []
          if m.before[axis] > 0 { parts.append(reversedSlice(current, axis: axis, from: m.before[axis] - 1, to: .min, "before")) }
          parts.append(current)
          if m.after[axis] > 0 { parts.append(reversedSlice(current, axis: axis, from: -1, to: -1 - m.after[axis], "after")) }
          let out = axis == lastAxis ? node.name : fresh("\(node.name)/axis\(axis)")
          emitted.append(ONNXNode(op: "Concat", inputs: parts, output: out, attributes: [("axis", .int(Int64(axis)))]))
          current = out
        }
        continue
      case let p as Product:
        // Opset 13's ReduceProd takes its axes as an attribute (an input from opset 18). No
        // axes reduce nothing (TF's and Backprop's), where ONNX would reduce every axis.
        guard !p.axes.isEmpty else { op = "Identity"; break }
        op = "ReduceProd"
        attrs = [("axes", .ints(p.axes.map { Int64($0) })), ("keepdims", .int(p.keepDims ? 1 : 0))]
      case let m as MaxPool:
        guard let inputShape else { break }
        channelsFirst(node, "MaxPool", ins[0], [], try windowAttributes(m.geometry, inputShape, kernelShape: true))
        continue
      case let m as AvgPool:
        guard let inputShape else { break }
        // TF divides by the count of real elements in the window.
        channelsFirst(
          node, "AveragePool", ins[0], [], try windowAttributes(m.geometry, inputShape, kernelShape: true) + [("count_include_pad", .int(0))])
        continue
      default: break
      }
      guard let op else {
        unsupported.append((node.primitive.typeName, node.name))
        continue
      }
      emitted.append(ONNXNode(op: op, inputs: ins, output: node.name, attributes: attrs))
    }
    if !unsupported.isEmpty { throw GraphDefError.unsupportedOperations(direction: "export to ONNX", groupedByType(unsupported)) }
    // Outputs that folding replaced by another value keep their names through an Identity.
    for y in outputs {
      let v = ValueRef(node: y.node, output: y.output), r = resolve(v)
      if r != v { emitted.append(ONNXNode(op: "Identity", inputs: [valueName(r)], output: valueName(v))) }
    }
    var graph = ProtobufWriter()
    for node in emitted {
      graph.message(1) { n in
        for i in node.inputs { n.string(1, i) }
        n.string(2, node.output)
        n.string(3, node.output)
        n.string(4, node.op)
        for (key, value) in node.attributes {
          n.message(5) { a in
            a.string(1, key)
            switch value {
            case let .int(i):
              a.int64(3, i)
              a.varint(20, 2)
            case let .ints(list):
              for i in list { a.int64(8, i) }
              a.varint(20, 7)
            case let .float(f):
              a.float(2, f)
              a.varint(20, 1)
            case let .string(s):
              a.string(4, s)
              a.varint(20, 3)
            }
          }
        }
      }
    }
    graph.string(2, name)
    for t in initializers { graph.message(5, t) }
    for x in inputs { graph.message(11, valueInfo(x.operation.name, x.graph.nodes[x.node].outputs[x.output])) }
    for y in outputs { graph.message(12, valueInfo(valueName(ValueRef(node: y.node, output: y.output)), nodes[y.node].outputs[y.output])) }
    var model = ProtobufWriter()
    model.int64(1, 8)
    model.string(2, "backprop")
    model.message(7, graph)
    model.message(8) { o in
      o.string(1, "")
      o.int64(2, 13)
    }
    return model.bytes
  }
}
