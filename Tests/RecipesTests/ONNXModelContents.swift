import ArrayCore
import GraphCore

/// What the ONNX export tests read back from a `ModelProto`: its graph's node op types, in
/// order, and its initializers' names, in order (fields 7 → 1 → 4 and 7 → 5 → 8 of onnx.proto).
func onnxContents(_ bytes: [UInt8]) throws -> (ops: [String], initializers: [String]) {
  var r = ProtobufReader(bytes, format: "ModelProto")
  var ops: [String] = [], initializers: [String] = []
  while let f = try r.next() {
    guard f.number == 7, let graph = f.data else { continue }
    var g = r.nested(graph)
    while let gf = try g.next() {
      guard gf.number == 1 || gf.number == 5, let data = gf.data else { continue }
      var n = g.nested(data)
      while let nf = try n.next() {
        if gf.number == 1, nf.number == 4 { ops.append(nf.string ?? "") }
        if gf.number == 5, nf.number == 8 { initializers.append(nf.string ?? "") }
      }
    }
  }
  return (ops, initializers)
}

/// `Tests/Fixtures/onnx`, found from this file's path.
let onnxFixtures: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/onnx"
}()
