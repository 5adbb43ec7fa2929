import ArrayCore

// Field numbers from onnx/onnx.proto (ONNX IR version 8, opset 13):
//   ModelProto { ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8 }
//   OperatorSetIdProto { domain = 1, version = 2 }
//   GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12 }
//   NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5 }
//   AttributeProto { name = 1, i = 3, type = 20 (INT = 2) }
//   TensorProto { dims = 1, data_type = 2 (FLOAT = 1, INT32 = 6, BOOL = 9, DOUBLE = 11), name = 8, raw_data = 9 }
//   ValueInfoProto { name = 1, type = 2 }; TypeProto { tensor_type = 1 }; TypeProto.Tensor { elem_type = 1, shape = 2 }
//   TensorShapeProto { dim = 1 }; Dimension { dim_value = 1, dim_param = 2 }

extension Graph {
  /// An ONNX model (opset 13) computing `outputs` from the placeholders `inputs`, for inference
  /// in other runtimes (onnxruntime). Constants become initializers, and so do variables, with
  /// their current values in `session` (required when the outputs depend on variables).
  /// Supported: placeholders, constants, variables, `MatMul` (without transposes), `Add`,
  /// `Sub`, `Mul`, `Div`, `Maximum`, `Minimum`, `Pow`, `Neg`, `Abs`, `Exp`, `Log`, `Sqrt`,
  /// `Sigmoid`, `Tanh`, `Relu`, `Softmax`/`LogSoftmax` on the last axis, `Identity`.
  /// - Throws: ``GraphDefError/unsupportedOperations(direction:_:)`` listing every other
  ///   operation the outputs need, by type and name; ``SessionError`` for a variable without
  ///   a value.
  public func onnxModel(inputs: [Tensor], outputs: [Tensor], session: Session? = nil, name: String = "backprop") throws -> [UInt8] {
    // The operations the outputs need, stopping at the inputs, in creation order.
    let inputNodes = Set(inputs.map(\.node))
    var needed = Set<Int>()
    var stack = outputs.map(\.node)
    while let n = stack.popLast() {
      guard needed.insert(n).inserted, !inputNodes.contains(n) else { continue }
      stack += nodes[n].inputs.map(\.node)
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
    var graph = ProtobufWriter()
    var unsupported: [(type: String, name: String)] = []
    var initializers: [ProtobufWriter] = []
    for id in needed.sorted() where !inputNodes.contains(id) {
      let node = nodes[id]
      let ins = node.inputs.map(valueName)
      var op: String?
      var attrs: [(String, Int64)] = []
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
      case let b as Binary:
        op = ["Add": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow"][b.typeName]
      case let u as Unary:
        let same: Set<String> = [
          "Neg", "Abs", "Exp", "Log", "Sqrt", "Sigmoid", "Tanh", "Relu", "Sin", "Cos", "Tan", "Atan", "Reciprocal", "Softplus", "Erf",
          "Round", "Sign",
        ]
        op = same.contains(u.typeName) ? u.typeName : nil
      case let s as Softmax where s.axis == node.outputs[0].shape.rank - 1:
        op = s.log ? "LogSoftmax" : "Softmax"
        attrs = [("axis", -1)]
      case is Identity: op = "Identity"
      default: break
      }
      guard let op else {
        unsupported.append((node.primitive.typeName, node.name))
        continue
      }
      graph.message(1) { n in
        for i in ins { n.string(1, i) }
        n.string(2, node.name)
        n.string(3, node.name)
        n.string(4, op)
        for (key, value) in attrs {
          n.message(5) { a in
            a.string(1, key)
            a.int64(3, value)
            a.varint(20, 2)
          }
        }
      }
    }
    if !unsupported.isEmpty { throw GraphDefError.unsupportedOperations(direction: "export to ONNX", groupedByType(unsupported)) }
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
