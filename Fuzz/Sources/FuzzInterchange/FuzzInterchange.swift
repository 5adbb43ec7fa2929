// libFuzzer target: the decoders of other frameworks' formats (issue 15). The first byte picks
// the decoder, the rest is its input; any input must decode or throw, never trap:
//   0: ProtobufReader, every length-delimited field read again as a nested message
//   1: Graph(graphDef:), then the graph exported again (lenient) and imported again
//   2: TFRecord framing and TensorBoard events (EventFile.decode)
//   3: Session.loadModel: the next two bytes give the GraphDef's length, the rest is the
//      variables file (both written to a directory of this process, then loaded)
//   4: a whole graph.pb as TensorFlow writes it, imported and run (initializers only)
import Backprop
import FuzzSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Reads every field, recursing into length-delimited ones up to a depth.
func walk(_ reader: ProtobufReader, depth: Int) throws {
  var r = reader
  while let f = try r.next() {
    if depth < 8, let data = f.data { try? walk(r.nested(data), depth: depth + 1) }
  }
}

let modelDirectory: String = {
  let path = "/tmp/fuzz-interchange-\(getpid())"
  mkdir(path, 0o700)
  return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInterchange(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let all = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  guard let selector = all.first else { return 0 }
  let bytes = Array(all.dropFirst())
  switch selector % 5 {
  case 0:
    try? walk(ProtobufReader(bytes, format: "fuzz"), depth: 0)
  case 1, 4:
    guard let graph = try? Graph(graphDef: bytes, source: "fuzz") else { return 0 }
    if let again = try? graph.graphDef(lenient: true) { _ = try? Graph(graphDef: again, source: "fuzz-again") }
    if selector % 5 == 4, graph.operationCount < 64 {
      let session = Session(graph: graph)
      _ = try? session.initializeVariables()
    }
  case 2:
    _ = try? TFRecord.records(in: bytes, source: "fuzz")
    _ = try? EventFile.decode(bytes, source: "fuzz")
  default:
    guard bytes.count >= 2 else { return 0 }
    let n = min(Int(bytes[0]) << 8 | Int(bytes[1]), bytes.count - 2)
    let graph = Array(bytes[2..<(2 + n)]), variables = Array(bytes[(2 + n)...])
    guard (try? FileIO.writeAtomically(graph, toPath: modelDirectory + "/graph.pb")) != nil,
      (try? FileIO.writeAtomically(variables, toPath: modelDirectory + "/variables.safetensors")) != nil
    else { fatalError("cannot write \(modelDirectory)") }
    _ = try? Session.loadModel(from: modelDirectory)
  }
  return 0
}

@_cdecl("FuzzInterchange_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzInterchange)
}
