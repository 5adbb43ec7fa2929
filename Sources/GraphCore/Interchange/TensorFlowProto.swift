import ArrayCore

// Field numbers of TensorFlow's protocol buffers, from its .proto files (TensorFlow 2.x):
//   tensorflow/core/framework/graph.proto        GraphDef { node = 1, library = 2, version = 3, versions = 4 }
//   tensorflow/core/framework/versions.proto     VersionDef { producer = 1, min_consumer = 2, bad_consumers = 3 }
//   tensorflow/core/framework/node_def.proto     NodeDef { name = 1, op = 2, input = 3, device = 4, attr = 5 }
//                                                (map<string, AttrValue> entries: key = 1, value = 2)
//   tensorflow/core/framework/attr_value.proto   AttrValue { list = 1, s = 2, i = 3, f = 4, b = 5, type = 6,
//                                                shape = 7, tensor = 8, placeholder = 9, func = 10 }
//                                                ListValue { s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8 }
//   tensorflow/core/framework/tensor.proto       TensorProto { dtype = 1, tensor_shape = 2, version_number = 3,
//                                                tensor_content = 4, float_val = 5, double_val = 6, int_val = 7,
//                                                string_val = 8, int64_val = 10, bool_val = 11 }
//   tensorflow/core/framework/tensor_shape.proto TensorShapeProto { dim = 2 (Dim { size = 1, name = 2 }), unknown_rank = 3 }
//   tensorflow/core/framework/types.proto        DataType { DT_FLOAT = 1, DT_DOUBLE = 2, DT_INT32 = 3, DT_INT64 = 9,
//                                                DT_BOOL = 10; reference types add 100 }

/// TensorFlow's `DataType` enum values (types.proto) for Backprop's dtypes.
enum TFDataType {
  static func code(_ dtype: DType) -> UInt64 {
    switch dtype {
    case .float32: 1
    case .float64: 2
    case .int32: 3
    case .bool: 10
    }
  }
  /// `DataType 9 (int64)`: a DataType code with TensorFlow's name for it when it is one
  /// Backprop has no dtype for, and the dtypes it computes, for import errors.
  static func describe(_ code: Int64) -> String {
    let name = names[code > 100 ? code - 100 : code].map { " (\($0))" } ?? ""
    return "DataType \(code)\(name); Backprop computes float32, float64, int32 and bool"
  }

  /// TensorFlow's names of the DataTypes Backprop has no dtype for.
  static let names: [Int64: String] = [
    4: "uint8", 5: "int16", 6: "int8", 7: "string", 8: "complex64", 9: "int64", 14: "bfloat16", 17: "uint16",
    18: "complex128", 19: "float16", 20: "resource", 21: "variant", 22: "uint32", 23: "uint64",
  ]

  /// `string`, or `DataType 99` for a code without a name here.
  static func name(_ code: Int64) -> String { names[code > 100 ? code - 100 : code] ?? "DataType \(code)" }

  /// The dtype of a TF DataType (reference types `DT_*_REF` = value + 100 map to their base).
  static func dtype(_ code: Int64) -> DType? {
    switch code > 100 ? code - 100 : code {
    case 1: .float32
    case 2: .float64
    case 3: .int32
    case 10: .bool
    default: nil
    }
  }
}

/// An attribute value of a NodeDef (attr_value.proto).
enum TFAttr {
  case type(DType)
  case types([DType])
  case shape(PartialShape)
  case tensor(NDArray)
  case bool(Bool)
  case int(Int)
  case float(Float)
  case string(String)
  case ints([Int])
  case strings([String])

  func encoded() -> ProtobufWriter {
    var a = ProtobufWriter()
    switch self {
    case let .type(d): a.varint(6, TFDataType.code(d))
    case let .types(v): a.message(1) { $0.packedInts(6, v.map { Int64(TFDataType.code($0)) }) }
    case let .shape(s): a.message(7, TFAttr.shapeProto(s))
    case let .tensor(t): a.message(8, TFAttr.tensorProto(t))
    case let .bool(b): a.bool(5, b)
    case let .int(i): a.int64(3, Int64(i))
    case let .float(f): a.float(4, f)
    case let .string(s): a.string(2, s)
    case let .ints(v): a.message(1) { $0.packedInts(3, v.map(Int64.init)) }
    case let .strings(v): a.message(1) { l in for x in v { l.string(2, x) } }
    }
    return a
  }

  /// TensorShapeProto: one `dim` per dimension, `-1` for an unknown size.
  static func shapeProto(_ s: PartialShape) -> ProtobufWriter {
    var m = ProtobufWriter()
    for d in s.dimensions { m.message(2) { $0.int64(1, Int64(d ?? -1)) } }
    return m
  }

  /// TensorProto with the values as `tensor_content` (little-endian, row-major; bool one byte).
  static func tensorProto(_ t: NDArray) -> ProtobufWriter {
    var m = ProtobufWriter()
    m.varint(1, TFDataType.code(t.dtype))
    m.message(2, shapeProto(PartialShape(t.shape)))
    var content: [UInt8] = []
    t.withUnsafeRawBytes { content = Array($0) }
    if t.dtype == .bool { content = t.scalars(as: Bool.self).map { $0 ? 1 : 0 } }
    m.bytes(4, content)
    return m
  }
}

/// One NodeDef being written.
struct TFNode {
  var name: String
  var op: String
  var inputs: [String] = []
  var attrs: [(String, TFAttr)] = []

  func encoded() -> ProtobufWriter {
    var n = ProtobufWriter()
    n.string(1, name)
    n.string(2, op)
    for i in inputs { n.string(3, i) }
    for (key, value) in attrs.sorted(by: { $0.0 < $1.0 }) {
      n.message(5) { e in
        e.string(1, key)
        e.message(2, value.encoded())
      }
    }
    return n
  }
}
