// A helper for CheckpointTests.killedSaveLeavesALoadableCheckpoint: saves checkpoints of one
// large variable to the path given, forever, until the test kills it. Version v holds v in
// every element and `step = v` in its metadata, so a reader can tell a torn file from a whole one.
import ArrayCore
import GraphCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
  print("usage: CheckpointTorture FILE.safetensors")
  exit(2)
}
let graph = Graph()
let big = try graph.variable(NDArray(repeating: 0, shape: [1 << 21], dtype: .float32), name: "big")
let session = Session(graph: graph)
try session.initializeVariables()
var version = 1
while true {
  try session.setValue(NDArray(repeating: Double(version), shape: [1 << 21], dtype: .float32), for: big)
  try Checkpoint.save(session: session, to: arguments[1], metadata: ["step": String(version)])
  if version == 1 {
    print("saved")  // the test arms its kill timer after the first complete save
    fflush(nil)
  }
  version += 1
}
